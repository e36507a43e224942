"""``EmulatorProcess.reset()`` and the fixtures built on it: tests sharing the session's
emulator start from a clean one, without a restart.

The tests of this module run in the order they are written: the later ones check what the
earlier ones left (or did not leave) behind.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from google.api_core import exceptions
from google.cloud import tasks_v2

from cloudtasks_kit import DelayedRoute, delayer
from cloudtasks_kit.testing import EmulatorProcess
from cloudtasks_kit.testing.pytest_plugin import TEST_LOCATION, TEST_PROJECT

PARENT = f"projects/{TEST_PROJECT}/locations/{TEST_LOCATION}"
LEFTOVER = f"{PARENT}/queues/leftover-of-an-earlier-test"
router = APIRouter(route_class=DelayedRoute)


@router.post("/later/{n}")
def later(n: int) -> None: ...


@pytest.fixture
def cloudtasks_app() -> FastAPI:
    app = FastAPI()
    app.include_router(router)
    return app


def _queues(emulator: EmulatorProcess) -> list[str]:
    return [q.name for q in emulator.tasks_client().list_queues(parent=PARENT)]


def test_the_clean_emulator_fixture_starts_from_nothing(
    cloudtasks_emulator: EmulatorProcess, request: pytest.FixtureRequest
) -> None:
    client = cloudtasks_emulator.tasks_client()
    client.create_queue(parent=PARENT, queue={"name": LEFTOVER})
    client.pause_queue(name=LEFTOVER)
    task = tasks_v2.Task(
        name=f"{LEFTOVER}/tasks/t", http_request=tasks_v2.HttpRequest(url="http://127.0.0.1:9/")
    )
    client.create_task(parent=LEFTOVER, task=task)
    client.delete_task(name=task.name)

    clean: EmulatorProcess = request.getfixturevalue("cloudtasks_clean_emulator")

    assert clean is cloudtasks_emulator
    assert LEFTOVER not in _queues(clean)
    client.create_queue(parent=PARENT, queue={"name": LEFTOVER})  # no tombstone either
    client.pause_queue(name=LEFTOVER)
    client.create_task(parent=LEFTOVER, task=task)


def test_a_container_test_leaves_a_pending_task(cloudtasks_container: Any) -> None:
    result = delayer(later).options(countdown=3600, task_id="left-behind").delay(n=1)
    assert result.task_id == "left-behind"


def test_what_a_container_test_left_is_gone(cloudtasks_emulator: EmulatorProcess) -> None:
    # cloudtasks_container reset the emulator when its test ended: the task, its queue and
    # the name it took are gone, and the leftover of the first test with them.
    client = cloudtasks_emulator.tasks_client()
    assert _queues(cloudtasks_emulator) == []
    with pytest.raises(exceptions.NotFound, match=r"does not exist$"):
        client.get_task(name=f"{PARENT}/queues/default/tasks/left-behind")
