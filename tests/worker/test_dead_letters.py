"""Dead letters: the last attempt as the worker sees it, then tasks enqueued with the official
client, dispatched by the emulator to a real uvicorn worker (OIDC on), parked after their last
attempt, and replayed."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from dependency_injector import providers
from fastapi import APIRouter, Depends, FastAPI, HTTPException
from google.api_core import exceptions
from pydantic import BaseModel
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cloudtasks_kit import (
    Container,
    DelayedRoute,
    RetryLater,
    TaskContext,
    TaskContextDep,
    TaskFailure,
    delayer,
    install_task_handlers,
    list_dead_letters,
    load_settings,
    replay_dead_letters,
    verify_task_caller,
)
from cloudtasks_kit.testing import BackgroundServer, EmulatorProcess
from tests.support import Inbox, TestClient, wait_until

ACCOUNT = "tasks@test-project.iam.gserviceaccount.com"
TASK_HEADERS = {
    "X-CloudTasks-QueueName": "orders",
    "X-CloudTasks-TaskName": "task-1",
    "X-CloudTasks-TaskRetryCount": "0",
    "X-CloudTasks-TaskExecutionCount": "0",
    "X-CloudTasks-TaskETA": "1700000000.250000",
}

inbox = Inbox()
fixed: set[str] = set()  # orders whose handler has been "fixed"
router = APIRouter(route_class=DelayedRoute, dependencies=[Depends(verify_task_caller)])
unchecked = APIRouter(route_class=DelayedRoute)


class Order(BaseModel):
    order_id: str
    dish: str


@router.post("/cook/{kitchen}")
async def cook(kitchen: str, order: Order, ctx: TaskContextDep = TaskContext()) -> None:
    inbox.put(order.order_id, ctx)
    if order.order_id in fixed:
        return
    if kitchen == "busy":
        raise RetryLater(after=0, reason="the kitchen is busy")
    if kitchen == "supplier":
        raise HTTPException(502, "supplier down")
    raise RuntimeError(f"oven on fire for {order.order_id}")


@unchecked.post("/open/{order_id}")
async def open_route(order_id: str) -> None:
    inbox.put(order_id, None)
    raise RuntimeError("failing without a caller check")


async def record_exhausted(context: TaskContext, failure: TaskFailure) -> None:
    inbox.put(f"exhausted {context.task_name}", (context, failure))


class RecordAnswers:
    """Outermost of the app's own middleware: what Cloud Tasks got for each attempt."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers", ()))
        task = headers.get(b"x-cloudtasks-taskname", b"").decode()

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start" and task:
                inbox.put(f"answer {task}", message["status"])
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception:
            inbox.put(f"answer {task}", 500)  # what the server's error middleware answers
            raise


app = FastAPI()
app.include_router(router)
app.include_router(unchecked)
install_task_handlers(app, on_exhausted=record_exhausted)
app.add_middleware(RecordAnswers)


@dataclass(frozen=True)
class Queues:
    work: str
    parked: str


@pytest.fixture
def queues() -> Queues:
    suffix = uuid.uuid4().hex[:10]
    return Queues(work=f"work-{suffix}", parked=f"parked-{suffix}")


def _queue_settings(queues: Queues, max_attempts: int = 3) -> dict[str, Any]:
    return {
        "work": {
            "id": queues.work,
            "retry": {
                "max_attempts": max_attempts,
                "min_backoff": "10ms",
                "max_backoff": "50ms",
                "max_doublings": 1,
            },
            "dead_letter": "parked",
        },
        "parked": {"id": queues.parked},
    }


@pytest.fixture
def cloudtasks_app() -> FastAPI:
    return app


@pytest.fixture
def cloudtasks_settings_overrides(
    tmp_path: Path, queues: Queues, cloudtasks_emulator: EmulatorProcess
) -> dict[str, Any]:
    return {
        "config_dir": tmp_path,
        "default_queue": "work",
        "tracing": False,
        "oidc": {"service_account_email": ACCOUNT},
        "auth": {
            "enabled": True,
            "issuer": cloudtasks_emulator.http_url,
            "allowed_emails": [ACCOUNT],
        },
        "queues": _queue_settings(queues),
    }


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    inbox.clear()
    fixed.clear()
    yield
    fixed.clear()


def _order() -> Order:
    return Order(order_id=uuid.uuid4().hex[:12], dish="dal")


def _gone(container: Any, name: str) -> bool:
    try:
        container.tasks_client().get_task(name=name)
    except exceptions.NotFound:
        return True
    return False


# --- the last attempt, as the worker sees it ---------------------------------------------------


@pytest.mark.parametrize(
    ("limits", "retry_counts", "left", "last"),
    [
        ({"max_attempts": 3}, [0, 1, 2, 3], [2, 1, 0, 0], [False, False, True, True]),
        ({"max_attempts": 1}, [0], [0], [True]),
        ({"max_attempts": -1}, [0, 99], [None, None], [False, False]),
        ({"max_attempts": None}, [0, 99], [None, None], [None, None]),
        ({"max_attempts": 0}, [0], [None], [None]),  # 0: Cloud Tasks' default, unknown here
        (
            {"max_attempts": 3, "max_retry_duration": timedelta(minutes=5)},
            [2, 5],
            [None, None],
            [None, None],
        ),
        ({"max_attempts": -1, "max_retry_duration": timedelta(minutes=5)}, [0], [None], [None]),
        ({"max_attempts": 3, "max_retry_duration": timedelta(0)}, [2], [0], [True]),
    ],
)
def test_attempts_left_and_last_attempt(
    limits: dict[str, Any], retry_counts: list[int], left: list[int | None], last: list[bool | None]
) -> None:
    contexts = [
        TaskContext(queue_name="q", task_name="t", retry_count=count, **limits)
        for count in retry_counts
    ]

    assert [c.attempts_left for c in contexts] == left
    assert [c.is_last_attempt for c in contexts] == last


def test_a_request_that_is_not_a_task_has_no_last_attempt() -> None:
    assert TaskContext(max_attempts=3).attempts_left is None
    assert TaskContext(max_attempts=-1).is_last_attempt is None


def test_task_context_reads_the_limits_of_the_queue_with_that_id(tmp_path: Path) -> None:
    settings = load_settings(
        env="test",
        config_dir=tmp_path,
        # The key "orders" is another queue: the header holds a queue id, not a key.
        queues={
            "kitchen": {"id": "orders", "retry": {"max_attempts": 3}},
            "orders": {"id": "elsewhere", "retry": {"max_attempts": 9}},
        },
    )
    container = Container(settings=providers.Object(settings))
    plain = FastAPI()

    @plain.post("/context")
    async def context(ctx: TaskContextDep) -> dict[str, Any]:
        return {"left": ctx.attempts_left, "last": ctx.is_last_attempt}

    client = TestClient(plain)
    third = {**TASK_HEADERS, "X-CloudTasks-TaskRetryCount": "2"}

    assert client.post("/context", headers=third).json() == {"left": None, "last": None}
    container.wire()
    try:
        assert client.post("/context", headers=TASK_HEADERS).json() == {"left": 2, "last": False}
        assert client.post("/context", headers=third).json() == {"left": 0, "last": True}
        unknown = {**third, "X-CloudTasks-QueueName": "kitchen"}
        assert client.post("/context", headers=unknown).json() == {"left": None, "last": None}
    finally:
        container.unwire()


# --- through the emulator and a real worker ----------------------------------------------------


def test_an_always_failing_task_is_parked_once_after_its_attempts_and_replays(
    cloudtasks_container: Any, queues: Queues
) -> None:
    settings = cloudtasks_container.settings()
    client = cloudtasks_container.tasks_client()
    order = _order()

    result = delayer(cook).delay(kitchen="crash", order=order)

    [(context, failure)] = inbox.wait_for(f"exhausted {result.task_id}")
    wait_until(lambda: _gone(cloudtasks_container, result.name))
    attempts: list[TaskContext] = inbox.get(order.order_id)
    assert [(c.attempt, c.attempts_left, c.is_last_attempt) for c in attempts] == [
        (1, 2, False),
        (2, 1, False),
        (3, 0, True),
    ]
    assert inbox.get(f"answer {result.task_id}") == [500, 500, 200]
    assert context == attempts[-1]
    assert failure.status == 500
    assert isinstance(failure.error, RuntimeError)
    assert failure.reason == f"RuntimeError: oven on fire for {order.order_id}"

    [letter] = list_dead_letters(settings, client, "parked")
    assert letter.queue == settings.queue_path("work")
    assert (letter.task_id, letter.attempts, letter.status) == (result.task_id, 3, 500)
    assert letter.reason == failure.reason
    assert letter.url == result.url
    assert letter.method == "POST"
    parked = letter.task.http_request
    assert json.loads(parked.body) == order.model_dump()
    headers = {name.lower() for name in parked.headers}
    assert "content-type" in headers
    assert not {h for h in headers if h.startswith("x-cloudtasks-")}
    assert "authorization" not in headers
    assert letter.parked_at is not None
    assert letter.expires_at == letter.parked_at + timedelta(days=31)
    assert list_dead_letters(settings, client, "work") == [letter]  # by its original queue

    fixed.add(order.order_id)
    [replay] = replay_dead_letters(settings, client, cloudtasks_container.delayed_hooks(), "parked")

    assert replay.error is None
    assert replay.deleted
    assert replay.task is not None
    assert replay.task.startswith(settings.queue_path("work") + "/tasks/")
    replayed = inbox.wait_for(order.order_id, 4)[3]
    # A new task in the original queue, signed again (the route checks the token).
    assert (replayed.queue_name, replayed.attempt) == (queues.work, 1)
    assert replayed.task_name == replay.task.rsplit("/", 1)[1]
    wait_until(lambda: _gone(cloudtasks_container, replay.task or ""))
    assert inbox.get(f"answer {replayed.task_name}") == [200]
    assert list_dead_letters(settings, client, "parked") == []
    assert len(inbox.get(order.order_id)) == 4


@pytest.mark.parametrize(
    ("kitchen", "status", "reason", "error"),
    [
        ("busy", 503, "HTTP 503: retry later: the kitchen is busy", RetryLater),
        ("supplier", 502, "HTTP 502: supplier down", None),
    ],
)
def test_retry_later_and_a_5xx_on_the_last_attempt_are_parked(
    cloudtasks_container: Any, kitchen: str, status: int, reason: str, error: type | None
) -> None:
    settings = cloudtasks_container.settings()
    order = _order()

    result = delayer(cook).delay(kitchen=kitchen, order=order)

    [(_, failure)] = inbox.wait_for(f"exhausted {result.task_id}")
    wait_until(lambda: _gone(cloudtasks_container, result.name))
    assert inbox.get(f"answer {result.task_id}") == [status, status, 200]
    assert (failure.status, failure.reason) == (status, reason)
    assert type(failure.error) is error if error else failure.error is None
    [letter] = list_dead_letters(settings, cloudtasks_container.tasks_client(), "parked")
    assert (letter.task_id, letter.status, letter.reason) == (result.task_id, status, reason)
    assert json.loads(letter.task.http_request.body) == order.model_dump()


@pytest.mark.parametrize(
    ("break_it", "problem"),
    [("delete_queue", "NotFound"), ("resume_queue", "is not paused (run `cloudtasks-kit queues")],
)
def test_when_parking_fails_the_last_attempt_keeps_its_5xx(
    cloudtasks_container: Any, caplog: pytest.LogCaptureFixture, break_it: str, problem: str
) -> None:
    settings = cloudtasks_container.settings()
    client = cloudtasks_container.tasks_client()
    getattr(client, break_it)(name=settings.queue_path("parked"))
    order = _order()

    with caplog.at_level(logging.WARNING, logger="cloudtasks_kit.worker"):
        result = delayer(cook).delay(kitchen="crash", order=order)
        inbox.wait_for(f"exhausted {result.task_id}")  # the hook still hears of it
        wait_until(lambda: _gone(cloudtasks_container, result.name))

    # Answered 500 as without dead letters: Cloud Tasks gave the task up at its own limit.
    assert inbox.get(f"answer {result.task_id}") == [500, 500, 500]
    assert len(inbox.get(order.order_id)) == 3
    [line] = [
        r.getMessage()
        for r in caplog.records
        if r.name == "cloudtasks_kit.worker" and r.levelno == logging.ERROR
    ]
    assert f"could not park task {result.task_id}" in line
    assert problem in line
    assert "answering 500" in line
    if break_it == "resume_queue":  # a running dead-letter queue got nothing to dispatch
        assert list(client.list_tasks(parent=settings.queue_path("parked"))) == []


def test_a_task_is_not_parked_before_its_queue_gives_it_up(
    cloudtasks_container: Any, queues: Queues, caplog: pytest.LogCaptureFixture
) -> None:
    settings = cloudtasks_container.settings()
    client = cloudtasks_container.tasks_client()
    # The queue allows 5 attempts; the settings say 3 (someone changed it by hand).
    queue = client.get_queue(name=settings.queue_path("work"))
    queue.retry_config.max_attempts = 5
    client.update_queue(queue=queue)
    order = _order()

    with caplog.at_level(logging.ERROR, logger="cloudtasks_kit.worker"):
        result = delayer(cook).delay(kitchen="crash", order=order)
        wait_until(lambda: _gone(cloudtasks_container, result.name))

    # Attempts 3 and 4 look last to the worker, but Cloud Tasks would retry: not lost.
    assert inbox.get(f"answer {result.task_id}") == [500, 500, 500, 500, 200]
    assert "so Cloud Tasks retries after attempt 3" in caplog.text
    [letter] = list_dead_letters(settings, client, "parked")
    assert (letter.task_id, letter.attempts) == (result.task_id, 5)


def test_a_request_merely_claiming_to_be_a_last_attempt_is_not_parked(
    cloudtasks_container: Any, cloudtasks_worker: BackgroundServer, queues: Queues
) -> None:
    import httpx

    settings = cloudtasks_container.settings()
    forged = {
        **TASK_HEADERS,
        "X-CloudTasks-QueueName": queues.work,
        "X-CloudTasks-TaskRetryCount": "2",
    }

    response = httpx.post(f"{cloudtasks_worker.url}/open/forged", headers=forged, timeout=10)

    assert response.status_code == 500
    assert len(inbox.get("forged")) == 1
    assert inbox.get("exhausted task-1") == []  # not even reported to the hook
    assert list_dead_letters(settings, cloudtasks_container.tasks_client(), "parked") == []


@pytest.fixture
def in_process(
    cloudtasks_emulator: EmulatorProcess, queues: Queues, tmp_path: Path
) -> Iterator[Any]:
    """A wired container on the emulator, for requests sent in-process (no token to check)."""
    from cloudtasks_kit.ops import ensure_queues

    settings = load_settings(
        env="test",
        config_dir=tmp_path,
        project="test-project",
        location="us-central1",
        emulator_host=cloudtasks_emulator.grpc_target,
        # TestClient's own: a parked copy's URL is built on it, as the task's was.
        base_url="http://testserver",
        queues=_queue_settings(queues),
        auth={"enabled": False},
    )
    container = Container(settings=providers.Object(settings))
    ensure_queues(settings, container.tasks_client())
    container.wire()
    try:
        yield container
    finally:
        container.unwire()
        container.shutdown_resources()


def _last_attempt(queues: Queues) -> dict[str, str]:
    return {
        **TASK_HEADERS,
        "X-CloudTasks-QueueName": queues.work,
        "X-CloudTasks-TaskRetryCount": "2",
    }


def test_the_same_attempt_delivered_twice_is_parked_once(in_process: Any, queues: Queues) -> None:
    body = {"order_id": "twice", "dish": "dal"}

    with TestClient(app) as client:
        answers = [
            client.post("/cook/crash", json=body, headers=_last_attempt(queues)) for _ in range(2)
        ]
    letters = list_dead_letters(in_process.settings(), in_process.tasks_client(), "parked")

    assert [a.status_code for a in answers] == [200, 200]
    assert answers[0].json() == answers[1].json()
    [letter] = letters
    assert answers[0].json() == {"detail": f"parked as dead letter {letter.name}"}
    assert letter.url == "http://testserver/cook/crash"
    assert len(inbox.get("twice")) == 2


def _failing_hook(context: TaskContext, failure: TaskFailure) -> None:
    inbox.put("sync hook", failure.status)
    raise RuntimeError("the alerting service is down")


def test_a_failing_hook_does_not_stop_the_parking(
    in_process: Any, queues: Queues, caplog: pytest.LogCaptureFixture
) -> None:
    hooked = FastAPI()
    hooked.include_router(unchecked)
    install_task_handlers(hooked, on_exhausted=_failing_hook)  # a plain function: in a thread

    with caplog.at_level(logging.ERROR, logger="cloudtasks_kit.worker"):
        answer = TestClient(hooked).post("/open/hooked", headers=_last_attempt(queues))

    assert answer.status_code == 200
    assert inbox.get("sync hook") == [500]
    assert "the on_exhausted hook failed for task task-1" in caplog.text
    [letter] = list_dead_letters(in_process.settings(), in_process.tasks_client(), "parked")
    assert letter.reason == "RuntimeError: failing without a caller check"
