"""The in-process (eager) mode: tasks run through the app's ASGI interface at once."""

from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI, Header, HTTPException

from cloudtasks_kit import DelayedRoute, TaskAlreadyExists, delayer
from cloudtasks_kit.testing import EagerTaskFailed, EagerTasksClient
from cloudtasks_kit.testing.pytest_plugin import EagerContainer
from tests.support import Inbox

inbox = Inbox()
router = APIRouter(route_class=DelayedRoute, prefix="/eager")


@router.post("/record/{item}")
def record(
    item: str,
    user_agent: str | None = Header(None),
    x_cloudtasks_queuename: str | None = Header(None),
    x_cloudtasks_taskname: str | None = Header(None),
    x_cloudtasks_taskretrycount: str | None = Header(None),
    x_cloudtasks_taskexecutioncount: str | None = Header(None),
    x_cloudtasks_tasketa: str | None = Header(None),
) -> None:
    inbox.put(
        "record",
        {
            "item": item,
            "user_agent": user_agent,
            "queue": x_cloudtasks_queuename,
            "task": x_cloudtasks_taskname,
            "retry": x_cloudtasks_taskretrycount,
            "execution": x_cloudtasks_taskexecutioncount,
            "eta": x_cloudtasks_tasketa,
        },
    )


@router.post("/fail")
def fail() -> None:
    raise HTTPException(status_code=503, detail="kitchen closed")


@router.post("/crash")
def crash() -> None:
    raise RuntimeError("the oven exploded")


@router.post("/inner/{n}")
def inner(n: int) -> None:
    inbox.put("order", f"inner {n}")


@router.post("/outer/async")
async def outer_async() -> None:
    await delayer(inner).adelay(n=1)
    inbox.put("order", "outer async")


@router.post("/outer/sync")
def outer_sync() -> None:
    delayer(inner).delay(n=2)
    inbox.put("order", "outer sync")


app = FastAPI()
app.include_router(router)


@pytest.fixture
def cloudtasks_app() -> FastAPI:
    return app


@pytest.fixture
def cloudtasks_settings_overrides(tmp_path: Path) -> dict[str, Any]:
    return {"config_dir": tmp_path, "default_queue": "eager-queue", "tracing": False}


@pytest.fixture(autouse=True)
def _empty_inbox() -> None:
    inbox.clear()


def test_runs_at_once_with_cloud_tasks_headers(cloudtasks_eager: EagerContainer) -> None:
    result = delayer(record).options(countdown=3600).delay(item="tea")

    # No waiting: the task ran inside .delay(), its countdown ignored.
    (received,) = inbox.get("record")
    assert received == {
        "item": "tea",
        "user_agent": "Google-Cloud-Tasks",
        "queue": "eager-queue",
        "task": result.task_id,
        "retry": "0",
        "execution": "0",
        "eta": f"{result.schedule_time.timestamp():.6f}",
    }
    (task,) = cloudtasks_eager.client.tasks
    assert task.name == result.name
    assert [r.status_code for r in cloudtasks_eager.client.responses] == [200]


def test_deduplicates_names(cloudtasks_eager: EagerContainer) -> None:
    send = delayer(record).options(task_id="only-once")
    send.delay(item="a")

    with pytest.raises(TaskAlreadyExists):
        send.delay(item="b")

    assert [r["item"] for r in inbox.get("record")] == ["a"]


def test_failing_handler_raises(cloudtasks_eager: EagerContainer) -> None:
    with pytest.raises(EagerTaskFailed, match=r"503.*kitchen closed"):
        delayer(fail).delay()


def test_crashing_handler_raises_its_own_error(cloudtasks_eager: EagerContainer) -> None:
    with pytest.raises(RuntimeError, match="oven exploded"):
        delayer(crash).delay()


def test_failures_recorded_when_not_raised(cloudtasks_eager: EagerContainer) -> None:
    client = EagerTasksClient(app, raise_on_failure=False)

    with cloudtasks_eager.container.tasks_client.override(client):
        delayer(fail).delay()
        delayer(crash).delay()

    assert [r.status_code for r in client.responses] == [503, 500]
    assert len(client.tasks) == 2


def test_records_without_an_app(cloudtasks_eager: EagerContainer) -> None:
    client = EagerTasksClient()

    with cloudtasks_eager.container.tasks_client.override(client):
        result = delayer(record).delay(item="kept")

    assert [task.name for task in client.tasks] == [result.name]
    assert client.responses == []
    assert inbox.get("record") == []


@pytest.mark.parametrize(("endpoint", "n"), [(outer_async, 1), (outer_sync, 2)])
def test_a_task_that_delays_another(
    cloudtasks_eager: EagerContainer, endpoint: Any, n: int
) -> None:
    delayer(endpoint).delay()

    kind = "async" if endpoint is outer_async else "sync"
    assert inbox.get("order") == [f"inner {n}", f"outer {kind}"]
    assert len(cloudtasks_eager.client.tasks) == 2
