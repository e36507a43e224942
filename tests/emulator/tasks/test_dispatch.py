"""What a worker receives, and how failed attempts are retried."""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

import pytest
from google.api_core import exceptions

from cloudtasks_kit.testing import EmulatorProcess
from tests.emulator.clients import api_error
from tests.emulator.tasks.conftest import QueueFactory, http_task
from tests.support import MisbehavingServer, RecordingWorker, Reply, wait_until


def _gone(client: Any, name: str) -> bool:
    try:
        client.get_task(name=name)
    except exceptions.NotFound:
        return True
    return False


def test_worker_receives_method_url_headers_and_body(
    client: Any, make_queue: QueueFactory, recorder: RecordingWorker, url: str, path: str
) -> None:
    queue = make_queue()
    body = b'{"recipe": ["pav", "bhaji"]}'
    task = client.create_task(
        parent=queue,
        task=http_task(
            url + "?x=1&x=2",
            body=body,
            method="PUT",
            headers={"Content-Type": "application/json", "X-Request-Id": "r-1"},
        ),
    )
    [received] = recorder.wait_for(path, 1)
    assert received.method == "PUT"
    assert received.query == "x=1&x=2"
    assert received.body == body
    headers = received.headers
    assert headers["content-type"] == "application/json"
    assert headers["x-request-id"] == "r-1"
    assert headers["user-agent"] == "Google-Cloud-Tasks"
    assert headers["x-cloudtasks-queuename"] == queue.rsplit("/", 1)[1]
    assert headers["x-cloudtasks-taskname"] == task.name.rsplit("/", 1)[1]
    assert headers["x-cloudtasks-taskretrycount"] == "0"
    assert headers["x-cloudtasks-taskexecutioncount"] == "0"
    eta = float(headers["x-cloudtasks-tasketa"])
    # Microseconds: the header has six decimals, the timestamp rounds to microseconds too.
    assert eta == pytest.approx(task.schedule_time.timestamp(), abs=2e-6)
    assert "x-cloudtasks-taskpreviousresponse" not in headers
    assert "authorization" not in headers
    wait_until(lambda: _gone(client, task.name))


def test_no_content_type_is_invented(
    client: Any, make_queue: QueueFactory, recorder: RecordingWorker, url: str, path: str
) -> None:
    client.create_task(parent=make_queue(), task=http_task(url, body=b"raw"))
    [received] = recorder.wait_for(path, 1)
    assert "content-type" not in received.headers
    assert received.body == b"raw"


def test_retry_headers_follow_google_recordings(
    client: Any, make_queue: QueueFactory, recorder: RecordingWorker, url: str, path: str
) -> None:
    # Recorded on the real service: answers 503, 404, 200.
    recorder.script(path, Reply(503), Reply(404), Reply(200))
    client.create_task(parent=make_queue(), task=http_task(url))
    first, second, third = recorder.wait_for(path, 3)
    assert [r.headers["x-cloudtasks-taskretrycount"] for r in (first, second, third)] == [
        "0",
        "1",
        "2",
    ]
    assert [r.headers["x-cloudtasks-taskexecutioncount"] for r in (first, second, third)] == [
        "0",
        "0",
        "1",
    ]
    assert "x-cloudtasks-taskpreviousresponse" not in first.headers
    assert second.headers["x-cloudtasks-taskpreviousresponse"] == "503"
    assert third.headers["x-cloudtasks-taskpreviousresponse"] == "404"
    assert third.headers["x-cloudtasks-taskretryreason"] == ""


def test_backoff_doubles_then_grows_linearly_until_max_attempts(
    client: Any, make_queue: QueueFactory, recorder: RecordingWorker, url: str, path: str
) -> None:
    queue = make_queue(max_attempts=6, min_backoff=0.1, max_backoff=0.45, max_doublings=1)
    recorder.script(path, *[Reply(500)] * 10)
    task = client.create_task(parent=queue, task=http_task(url))
    wait_until(lambda: _gone(client, task.name))
    received = recorder.wait_for(path, 6)
    assert len(received) == 6, "max_attempts 6 means exactly 6 attempts"
    gaps = [b.at - a.at for a, b in itertools.pairwise(received)]
    # 0.1 doubled once, then +0.2 per retry, capped at 0.45.
    expected = [0.1, 0.2, 0.4, 0.45, 0.45]
    for gap, floor in zip(gaps, expected, strict=True):
        assert gap >= floor - 0.01, (gaps, expected)
    assert [r.headers["x-cloudtasks-taskretrycount"] for r in received] == [
        str(i) for i in range(6)
    ]


def test_max_retry_duration_keeps_retrying_past_max_attempts(
    client: Any, make_queue: QueueFactory, recorder: RecordingWorker, url: str, path: str
) -> None:
    queue = make_queue(max_attempts=2, min_backoff=0.1, max_backoff=0.1, max_retry_duration=0.6)
    recorder.script(path, *[Reply(500)] * 50)
    task = client.create_task(parent=queue, task=http_task(url))
    wait_until(lambda: _gone(client, task.name))
    received = recorder.wait_for(path, 2)
    # Given up only once both are spent: 2 attempts AND 0.6 s since the first attempt.
    assert len(received) > 2, "max_attempts alone ended the retries"
    assert received[-1].at - received[0].at >= 0.6 - 0.01
    # ... and at the first failure once they are: the emulator kept the task after the
    # one-but-last attempt, so it judged that attempt (which it answered after it arrived)
    # within 0.6 s of the first (which it started before that one arrived).
    assert received[-2].at - received[0].at < 0.6, "retried past max_retry_duration"


def test_retry_after_is_honoured(
    client: Any, make_queue: QueueFactory, recorder: RecordingWorker, url: str, path: str
) -> None:
    recorder.script(
        path, Reply(503, headers={"Retry-After": "1"}), Reply(429, {"Retry-After": "1"})
    )
    client.create_task(parent=make_queue(min_backoff=0.01, max_backoff=0.05), task=http_task(url))
    first, second, third = recorder.wait_for(path, 3)
    assert second.at - first.at >= 1.0 - 0.01
    assert third.at - second.at >= 1.0 - 0.01


def test_dispatch_deadline_turns_a_hanging_worker_into_a_retry(
    client: Any, make_queue: QueueFactory, recorder: RecordingWorker, url: str, path: str
) -> None:
    hang = threading.Event()
    recorder.script(path, Reply(gate=hang), Reply(200))
    task = client.create_task(parent=make_queue(), task=http_task(url, deadline=0.5))
    try:
        # The second attempt arrives while the first still hangs: the deadline cut it off.
        first, second = recorder.wait_for(path, 2)
    finally:
        hang.set()
    assert second.at - first.at >= 0.5
    assert second.headers["x-cloudtasks-taskpreviousresponse"] == "504"
    assert second.headers["x-cloudtasks-taskexecutioncount"] == "0"
    wait_until(lambda: _gone(client, task.name))


@pytest.mark.parametrize("mode", ["garbage", "reset"])
def test_garbage_or_reset_costs_only_a_retry(
    client: Any, make_queue: QueueFactory, mode: str
) -> None:
    server = MisbehavingServer(mode)
    try:
        task = client.create_task(parent=make_queue(max_attempts=-1), task=http_task(server.url))
        server.wait_for(3)
        # Between attempts (not while one is in flight) the last one reads UNAVAILABLE.
        wait_until(lambda: client.get_task(name=task.name).last_attempt.response_status.code == 14)
        seen = client.get_task(name=task.name)
        assert seen.dispatch_count >= 2
        assert seen.response_count == 0
        client.delete_task(name=task.name)
    finally:
        server.close()


def test_refused_connection_is_retried(
    client: Any, make_queue: QueueFactory, unused_port: int
) -> None:
    task = client.create_task(
        parent=make_queue(max_attempts=-1),
        task=http_task(f"http://127.0.0.1:{unused_port}/nobody-home"),
    )
    wait_until(lambda: client.get_task(name=task.name).dispatch_count >= 3)
    seen = client.get_task(name=task.name)
    assert seen.response_count == 0
    assert seen.first_attempt.dispatch_time is not None
    client.delete_task(name=task.name)


def test_run_task_dispatches_at_once_even_when_paused(
    client: Any, make_queue: QueueFactory, recorder: RecordingWorker, url: str, path: str
) -> None:
    queue = make_queue(paused=True)
    task = client.create_task(parent=queue, task=http_task(url, schedule_in=3600))
    client.run_task(name=task.name)
    [received] = recorder.wait_for(path, 1)
    assert received.headers["x-cloudtasks-taskname"] == task.name.rsplit("/", 1)[1]
    wait_until(lambda: _gone(client, task.name))


def test_one_log_line_per_attempt(
    emulator: EmulatorProcess,
    client: Any,
    make_queue: QueueFactory,
    recorder: RecordingWorker,
    url: str,
    path: str,
) -> None:
    recorder.script(path, Reply(500))
    task = client.create_task(parent=make_queue(), task=http_task(url))
    recorder.wait_for(path, 2)
    wait_until(lambda: _gone(client, task.name))
    wait_until(
        lambda: len([line for line in emulator.log_lines if f"task={task.name} " in line]) == 2
    )
    mine = [line for line in emulator.log_lines if f"task={task.name} " in line]
    assert "status=500" in mine[0]
    assert "retry in" in mine[0]
    for part in ("status=200", f"url={url}", "latency_ms=", "attempt=2"):
        assert part in mine[1]


@pytest.fixture
def unused_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_emulator_keeps_serving_after_bad_requests(client: Any, make_queue: QueueFactory) -> None:
    queue = make_queue()
    with api_error(exceptions.InvalidArgument):
        client.create_task(parent=queue, task=http_task("not a url"))
    started = time.monotonic()
    assert client.get_queue(name=queue).name == queue
    assert time.monotonic() - started < 10
