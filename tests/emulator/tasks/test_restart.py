"""State in SQLite: kill -9, start again on the same file, nothing acknowledged is lost."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.api_core import exceptions

from cloudtasks_kit.testing import EmulatorProcess
from tests.emulator.tasks.conftest import PARENT, http_task
from tests.support import RecordingWorker, Reply, wait_until


def test_kill_9_and_restart_loses_nothing_and_repeats_nothing(
    tmp_path: Path, recorder: RecordingWorker, url: str, path: str
) -> None:
    data = tmp_path / "state.sqlite"
    queue = f"{PARENT}/queues/durable-{uuid.uuid4().hex[:8]}"
    hang = threading.Event()
    recorder.script(f"{path}-in-flight", Reply(gate=hang))
    first = EmulatorProcess(data=data).start()
    try:
        client = first.tasks_client()
        client.create_queue(
            parent=PARENT,
            queue={"name": queue, "retry_config": {"max_attempts": 7}},
        )
        done = client.create_task(
            parent=queue, task=http_task(url + "-done", name=f"{queue}/tasks/done")
        )
        recorder.wait_for(f"{path}-done", 1)
        wait_until(lambda: _gone(client, done.name))
        in_flight = client.create_task(parent=queue, task=http_task(url + "-in-flight"))
        recorder.wait_for(f"{path}-in-flight", 1)
        pending = client.create_task(
            parent=queue, task=http_task(url + "-pending", schedule_in=1.5, body=b"kept")
        )
        jwks_before = httpx.get(f"{first.http_url}/oauth2/v3/certs").json()
    finally:
        first.kill()
        hang.set()

    second = EmulatorProcess(data=data).start()
    try:
        client = second.tasks_client()
        assert client.get_queue(name=queue).retry_config.max_attempts == 7
        again = recorder.wait_for(f"{path}-in-flight", 2)[1]
        assert again.headers["x-cloudtasks-taskname"] == in_flight.name.rsplit("/", 1)[1]
        assert again.headers["x-cloudtasks-taskretrycount"] == "1"
        [kept] = recorder.wait_for(f"{path}-pending", 1)
        assert kept.body == b"kept"
        assert kept.headers["x-cloudtasks-taskname"] == pending.name.rsplit("/", 1)[1]
        wait_until(lambda: _gone(client, pending.name))
        assert recorder.count(f"{path}-done") == 1
        with pytest.raises(exceptions.AlreadyExists):
            client.create_task(parent=queue, task=http_task(url + "-done", name=done.name))
        # The signing key persists with the state: workers' cached keys stay valid.
        assert httpx.get(f"{second.http_url}/oauth2/v3/certs").json() == jwks_before
    finally:
        assert second.stop() == 0


def test_a_batch_operation_is_still_read_after_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "state.sqlite"
    queue = f"{PARENT}/queues/batch-{uuid.uuid4().hex[:8]}"
    with EmulatorProcess(data=data) as first:
        client = first.tasks_client()
        client.create_queue(parent=PARENT, queue={"name": queue, "state": "PAUSED"})
        created = client.batch_create_tasks(
            parent=queue,
            requests=[{"parent": queue, "task": http_task("http://127.0.0.1:9/kept")}],
        ).operation
        first.kill()

    with EmulatorProcess(data=data) as second:
        read = second.tasks_client().transport.operations_client.get_operation(created.name)

    assert read == created
    assert read.done
    assert read.response.type_url.endswith("BatchCreateTasksResponse")


def test_default_limits_are_googles(tmp_path: Path) -> None:
    with EmulatorProcess() as emulator:
        client = emulator.tasks_client()
        queue = f"{PARENT}/queues/defaults"
        client.create_queue(parent=PARENT, queue={"name": queue})
        with pytest.raises(exceptions.InvalidArgument, match="dispatch_deadline"):
            client.create_task(parent=queue, task=http_task("http://127.0.0.1:9/", deadline=5))
        client.create_task(parent=queue, task=http_task("http://127.0.0.1:9/", deadline=15))


def _gone(client: Any, name: str) -> bool:
    try:
        client.get_task(name=name)
    except exceptions.NotFound:
        return True
    return False
