"""Creating the task: retries of transient errors, typed errors, and what ``.delay()`` returns.

The emulator cannot be made to fail transiently, so a scripted client stands in for it here
(through the container's provider override); the result fields are checked against it too.
"""

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from google.api_core import exceptions
from google.cloud import tasks_v2

import cloudtasks_kit.producer._enqueue
from cloudtasks_kit import (
    ConfigurationError,
    DelayedRoute,
    DelayResult,
    TaskAlreadyExists,
    TaskCreateError,
    TaskCreateTimeout,
    TaskCreateUnreachable,
    delayer,
)
from cloudtasks_kit.testing import BackgroundServer, EagerTasksClient
from cloudtasks_kit.testing.pytest_plugin import EagerContainer
from tests.support import Inbox

PARENT = "projects/test-project/locations/us-central1/queues"
inbox = Inbox()
router = APIRouter(route_class=DelayedRoute)


@router.put("/orders/{order}")
def order_task(order: str) -> None:
    inbox.put("order", order)


app = FastAPI()
app.include_router(router, prefix="/api")


@pytest.fixture
def cloudtasks_app() -> FastAPI:
    return app


@pytest.fixture
def cloudtasks_settings_overrides(tmp_path: Path) -> dict[str, Any]:
    return {
        "config_dir": tmp_path,
        "default_queue": "default",
        "queues": {"default": {}, "elsewhere": {"base_url": "http://elsewhere.example/"}},
        "task_create_timeout": 10,
        "task_create_retries": 5,
        "tracing": False,
    }


@pytest.fixture(autouse=True)
def _fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cloudtasks_kit.producer._enqueue, "_FIRST_BACKOFF", 0.001)
    inbox.clear()


class ScriptedClient:
    """Fails ``failures`` times with ``error``, then creates the task as Cloud Tasks would."""

    def __init__(self, error: Exception, failures: int = 1_000_000) -> None:
        self.error = error
        self.failures = failures
        self.calls: list[dict[str, Any]] = []
        self._created = EagerTasksClient()

    def create_task(self, request: tasks_v2.CreateTaskRequest, **kwargs: Any) -> tasks_v2.Task:
        self.calls.append(kwargs)
        if len(self.calls) <= self.failures:
            raise self.error
        task: tasks_v2.Task = self._created.create_task(request)
        return task


@pytest.mark.parametrize(
    "error",
    [
        exceptions.ServiceUnavailable("try again"),
        exceptions.DeadlineExceeded("slow"),
        exceptions.InternalServerError("oops"),
        exceptions.TooManyRequests("slow down"),
        exceptions.Aborted("contention"),
    ],
    ids=type,
)
def test_transient_errors_are_retried(cloudtasks_eager: EagerContainer, error: Exception) -> None:
    client = ScriptedClient(error, failures=3)

    with cloudtasks_eager.container.tasks_client.override(client):
        result = delayer(order_task).delay(order="o-1")

    assert len(client.calls) == 4
    assert result.task_id.startswith("eager-")
    # Each try gets what is left of the create timeout, and no retry of its own underneath.
    assert all(0 < call["timeout"] <= 10 and call["retry"] is None for call in client.calls)


def test_retries_run_out(cloudtasks_eager: EagerContainer) -> None:
    client = ScriptedClient(exceptions.ServiceUnavailable("down"))

    with (
        cloudtasks_eager.container.tasks_client.override(client),
        pytest.raises(TaskCreateError) as caught,
    ):
        delayer(order_task).delay(order="o-2")

    # UNAVAILABLE is how an endpoint that is not there answers: the error says which to check.
    assert isinstance(caught.value, TaskCreateUnreachable)
    assert "cannot reach Cloud Tasks" in str(caught.value)
    assert caught.value.__suppress_context__  # one line, not gRPC's chained traceback
    assert len(client.calls) == 6  # one try and task_create_retries=5


def test_other_transient_errors_run_out_as_they_are(cloudtasks_eager: EagerContainer) -> None:
    client = ScriptedClient(exceptions.InternalServerError("oops"))

    with (
        cloudtasks_eager.container.tasks_client.override(client),
        pytest.raises(TaskCreateError, match="failed after retries") as caught,
    ):
        delayer(order_task).delay(order="o-2b")

    assert type(caught.value) is TaskCreateError
    assert isinstance(caught.value.__cause__, exceptions.InternalServerError)


def test_create_timeout(cloudtasks_eager: EagerContainer) -> None:
    client = ScriptedClient(exceptions.ServiceUnavailable("down"))
    settings = cloudtasks_eager.container.settings()

    with (
        cloudtasks_eager.container.settings.override(
            settings.model_copy(update={"task_create_retries": 1_000_000})
        ),
        cloudtasks_eager.container.tasks_client.override(client),
        pytest.raises(TaskCreateTimeout, match=r"within 0\.2 s"),
    ):
        delayer(order_task).options(create_timeout=0.2).delay(order="o-3")

    assert client.calls
    assert all(call["timeout"] <= 0.2 for call in client.calls)


def test_other_errors_are_not_retried(cloudtasks_eager: EagerContainer) -> None:
    client = ScriptedClient(exceptions.PermissionDenied("no"))

    with (
        cloudtasks_eager.container.tasks_client.override(client),
        pytest.raises(TaskCreateError, match="refused"),
    ):
        delayer(order_task).delay(order="o-4")

    assert len(client.calls) == 1


@pytest.mark.parametrize(
    "error",
    [exceptions.Conflict("409 from the REST transport"), exceptions.AlreadyExists("gRPC")],
    ids=type,
)
def test_conflict_is_task_already_exists(
    cloudtasks_eager: EagerContainer, error: Exception
) -> None:
    client = ScriptedClient(error)

    with (
        cloudtasks_eager.container.tasks_client.override(client),
        pytest.raises(TaskAlreadyExists) as caught,
    ):
        delayer(order_task).options(task_id="dinner-42").delay(order="o-5")

    assert caught.value.name == f"{PARENT}/default/tasks/dinner-42"
    assert len(client.calls) == 1


def test_result_fields_from_the_emulator(
    cloudtasks_container: Any, cloudtasks_worker: BackgroundServer
) -> None:
    task_id = f"order-{uuid.uuid4().hex}"
    before = datetime.now(UTC)
    result = delayer(order_task).options(countdown=120, task_id=task_id).delay(order="o 7")

    assert result == DelayResult(
        name=f"{PARENT}/default/tasks/{task_id}",
        task_id=task_id,
        queue=f"{PARENT}/default",
        schedule_time=result.schedule_time,
        url=f"{cloudtasks_worker.url}/api/orders/o%207",
    )
    assert result.schedule_time.tzinfo == UTC
    assert result.schedule_time >= before + timedelta(seconds=120)


def test_result_of_an_unnamed_task_runs(cloudtasks_container: Any) -> None:
    before = datetime.now(UTC)
    result = delayer(order_task).delay(order="o-8")

    assert result.name == f"{result.queue}/tasks/{result.task_id}"
    assert result.task_id
    assert result.schedule_time >= before.replace(microsecond=0)
    assert inbox.wait_for("order") == ["o-8"]


def test_queue_base_url(cloudtasks_eager: EagerContainer) -> None:
    result = delayer(order_task).options(queue="elsewhere").delay(order="o-9")

    assert result.url == "http://elsewhere.example/api/orders/o-9"


def test_no_base_url_is_a_configuration_error(cloudtasks_eager: EagerContainer) -> None:
    settings = cloudtasks_eager.container.settings()

    with (
        cloudtasks_eager.container.settings.override(
            settings.model_copy(update={"base_url": None})
        ),
        pytest.raises(ConfigurationError, match="CLOUDTASKS_BASE_URL"),
    ):
        delayer(order_task).delay(order="o-10")

    assert cloudtasks_eager.client.tasks == []
