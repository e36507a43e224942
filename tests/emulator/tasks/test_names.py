"""Named tasks: de-duplication while they exist and for a tombstone window after."""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from google.api_core import exceptions

from cloudtasks_kit.testing import EmulatorProcess
from tests.emulator.clients import Transport, api_error
from tests.emulator.tasks.conftest import EMULATOR_ARGS, PARENT, QueueFactory, http_task
from tests.support import RecordingWorker, wait_until


@pytest.fixture(scope="module")
def own_emulator() -> Iterator[EmulatorProcess]:
    # Its clock gets advanced, so it must not be the session's shared emulator.
    with EmulatorProcess(args=EMULATOR_ARGS) as process:
        yield process


@pytest.fixture
def own_client(own_emulator: EmulatorProcess, transport: Transport) -> Any:
    return own_emulator.tasks_client(transport)


def _advance(emulator: EmulatorProcess, seconds: float) -> None:
    request = urllib.request.Request(
        f"{emulator.http_url}/admin/clock/advance",
        data=json.dumps({"seconds": seconds}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request) as response:
        assert response.status == 200


def test_duplicate_name_while_pending(client: Any, make_queue: QueueFactory) -> None:
    queue = make_queue(paused=True)
    name = f"{queue}/tasks/dinner-{uuid.uuid4().hex[:6]}"
    client.create_task(parent=queue, task=http_task("http://127.0.0.1:9/x", name=name))
    with api_error(exceptions.AlreadyExists, match="already exists"):
        client.create_task(parent=queue, task=http_task("http://127.0.0.1:9/x", name=name))
    assert [t.name for t in client.list_tasks(parent=queue)] == [name]


def test_name_stays_taken_for_the_tombstone_window(
    own_emulator: EmulatorProcess, own_client: Any, recorder: RecordingWorker, url: str, path: str
) -> None:
    queue = f"{PARENT}/queues/tomb-{uuid.uuid4().hex[:8]}"
    own_client.create_queue(parent=PARENT, queue={"name": queue})
    name = f"{queue}/tasks/once-only"
    own_client.create_task(parent=queue, task=http_task(url, name=name))
    recorder.wait_for(path, 1)
    wait_until(lambda: _gone(own_client, name))
    with api_error(exceptions.NotFound, match="completed recently"):
        own_client.get_task(name=name)
    with api_error(exceptions.AlreadyExists, match="recently"):
        own_client.create_task(parent=queue, task=http_task(url, name=name))
    deleted = f"{queue}/tasks/deleted-one"
    own_client.pause_queue(name=queue)
    own_client.create_task(parent=queue, task=http_task(url, name=deleted))
    own_client.delete_task(name=deleted)
    with api_error(exceptions.AlreadyExists, match="deleted recently"):
        own_client.create_task(parent=queue, task=http_task(url, name=deleted))

    _advance(own_emulator, 3601)
    own_client.resume_queue(name=queue)
    own_client.create_task(parent=queue, task=http_task(url, name=name))
    recorder.wait_for(path, 2)


def test_deleted_queue_name_is_refused_for_a_while(
    own_emulator: EmulatorProcess, own_client: Any
) -> None:
    queue = f"{PARENT}/queues/reborn-{uuid.uuid4().hex[:8]}"
    own_client.create_queue(parent=PARENT, queue={"name": queue})
    own_client.delete_queue(name=queue)
    with api_error(exceptions.FailedPrecondition, match="existed too recently"):
        own_client.create_queue(parent=PARENT, queue={"name": queue})
    _advance(own_emulator, 8 * 86400)
    own_client.create_queue(parent=PARENT, queue={"name": queue})


def _gone(client: Any, name: str) -> bool:
    try:
        client.get_task(name=name)
    except exceptions.NotFound:
        return True
    return False
