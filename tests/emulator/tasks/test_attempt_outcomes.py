"""Every attempt ends in exactly one of: success, a failed attempt that follows the queue's retry
policy (recorded in ``last_attempt``), or the task given up, whatever the HTTP sender raises.

The emulator's parts run in this process, so that the sender can be made to raise what no
real target could make it raise: exceptions the dispatcher does not expect. Before, such a
task stayed listed with ``dispatch_count=1`` for good, never retried, never dropped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
from google.cloud import tasks_v2

from cloudtasks_kit.emulator import Clock, EmulatorConfig
from cloudtasks_kit.emulator._http_attempt import send_http
from cloudtasks_kit.emulator._stats import Stats
from cloudtasks_kit.emulator._store import Database
from cloudtasks_kit.emulator._tokens import TokenSigner
from cloudtasks_kit.emulator.tasks import CloudTasksApi, Dispatcher, TaskStore
from cloudtasks_kit.emulator.tasks import _dispatcher as dispatcher_module

PARENT = "projects/test-project/locations/us-central1"
QUEUE = f"{PARENT}/queues/q"
URL = "http://127.0.0.1:9/task"
INTERNAL = 13  # google.rpc.Code of an attempt that got no response for an emulator error

# What a sender may raise that nobody expects: none of them is a network error.
UNEXPECTED: list[Callable[[], BaseException]] = [
    lambda: RuntimeError("boom"),
    lambda: KeyError("missing"),
    lambda: UnicodeEncodeError("ascii", "é", 0, 1, "ordinal not in range"),
    lambda: AttributeError("'NoneType' object has no attribute 'send'"),
    lambda: httpx.InvalidURL("Invalid port: '70000'"),
    lambda: RecursionError("maximum recursion depth exceeded"),
]


@dataclass
class Sender:
    """An httpx transport that records each attempt and raises the next scripted exception."""

    raises: list[BaseException]
    times: list[float] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.times.append(time.monotonic())
        if self.raises:
            raise self.raises.pop(0)
        return httpx.Response(200)


@dataclass
class Parts:
    api: CloudTasksApi
    store: TaskStore
    dispatcher: Dispatcher
    stats: Stats


Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
async def parts() -> AsyncIterator[Callable[[Handler], Parts]]:
    started: list[Parts] = []
    database = Database(None)

    def start(sender: Handler) -> Parts:
        store, clock, stats = TaskStore(database), Clock(), Stats()
        client = httpx.AsyncClient(transport=httpx.MockTransport(sender))
        signer = TokenSigner("http://issuer.local")
        dispatcher = Dispatcher(store, clock, signer, stats, client, tombstone_ttl=3600)
        api = CloudTasksApi(store, dispatcher, clock, stats, EmulatorConfig())
        dispatcher.start()
        started.append(Parts(api, store, dispatcher, stats))
        return started[-1]

    yield start
    for each in started:
        await each.dispatcher.stop()
    database.close()


def _queue(api: CloudTasksApi, *, max_attempts: int, min_backoff: float = 0.05) -> None:
    queue = tasks_v2.Queue(
        name=QUEUE,
        retry_config=tasks_v2.RetryConfig(
            max_attempts=max_attempts,
            min_backoff=timedelta(seconds=min_backoff),
            max_backoff=timedelta(seconds=60),
            max_doublings=4,
        ),
    )
    api.create_queue(tasks_v2.CreateQueueRequest.pb()(parent=PARENT, queue=queue._pb))


def _create(api: CloudTasksApi, name: str) -> Any:
    task = tasks_v2.Task(name=f"{QUEUE}/tasks/{name}", http_request=tasks_v2.HttpRequest(url=URL))
    return api.create_task(tasks_v2.CreateTaskRequest.pb()(parent=QUEUE, task=task._pb))


async def _until(condition: Callable[[], bool]) -> None:
    """Poll state that has no event to wait on (the store, the sender's record)."""
    async with asyncio.timeout(10):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


@pytest.mark.parametrize("error", UNEXPECTED, ids=lambda make: type(make()).__name__)
async def test_an_unexpected_exception_is_a_failed_attempt_that_is_retried(
    parts: Callable[[Handler], Parts], error: Callable[[], BaseException]
) -> None:
    sender = Sender([error(), error()])
    emulator = parts(sender)
    _queue(emulator.api, max_attempts=5)

    _create(emulator.api, "retried")
    await _until(lambda: len(sender.times) == 3)  # two failures, then a success
    await _until(lambda: emulator.store.task(f"{QUEUE}/tasks/retried") is None)

    # The backoff of the queue: 0.05 s, then 0.1 s.
    first, second, third = sender.times
    assert second - first >= 0.05 - 0.01
    assert third - second >= 0.1 - 0.01
    assert emulator.stats.attempts == {"failed": 2, "succeeded": 1}
    assert emulator.store.tombstone_reason(f"{QUEUE}/tasks/retried", time.time()) == "completed"


async def test_the_failed_attempt_is_recorded_in_last_attempt(
    parts: Callable[[Handler], Parts],
) -> None:
    sender = Sender([RuntimeError("boom")] * 2)
    emulator = parts(sender)
    # A long first backoff keeps the task between its attempts while it is looked at.
    _queue(emulator.api, max_attempts=5, min_backoff=30)
    name = f"{QUEUE}/tasks/recorded"
    _create(emulator.api, name.rsplit("/", 1)[1])
    await _until(lambda: len(sender.times) == 1)
    await _until(lambda: emulator.store.task(name).last_status is not None)  # type: ignore[union-attr]

    task = emulator.api.get_task(tasks_v2.GetTaskRequest.pb()(name=name))
    assert task.dispatch_count == 1
    assert task.response_count == 0
    assert task.last_attempt.response_status.code == INTERNAL
    assert "no response" in task.last_attempt.response_status.message
    assert task.schedule_time.ToNanoseconds() / 1e9 >= time.time() + 20  # retried, later


async def test_the_task_is_given_up_after_max_attempts(parts: Callable[[Handler], Parts]) -> None:
    sender = Sender([KeyError("x")] * 10)
    emulator = parts(sender)
    _queue(emulator.api, max_attempts=3)

    _create(emulator.api, "given-up")
    await _until(lambda: emulator.store.task(f"{QUEUE}/tasks/given-up") is None)

    assert len(sender.times) == 3
    assert emulator.stats.attempts == {"failed": 2, "gave_up": 1}
    assert emulator.store.tombstone_reason(f"{QUEUE}/tasks/given-up", time.time()) == "gave up"


async def test_a_sender_function_that_raises_is_handled_too(
    parts: Callable[[Handler], Parts], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Not only inside the HTTP client: send_http itself raising (a bug of its own).
    calls: list[float] = []
    real = send_http

    async def flaky(*args: Any, **kwargs: Any) -> Any:
        calls.append(time.monotonic())
        if len(calls) < 3:
            raise ValueError("a bug in the sender")
        return await real(*args, **kwargs)

    monkeypatch.setattr(dispatcher_module, "send_http", flaky)
    emulator = parts(Sender([]))
    _queue(emulator.api, max_attempts=5)

    _create(emulator.api, "flaky")
    await _until(lambda: emulator.store.task(f"{QUEUE}/tasks/flaky") is None)
    assert len(calls) == 3
    assert emulator.stats.attempts == {"failed": 2, "succeeded": 1}


@pytest.mark.parametrize("retry_after", ["inf", "nan", "1e400", "-5"])
async def test_a_retry_after_that_is_no_delay_falls_back_to_the_backoff(
    parts: Callable[[Handler], Parts], retry_after: str
) -> None:
    # "inf" used to schedule the retry at infinity: never sent, and every GetTask or ListTasks
    # of the task failed with INTERNAL.
    answers = [httpx.Response(503, headers={"Retry-After": retry_after}), httpx.Response(200)]
    times: list[float] = []

    def answer(request: httpx.Request) -> httpx.Response:
        times.append(time.monotonic())
        return answers.pop(0)

    emulator = parts(answer)
    _queue(emulator.api, max_attempts=5)
    name = f"{QUEUE}/tasks/after"
    _create(emulator.api, "after")
    await _until(lambda: len(times) == 1)
    listed = emulator.api.list_tasks(tasks_v2.ListTasksRequest.pb()(parent=QUEUE))
    assert [task.name for task in listed.tasks] in ([name], [])

    await _until(lambda: emulator.store.task(name) is None)
    assert len(times) == 2
    assert times[1] - times[0] < 5
