"""Rate and concurrency limits, pause / resume / purge, and isolation between tasks."""

from __future__ import annotations

import threading
from typing import Any

from tests.emulator.tasks.conftest import QueueFactory, http_task
from tests.support import RecordingWorker, Reply


def test_max_dispatches_per_second_spaces_dispatches(
    client: Any, make_queue: QueueFactory, recorder: RecordingWorker, url: str, path: str
) -> None:
    queue = make_queue(rate=10, burst=1, paused=True)
    for _ in range(6):
        client.create_task(parent=queue, task=http_task(url))
    client.resume_queue(name=queue)
    received = recorder.wait_for(path, 6)
    # One token at start, then one every 0.1 s: six dispatches span at least 0.5 s.
    assert received[-1].at - received[0].at >= 0.5 * 0.9


def test_burst_size_lets_a_burst_through_then_limits(
    client: Any, make_queue: QueueFactory, recorder: RecordingWorker, url: str, path: str
) -> None:
    queue = make_queue(rate=2, burst=3, paused=True)
    for _ in range(4):
        client.create_task(parent=queue, task=http_task(url))
    client.resume_queue(name=queue)
    received = recorder.wait_for(path, 4)
    # Three go at once from the full bucket; the fourth waits for a token (0.5 s at 2/s).
    assert received[3].at - received[0].at >= 0.5 * 0.9


def test_max_concurrent_dispatches_is_never_exceeded(
    client: Any, make_queue: QueueFactory, recorder: RecordingWorker, url: str, path: str
) -> None:
    queue = make_queue(concurrency=2, paused=True)
    recorder.script(path, *[Reply(delay=0.2)] * 6)
    for _ in range(6):
        client.create_task(parent=queue, task=http_task(url))
    client.resume_queue(name=queue)
    received = recorder.wait_for(path, 6)
    assert recorder.max_in_flight[path] <= 2
    # Three waves of two, each held 0.2 s.
    assert received[-1].at - received[0].at >= 0.4 * 0.9


def test_paused_queue_dispatches_nothing_until_resumed(
    client: Any, make_queue: QueueFactory, recorder: RecordingWorker, url: str, path: str
) -> None:
    paused = make_queue(paused=True)
    client.create_task(parent=paused, task=http_task(url))
    # A task in another queue, created later, runs: the dispatcher is live, and skipped ours.
    marker = f"{path}-marker"
    client.create_task(parent=make_queue(), task=http_task(url + "-marker"))
    recorder.wait_for(marker, 1)
    assert recorder.count(path) == 0
    assert len(list(client.list_tasks(parent=paused))) == 1
    client.resume_queue(name=paused)
    recorder.wait_for(path, 1)


def test_purge_deletes_every_task(
    client: Any, make_queue: QueueFactory, recorder: RecordingWorker, url: str, path: str
) -> None:
    queue = make_queue(paused=True)
    for _ in range(3):
        client.create_task(parent=queue, task=http_task(url))
    purged = client.purge_queue(name=queue)
    assert purged.purge_time is not None
    assert list(client.list_tasks(parent=queue)) == []
    client.resume_queue(name=queue)
    client.create_task(parent=queue, task=http_task(url + "-after"))
    recorder.wait_for(f"{path}-after", 1)
    assert recorder.count(path) == 0


def test_slow_task_blocks_neither_its_queue_nor_others(
    client: Any, make_queue: QueueFactory, recorder: RecordingWorker, url: str, path: str
) -> None:
    release = threading.Event()
    recorder.script(f"{path}-slow", Reply(gate=release))
    queue, other = make_queue(), make_queue()
    try:
        client.create_task(parent=queue, task=http_task(url + "-slow"))
        recorder.wait_for(f"{path}-slow", 1)
        client.create_task(parent=queue, task=http_task(url + "-same"))
        client.create_task(parent=other, task=http_task(url + "-other"))
        recorder.wait_for(f"{path}-same", 1)
        recorder.wait_for(f"{path}-other", 1)
        assert recorder.in_flight[f"{path}-slow"] == 1, "the slow task was still running"
    finally:
        release.set()
