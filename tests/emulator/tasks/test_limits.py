"""Rate and concurrency limits, pause / resume / purge, and isolation between tasks."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from google.cloud import tasks_v2

from cloudtasks_kit.testing import EmulatorProcess
from tests.emulator.tasks.conftest import EMULATOR_ARGS, PARENT, QueueFactory, http_task
from tests.support import Received, RecordingWorker, Reply


@pytest.fixture(scope="module")
def own_emulator() -> Iterator[EmulatorProcess]:
    # Its clock gets advanced, so it must not be the session's shared emulator.
    with EmulatorProcess(args=EMULATOR_ARGS) as process:
        yield process


def _advance(emulator: EmulatorProcess, seconds: float) -> None:
    response = httpx.post(
        f"{emulator.http_url}/admin/clock/advance", json={"seconds": seconds}, timeout=10
    )
    response.raise_for_status()


def _task_id(received: Received) -> str:
    return received.headers["x-cloudtasks-taskname"]


def _short(task_name: str) -> str:
    return task_name.rsplit("/", 1)[1]


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
    own_emulator: EmulatorProcess, recorder: RecordingWorker, url: str, path: str
) -> None:
    # One token a minute: nothing refills while the test runs, only the clock's advance does.
    client = own_emulator.tasks_client()
    queue = f"{PARENT}/queues/burst-{uuid.uuid4().hex[:8]}"
    client.create_queue(
        parent=PARENT,
        queue=tasks_v2.Queue(
            name=queue,
            rate_limits=tasks_v2.RateLimits(max_dispatches_per_second=1 / 60, max_burst_size=3),
        ),
    )
    client.pause_queue(name=queue)
    created = [client.create_task(parent=queue, task=http_task(url)).name for _ in range(5)]
    client.resume_queue(name=queue)
    # The full bucket lets three through at once: a bucket of one would stop at the first.
    burst = recorder.wait_for(path, 3)
    # Sent at once, they may arrive in any order.
    assert sorted(_task_id(r) for r in burst) == sorted(_short(n) for n in created[:3])
    # The fourth and fifth were never attempted: the dispatcher starts every attempt it has a
    # token for in one pass, so with a larger bucket they would be counted before any request
    # of the burst reached the worker.
    assert [client.get_task(name=n).dispatch_count for n in created[3:]] == [0, 0]
    # A minute and a half refills one token, not the whole bucket: the fourth goes alone.
    _advance(own_emulator, 90)
    fourth = recorder.wait_for(path, 4)[3]
    assert _task_id(fourth) == _short(created[3])
    assert client.get_task(name=created[4]).dispatch_count == 0
    client.delete_queue(name=queue)


def test_a_rate_lowered_later_does_not_reach_back_into_idle_time(
    own_emulator: EmulatorProcess, recorder: RecordingWorker, url: str, path: str
) -> None:
    client = own_emulator.tasks_client()
    queue = f"{PARENT}/queues/slower-{uuid.uuid4().hex[:8]}"
    limits = tasks_v2.RateLimits(max_dispatches_per_second=1 / 60, max_burst_size=3)
    client.create_queue(parent=PARENT, queue=tasks_v2.Queue(name=queue, rate_limits=limits))
    for _ in range(3):
        client.create_task(parent=queue, task=http_task(url))
    recorder.wait_for(path, 3)  # the bucket is empty
    _advance(own_emulator, 200)  # three minutes at one a minute: full again
    limits.max_dispatches_per_second = 1 / 3600
    client.update_queue(queue=tasks_v2.Queue(name=queue, rate_limits=limits))
    later = [client.create_task(parent=queue, task=http_task(url)).name for _ in range(3)]
    # The three tokens earned before the change are there: had the new rate applied to the
    # idle time as well, 200 s at one an hour would have earned none.
    assert sorted(_task_id(r) for r in recorder.wait_for(path, 6)[3:]) == sorted(
        _short(n) for n in later
    )
    client.delete_queue(name=queue)


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
