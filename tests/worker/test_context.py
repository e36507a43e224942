"""Task context, retry-later, drop and the attempt guard: unit level, then through the real
emulator and a real uvicorn worker."""

import logging
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from google.api_core import exceptions
from google.cloud import tasks_v2

from cloudtasks_kit import DelayedRoute, InvalidTaskArguments, RouteNotDelayable, delayer
from cloudtasks_kit._binding import BoundRequest, RouteBinder
from cloudtasks_kit._marks import WORKER_DEPENDENCY_ATTRIBUTE
from cloudtasks_kit.settings import load_settings
from cloudtasks_kit.worker import (
    DropTask,
    InvalidTaskHeaders,
    RetryLater,
    TaskContext,
    TaskContextDep,
    attempt_guard,
    install_task_handlers,
    task_context,
)
from cloudtasks_kit.worker._auth import TaskCaller, oidc_verifier, verify_task_caller
from tests.support import Inbox, TestClient, wait_until

inbox = Inbox()
router = APIRouter(route_class=DelayedRoute, prefix="/worker")

TASK_HEADERS = {
    "X-CloudTasks-QueueName": "orders",
    "X-CloudTasks-TaskName": "task-1",
    "X-CloudTasks-TaskRetryCount": "0",
    "X-CloudTasks-TaskExecutionCount": "0",
    "X-CloudTasks-TaskETA": "1700000000.250000",
}


@router.post("/context/{case}")
def record_context(case: str, ctx: TaskContextDep = TaskContext()) -> None:
    inbox.put(case, (ctx, time.monotonic()))
    if case == "scripted" and ctx.attempt == 1:
        raise RetryLater(after=0, reason="not yet")
    if case == "scripted" and ctx.attempt == 2:
        raise HTTPException(409, "conflict, counted as an execution")
    if case == "retry-later" and ctx.attempt == 1:
        raise RetryLater(after=1.0, reason="the kitchen is busy")


@router.post("/drop/{order}")
def drop(order: int, ctx: TaskContextDep = TaskContext()) -> None:
    inbox.put("drop", ctx)
    raise DropTask(f"order {order} was cancelled")


@router.post("/guarded", dependencies=[Depends(attempt_guard(max_attempts=2))])
def guarded(ctx: TaskContextDep = TaskContext()) -> None:
    inbox.put("guarded", ctx)
    raise RetryLater(after=0, reason="still failing")


@router.post("/crash")
def crash() -> None:
    raise RuntimeError("boom")


app = FastAPI()
app.include_router(router)
install_task_handlers(app)


@pytest.fixture
def cloudtasks_app() -> FastAPI:
    return app


@pytest.fixture
def cloudtasks_settings_overrides(tmp_path: Path) -> dict[str, Any]:
    return {"config_dir": tmp_path}


@pytest.fixture(autouse=True)
def _empty_inbox() -> None:
    inbox.clear()


@pytest.fixture
def client() -> TestClient:
    return TestClient(app, raise_server_exceptions=False)


# --- TaskContext.from_headers ------------------------------------------------------------------


def test_context_of_a_first_attempt() -> None:
    ctx = TaskContext.from_headers(TASK_HEADERS)

    assert ctx == TaskContext(
        queue_name="orders",
        task_name="task-1",
        retry_count=0,
        execution_count=0,
        eta=datetime(2023, 11, 14, 22, 13, 20, 250000, tzinfo=UTC),
        previous_response=None,
        retry_reason=None,
    )
    assert ctx.is_task
    assert not ctx.is_scheduled
    assert ctx.attempt == 1
    assert ctx.eta is not None
    assert ctx.eta.utcoffset() == timedelta(0)


def test_context_of_a_retry_reads_previous_response_and_reason() -> None:
    headers = {
        **TASK_HEADERS,
        "X-CloudTasks-TaskRetryCount": "3",
        "X-CloudTasks-TaskExecutionCount": "1",
        "X-CloudTasks-TaskPreviousResponse": "503",
        "X-CloudTasks-TaskRetryReason": "",
    }
    ctx = TaskContext.from_headers({k.lower(): v for k, v in headers.items()})

    assert (ctx.retry_count, ctx.execution_count, ctx.attempt) == (3, 1, 4)
    assert ctx.previous_response == 503
    assert ctx.retry_reason is None  # Google sends it empty for HTTP tasks

    reason = {**headers, "X-CloudTasks-TaskRetryReason": "DEADLINE_EXCEEDED"}
    assert TaskContext.from_headers(reason).retry_reason == "DEADLINE_EXCEEDED"


def test_context_of_a_scheduler_call() -> None:
    ctx = TaskContext.from_headers(
        {
            "X-CloudScheduler": "true",
            "X-CloudScheduler-JobName": "nightly-report",
            "X-CloudScheduler-ScheduleTime": "2024-05-01T06:00:00.5+02:00",
        }
    )

    assert ctx.is_scheduled
    assert not ctx.is_task
    assert ctx.job_name == "nightly-report"
    assert ctx.schedule_time == datetime(2024, 5, 1, 4, 0, 0, 500000, tzinfo=UTC)
    assert ctx.schedule_time is not None
    assert ctx.schedule_time.tzinfo is UTC
    manual = {"X-CloudScheduler": "true", "X-CloudScheduler-JobName": "nightly-report"}
    assert TaskContext.from_headers(manual).schedule_time is None


def test_a_plain_request_has_an_empty_context() -> None:
    ctx = TaskContext.from_headers({"content-type": "application/json"})

    assert ctx == TaskContext()
    assert not ctx.is_task
    assert not ctx.is_scheduled


@pytest.mark.parametrize(
    ("changes", "header", "problem"),
    [
        ({"X-CloudTasks-QueueName": None}, "X-CloudTasks-QueueName", "missing"),
        ({"X-CloudTasks-TaskName": None}, "X-CloudTasks-TaskName", "missing"),
        ({"X-CloudTasks-TaskName": " "}, "X-CloudTasks-TaskName", "empty"),
        ({"X-CloudTasks-TaskRetryCount": "-1"}, "X-CloudTasks-TaskRetryCount", "integer"),
        ({"X-CloudTasks-TaskRetryCount": "two"}, "X-CloudTasks-TaskRetryCount", "integer"),
        ({"X-CloudTasks-TaskExecutionCount": None}, "X-CloudTasks-TaskExecutionCount", "missing"),
        ({"X-CloudTasks-TaskETA": "tomorrow"}, "X-CloudTasks-TaskETA", "epoch"),
        ({"X-CloudTasks-TaskETA": "nan"}, "X-CloudTasks-TaskETA", "epoch"),
        ({"X-CloudTasks-TaskETA": "1e400"}, "X-CloudTasks-TaskETA", "epoch"),
        ({"X-CloudTasks-TaskPreviousResponse": "OK"}, "X-CloudTasks-TaskPreviousResponse", "code"),
        ({"X-CloudScheduler": "yes"}, "X-CloudScheduler", "'true'"),
        ({"X-CloudScheduler": "true"}, "X-CloudScheduler-JobName", "missing"),
        (
            {"X-CloudScheduler-JobName": "j", "X-CloudScheduler-ScheduleTime": "2024-05-01"},
            "X-CloudScheduler-ScheduleTime",
            "RFC 3339",
        ),
        (
            {"X-CloudScheduler-JobName": "j", "X-CloudScheduler-ScheduleTime": "2024-05-01T06:00"},
            "X-CloudScheduler-ScheduleTime",
            "RFC 3339",
        ),
    ],
)
def test_malformed_headers_name_the_header(
    changes: dict[str, str | None], header: str, problem: str
) -> None:
    headers: dict[str, str | None] = {**TASK_HEADERS, **changes}
    if header.startswith("X-CloudScheduler"):
        headers = changes
    sent = {key: value for key, value in headers.items() if value is not None}

    with pytest.raises(InvalidTaskHeaders, match=problem) as caught:
        TaskContext.from_headers(sent)
    assert caught.value.header == header


def test_malformed_task_headers_are_a_400_and_the_handler_does_not_run(
    client: TestClient,
) -> None:
    headers = {**TASK_HEADERS, "X-CloudTasks-TaskRetryCount": "many"}

    response = client.post("/worker/context/direct", headers=headers)

    assert response.status_code == 400
    assert "X-CloudTasks-TaskRetryCount" in response.json()["detail"]
    assert inbox.get("direct") == []


def test_a_direct_call_gets_an_empty_context(client: TestClient) -> None:
    assert client.post("/worker/context/direct").status_code == 200
    [(ctx, _)] = inbox.get("direct")
    assert ctx == TaskContext()


# --- binding: the worker's dependencies are not .delay() arguments -----------------------------


def _caller(caller: Annotated[TaskCaller | None, Depends(verify_task_caller)]) -> None: ...


def _uses_context(ctx: TaskContextDep) -> int:
    return ctx.attempt


def _uses_context_and_request(request: Request, ctx: TaskContextDep) -> None: ...


def _route(endpoint: Callable[..., Any], **kwargs: Any) -> Any:
    local = APIRouter(route_class=DelayedRoute)
    local.post("/bound/{order}", **kwargs)(endpoint)
    return local.routes[-1]


def test_worker_dependencies_are_skipped_by_the_binder(tmp_path: Path) -> None:
    verifier = oidc_verifier(
        load_settings(env="test", config_dir=tmp_path, base_url="http://worker.local")
    )

    def endpoint(
        order: int,
        ctx: TaskContextDep,
        attempt: Annotated[int, Depends(_uses_context)],
        caller: Annotated[TaskCaller | None, Depends(verifier)],
    ) -> None: ...

    route = _route(endpoint, dependencies=[Depends(attempt_guard(3)), Depends(_caller)])

    assert route.binder.bind(order=7) == BoundRequest("POST", "/bound/7", {}, b"")
    with pytest.raises(InvalidTaskArguments, match="unexpected keyword 'request'"):
        route.binder.bind(order=7, request=None)
    for marked in (task_context, verify_task_caller, verifier):
        assert getattr(marked, WORKER_DEPENDENCY_ATTRIBUTE) is True
    assert getattr(_uses_context, WORKER_DEPENDENCY_ATTRIBUTE, False) is False


def test_a_users_dependency_taking_request_is_still_refused() -> None:
    def endpoint(order: int, other: None = Depends(_uses_context_and_request)) -> None: ...

    with pytest.raises(RouteNotDelayable, match="'request' of _uses_context_and_request"):
        RouteBinder.for_route(_route(endpoint))


def test_a_delayed_route_with_context_takes_only_its_own_arguments() -> None:
    with pytest.raises(InvalidTaskArguments, match="unexpected keyword 'ctx'"):
        delayer(record_context).delay(case="x", ctx=TaskContext())


# --- retry control, unit level -----------------------------------------------------------------


def test_retry_later_is_a_503_with_retry_after_rounded_up(client: TestClient) -> None:
    headers = {**TASK_HEADERS, "X-CloudTasks-TaskName": "busy-task"}

    response = client.post("/worker/context/retry-later", headers=headers)

    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json() == {"detail": "retry later: the kitchen is busy"}
    assert RetryLater(after=timedelta(seconds=2.1)).headers == {"Retry-After": "3"}
    assert RetryLater().headers is None
    with pytest.raises(ValueError, match="non-negative"):
        RetryLater(after=-1)


def test_retry_and_drop_answer_right_without_the_handlers_installed() -> None:
    bare = FastAPI()
    bare.include_router(router)
    bare_client = TestClient(bare)

    retry = bare_client.post("/worker/context/retry-later", headers=TASK_HEADERS)
    dropped = bare_client.post("/worker/drop/5", headers=TASK_HEADERS)

    assert (retry.status_code, retry.headers["retry-after"]) == (503, "1")
    assert dropped.status_code == 200
    assert dropped.json() == {"detail": "task dropped: order 5 was cancelled"}


def test_drop_is_acknowledged_and_logged_with_the_task_name(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    headers = {
        **TASK_HEADERS,
        "X-CloudTasks-TaskName": "order-42",
        "X-CloudTasks-TaskRetryCount": "2",
    }

    with caplog.at_level(logging.INFO, logger="cloudtasks_kit.worker"):
        response = client.post("/worker/drop/42", headers=headers)

    assert response.status_code == 200
    assert response.json() == {"detail": "task dropped: order 42 was cancelled"}
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
        "dropped task order-42 (queue orders, attempt 3): order 42 was cancelled"
    ]


def test_unhandled_exceptions_stay_a_500(client: TestClient) -> None:
    assert client.post("/worker/crash", headers=TASK_HEADERS).status_code == 500


def test_attempt_guard_runs_the_handler_up_to_max_attempts(client: TestClient) -> None:
    for retry_count, status in [("0", 503), ("1", 503), ("2", 200), ("9", 200)]:
        headers = {**TASK_HEADERS, "X-CloudTasks-TaskRetryCount": retry_count}
        assert client.post("/worker/guarded", headers=headers).status_code == status

    assert [ctx.attempt for ctx in inbox.get("guarded")] == [1, 2]
    # A request that is not a Cloud Tasks attempt is not guarded.
    assert client.post("/worker/guarded").status_code == 503


def test_attempt_guard_on_a_whole_router() -> None:
    guarded_router = APIRouter(route_class=DelayedRoute, dependencies=[Depends(attempt_guard(1))])

    @guarded_router.post("/once")
    def once() -> None:
        inbox.put("once", None)

    guarded_app = FastAPI()
    guarded_app.include_router(guarded_router)
    guarded_client = TestClient(guarded_app)
    retry = {**TASK_HEADERS, "X-CloudTasks-TaskRetryCount": "1"}

    assert guarded_client.post("/once", headers=TASK_HEADERS).status_code == 200
    assert guarded_client.post("/once", headers=retry).json() == {
        "detail": "task dropped: attempt 2 is past max_attempts=1"
    }
    assert len(inbox.get("once")) == 1
    with pytest.raises(ValueError, match="max_attempts"):
        attempt_guard(0)


# --- through the emulator and a real worker ----------------------------------------------------


@pytest.fixture
def make_queue(cloudtasks_container: Any) -> Callable[..., str]:
    settings = cloudtasks_container.settings()
    client = cloudtasks_container.tasks_client()

    def make(*, max_attempts: int = 10) -> str:
        queue_id = f"worker-{uuid.uuid4().hex[:12]}"
        client.create_queue(
            parent=f"projects/{settings.project}/locations/{settings.location}",
            queue=tasks_v2.Queue(
                name=settings.queue_path(queue_id),
                retry_config=tasks_v2.RetryConfig(
                    max_attempts=max_attempts,
                    min_backoff=timedelta(seconds=0.05),
                    max_backoff=timedelta(seconds=0.2),
                    max_doublings=2,
                ),
            ),
        )
        return queue_id

    return make


def _gone(cloudtasks_container: Any, name: str) -> bool:
    try:
        cloudtasks_container.tasks_client().get_task(name=name)
    except exceptions.NotFound:
        return True
    return False


def test_context_on_first_and_later_attempts(
    cloudtasks_container: Any, make_queue: Callable[..., str]
) -> None:
    queue = make_queue()

    result = delayer(record_context).options(queue=queue).delay(case="scripted")

    attempts = [ctx for ctx, _ in inbox.wait_for("scripted", 3)]
    assert [(c.retry_count, c.execution_count, c.previous_response) for c in attempts] == [
        (0, 0, None),  # first attempt: answered 503 (RetryLater), not an execution
        (1, 0, 503),  # answered 409, which counts as an execution
        (2, 1, 409),
    ]
    assert {(c.queue_name, c.task_name, c.is_task) for c in attempts} == {
        (queue, result.task_id, True)
    }
    assert [c.attempt for c in attempts] == [1, 2, 3]
    assert attempts[1].retry_reason is None
    etas = [c.eta for c in attempts if c.eta is not None]
    assert len(etas) == 3
    assert all(eta.tzinfo is UTC for eta in etas)
    assert abs(etas[0] - result.schedule_time) < timedelta(milliseconds=1)
    assert etas[0] < etas[1] < etas[2]  # each retry is scheduled anew
    wait_until(lambda: _gone(cloudtasks_container, result.name))


def test_retry_later_is_honoured_by_the_emulator(
    cloudtasks_container: Any, make_queue: Callable[..., str], caplog: pytest.LogCaptureFixture
) -> None:
    queue = make_queue()  # min backoff 0.05 s: only Retry-After explains a longer gap

    # WARNING, not INFO: plain uvicorn shows other loggers' WARNING lines only.
    with caplog.at_level(logging.WARNING, logger="cloudtasks_kit.worker"):
        result = delayer(record_context).options(queue=queue).delay(case="retry-later")
        (first, first_at), (second, second_at) = inbox.wait_for("retry-later", 2)

    assert (first.attempt, second.attempt) == (1, 2)
    assert second.previous_response == 503
    assert second_at - first_at >= 1.0
    assert f"retry later task {result.task_id} (queue {queue}, attempt 1)" in caplog.text
    wait_until(lambda: _gone(cloudtasks_container, result.name))


def test_drop_stops_retries(
    cloudtasks_container: Any, make_queue: Callable[..., str], caplog: pytest.LogCaptureFixture
) -> None:
    queue = make_queue(max_attempts=5)

    with caplog.at_level(logging.WARNING, logger="cloudtasks_kit.worker"):
        result = delayer(drop).options(queue=queue).delay(order=7)
        # Gone from the emulator (completed) after one attempt: it is never sent again.
        wait_until(lambda: _gone(cloudtasks_container, result.name))

    assert len(inbox.get("drop")) == 1
    assert (
        f"dropped task {result.task_id} (queue {queue}, attempt 1): order 7 was cancelled"
        in caplog.text
    )


def test_attempt_guard_drops_after_max_attempts(
    cloudtasks_container: Any, make_queue: Callable[..., str], caplog: pytest.LogCaptureFixture
) -> None:
    queue = make_queue(max_attempts=10)

    with caplog.at_level(logging.WARNING, logger="cloudtasks_kit.worker"):
        result = delayer(guarded).options(queue=queue).delay()
        wait_until(lambda: _gone(cloudtasks_container, result.name))

    assert [ctx.attempt for ctx in inbox.get("guarded")] == [1, 2]
    assert (
        f"dropped task {result.task_id} (queue {queue}, attempt 3): "
        "attempt 3 is past max_attempts=2" in caplog.text
    )
