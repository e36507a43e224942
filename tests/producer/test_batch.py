"""``delay_many`` / ``adelay_many`` in BatchCreateTasks calls (``producer/_batch.py``): at most
100 tasks per call, an outcome per task, hooks and header checks per task, one producer span
per batch, retries within the create timeout, and single creates where there is no batch."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from google.api_core import exceptions
from google.cloud import tasks_v2
from google.longrunning import operations_pb2
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import BaseModel

from cloudtasks_kit import DelayedRoute, delayer
from cloudtasks_kit.testing import EmulatorProcess
from tests.support import Inbox, emulator_rpcs

router = APIRouter(route_class=DelayedRoute, prefix="/batch")
inbox = Inbox()


class Order(BaseModel):
    dish: str
    quantity: int


@router.post("/{table}/order")
async def order(table: int, item: Order) -> None:
    inbox.put(f"order {table}", item.model_dump())


app = FastAPI()
app.include_router(router)

LATER = delayer(order).options(countdown=600)  # stored, not sent: nothing to wait for


def calls(count: int, first: int = 0) -> list[dict[str, Any]]:
    return [{"table": first + n, "item": {"dish": "dosa", "quantity": 1}} for n in range(count)]


@pytest.fixture
def cloudtasks_app() -> FastAPI:
    return app


@pytest.fixture
def transport() -> str:
    return "grpc"


@pytest.fixture
def cloudtasks_settings_overrides(tmp_path: Path, transport: str) -> dict[str, Any]:
    return {
        "config_dir": tmp_path,
        "default_queue": "batch-queue",
        "tracing": False,
        "transport": transport,
    }


@pytest.fixture(autouse=True)
def _empty_inbox() -> None:
    inbox.clear()


class Rpcs:
    """What the emulator answered since the test began, per RPC."""

    def __init__(self, emulator: EmulatorProcess) -> None:
        self.url = emulator.http_url
        self.before = emulator_rpcs(self.url)

    def __call__(self, rpc: str) -> int:
        return emulator_rpcs(self.url).get(rpc, 0) - self.before.get(rpc, 0)


@pytest.fixture
def rpcs(cloudtasks_container: Any, cloudtasks_emulator: EmulatorProcess) -> Rpcs:
    return Rpcs(cloudtasks_emulator)


def stored(container: Any, queue: str | None = None) -> dict[str, Any]:
    path = queue or container.settings().queue_path()
    client = container.tasks_client()
    return {task.name.rsplit("/", 1)[1]: task for task in client.list_tasks(parent=path)}


# -- batches and outcomes --------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["grpc", "rest"])
def test_delay_many_sends_a_batch_per_100_tasks(cloudtasks_container: Any, rpcs: Rpcs) -> None:
    result = LATER.delay_many(calls(250), concurrency=2)

    assert result.ok
    assert [item.index for item in result.items] == list(range(250))
    assert (rpcs("BatchCreateTasks"), rpcs("CreateTask")) == (3, 0)
    tasks = stored(cloudtasks_container)
    assert {item.result.task_id for item in result.items if item.result} == set(tasks)
    first = result.items[0].result
    assert first is not None
    assert first.url.endswith("/batch/0/order")
    assert first.queue == cloudtasks_container.settings().queue_path()
    assert tasks[first.task_id].http_request.url == first.url
    # Within a microsecond: proto-plus truncates the nanoseconds, the result rounds them.
    assert abs(tasks[first.task_id].schedule_time - first.schedule_time) <= timedelta(
        microseconds=1
    )


async def test_adelay_many_sends_batches_and_the_tasks_run(
    cloudtasks_container: Any, rpcs: Rpcs
) -> None:
    result = await delayer(order).adelay_many(calls(120), concurrency=4)

    assert [item.status for item in result.items] == ["created"] * 120
    assert (rpcs("BatchCreateTasks"), rpcs("CreateTask")) == (2, 0)
    assert inbox.wait_for("order 119") == [{"dish": "dosa", "quantity": 1}]
    await cloudtasks_container.shutdown_resources()


@pytest.mark.parametrize("transport", ["grpc", "rest"])
def test_a_retried_delay_many_creates_nothing_twice(cloudtasks_container: Any, rpcs: Rpcs) -> None:
    ids = [f"again-{n}" for n in range(130)]
    first = LATER.delay_many(calls(70), task_ids=ids[:70])
    again = LATER.delay_many(calls(130), task_ids=ids)

    assert first.ok
    statuses = [item.status for item in again.items]
    assert statuses == ["already_exists"] * 70 + ["created"] * 60
    assert "again-3" in (again.items[3].error or "")
    assert again.ok  # a name taken is not a failure
    assert set(stored(cloudtasks_container)) == set(ids)
    assert rpcs("CreateTask") == 0


def test_what_the_service_refuses_is_failed_with_its_reason_and_the_rest_created(
    cloudtasks_container: Any,
) -> None:
    def break_odd_tables(request: tasks_v2.CreateTaskRequest) -> tasks_v2.CreateTaskRequest:
        url = request.task.http_request.url
        if url.endswith(("1/order", "3/order")):
            request.task.http_request.url = url.replace("http://", "ftp://")
        return request

    result = LATER.options(hooks=[break_odd_tables]).delay_many(calls(5))

    assert [item.status for item in result.items] == [
        "created",
        "failed",
        "created",
        "failed",
        "created",
    ]
    assert "Cloud Tasks refused the task" in (result.items[1].error or "")
    assert "task.http_request.url" in (result.items[1].error or "")
    assert not result.ok
    assert len(stored(cloudtasks_container)) == 3


# -- hooks, header checks and tracing -----------------------------------------------------------


def test_hooks_run_once_per_task_and_headers_are_checked_after_them(
    cloudtasks_container: Any, rpcs: Rpcs
) -> None:
    seen: list[str] = []

    def tag(request: tasks_v2.CreateTaskRequest) -> tasks_v2.CreateTaskRequest:
        url = request.task.http_request.url
        seen.append(url)
        value = "a\r\nInjected: 1" if url.endswith("/2/order") else f"tag-{len(seen)}"
        request.task.http_request.headers["X-Tag"] = value
        return request

    result = LATER.options(hooks=[tag]).delay_many(calls(4))

    assert len(seen) == 4
    assert [item.status for item in result.items] == ["created", "created", "failed", "created"]
    assert "CR" in (result.items[2].error or "")
    assert rpcs("BatchCreateTasks") == 1
    tasks = stored(cloudtasks_container)
    assert len(tasks) == 3
    client = cloudtasks_container.tasks_client()
    full = client.get_task(request={"name": next(iter(tasks.values())).name, "response_view": 2})
    assert full.http_request.headers["X-Tag"].startswith("tag-")


@pytest.fixture
def traced(cloudtasks_container: Any) -> Iterator[None]:
    on = cloudtasks_container.settings().model_copy(update={"tracing": True})
    with cloudtasks_container.settings.override(on), cloudtasks_container.delayed_hooks.reset():
        yield


@pytest.mark.usefixtures("traced")
async def test_one_producer_span_per_batch_is_the_parent_of_its_tasks(
    spans: InMemorySpanExporter, cloudtasks_container: Any
) -> None:
    result = await LATER.adelay_many(calls(150), concurrency=1)

    producers = [s for s in spans.get_finished_spans() if s.kind is trace.SpanKind.PRODUCER]
    assert [span.name for span in producers] == ["create batch-queue"] * 2
    counts = [(span.attributes or {})["messaging.batch.message_count"] for span in producers]
    assert counts == [100, 50]
    ids = [_ids(span.attributes) for span in producers]
    assert ids[0] + ids[1] == [item.result.task_id for item in result.items if item.result]
    client = cloudtasks_container.tasks_client()
    queue = cloudtasks_container.settings().queue_path()
    for span, batch_ids in zip(producers, ids, strict=True):
        assert span.context is not None
        for task_id in (batch_ids[0], batch_ids[-1]):
            name = f"{queue}/tasks/{task_id}"
            task = client.get_task(request={"name": name, "response_view": 2})
            _, trace_id, parent_id, _ = task.http_request.headers["traceparent"].split("-")
            assert trace_id == format(span.context.trace_id, "032x")
            assert parent_id == format(span.context.span_id, "016x")
    await cloudtasks_container.shutdown_resources()


def _ids(attributes: Any) -> list[str]:
    return list(attributes["cloudtasks_kit.task_ids"])


# -- where there is no batch, and what a batch call may meet ---------------------------------------


class Service:
    """The real client, with what the emulator cannot be made to do put in between."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.batches = 0
        self.creates = 0

    def create_task(self, request: Any, **options: Any) -> Any:
        self.creates += 1
        return self.real.create_task(request=request, **options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


class NoBatches(Service):
    """A service that answers BatchCreateTasks with UNIMPLEMENTED (an older API, say)."""

    def batch_create_tasks(self, **_: Any) -> Any:
        self.batches += 1
        raise exceptions.MethodNotImplemented("BatchCreateTasks is not implemented")


def test_unimplemented_falls_back_to_single_creates_and_is_remembered(
    cloudtasks_container: Any,
) -> None:
    service = NoBatches(cloudtasks_container.tasks_client())
    seen: list[str] = []

    def count(request: tasks_v2.CreateTaskRequest) -> tasks_v2.CreateTaskRequest:
        seen.append(request.task.http_request.url)
        return request

    counted = LATER.options(hooks=[count])
    with cloudtasks_container.tasks_client.override(service):
        first = counted.delay_many(calls(150), concurrency=1)
        second = counted.delay_many(calls(10, first=150), concurrency=3)

    assert first.ok
    assert second.ok
    assert service.batches == 1  # then remembered for this client
    assert service.creates == 160
    assert len(seen) == 160  # the hooks ran once per task, the fallback included
    assert len(stored(cloudtasks_container)) == 160


class RunningFirst(Service):
    """A service whose operation is not done at once: the first poll finds it running."""

    polls = 0

    def batch_create_tasks(self, request: Any, **options: Any) -> Any:
        self.batches += 1
        running = copy.deepcopy(self.real.batch_create_tasks(request=request, **options).operation)
        running.done = False
        running.ClearField("response")
        return SimpleNamespace(operation=running)

    def get_operation(self, request: Any, **options: Any) -> Any:
        self.polls += 1
        operation = self.real.get_operation(request=request, **options)
        if self.polls == 1:
            operation.done = False
            operation.ClearField("response")
        return operation


@pytest.mark.parametrize("transport", ["grpc", "rest"])
def test_a_running_operation_is_polled_until_done(cloudtasks_container: Any) -> None:
    service = RunningFirst(cloudtasks_container.tasks_client())
    with cloudtasks_container.tasks_client.override(service):
        result = LATER.delay_many(calls(3))

    assert [item.status for item in result.items] == ["created"] * 3
    assert (service.batches, service.polls) == (1, 2)


class Unavailable(Service):
    """UNAVAILABLE: for the whole first call (``whole``), else for the first task of each call
    (the others created), ``times`` times."""

    def __init__(self, real: Any, *, whole: bool, times: int) -> None:
        super().__init__(real)
        self.whole = whole
        self.times = times
        self.sizes: list[int] = []

    def batch_create_tasks(self, request: Any, **options: Any) -> Any:
        self.batches += 1
        self.sizes.append(len(request.requests))
        if self.batches > self.times:
            return self.real.batch_create_tasks(request=request, **options)
        if self.whole:
            raise exceptions.ServiceUnavailable("try again")
        metadata = tasks_v2.BatchCreateTasksMetadata.pb()()
        if len(request.requests) > 1:
            rest = tasks_v2.BatchCreateTasksRequest(
                parent=request.parent, requests=request.requests[1:]
            )
            operation = copy.deepcopy(self.real.batch_create_tasks(request=rest).operation)
            operation.metadata.Unpack(metadata)
            assert not metadata.failed_requests
        else:  # none succeeded: the operation's error, as the emulator answers it
            operation = operations_pb2.Operation(name="x/operations/1", done=True)
            operation.error.code = 10  # ABORTED
            operation.error.message = "None of the requests succeeded"
        metadata.failed_requests[0].code = 14  # UNAVAILABLE
        metadata.failed_requests[0].message = "this one, later"
        operation.metadata.Pack(metadata)
        return SimpleNamespace(operation=operation)


@pytest.mark.parametrize("whole", [True, False], ids=["call", "task"])
def test_transient_failures_are_sent_again_within_the_create_timeout(
    cloudtasks_container: Any, whole: bool
) -> None:
    service = Unavailable(cloudtasks_container.tasks_client(), whole=whole, times=1)
    with cloudtasks_container.tasks_client.override(service):
        result = LATER.delay_many(calls(4))

    assert [item.status for item in result.items] == ["created"] * 4
    # Sent again: everything after a failed call; only the task that failed, after a task did.
    assert service.sizes == ([4, 4] if whole else [4, 1])
    assert len(stored(cloudtasks_container)) == 4


def test_a_task_that_stays_unavailable_fails_after_the_retries(cloudtasks_container: Any) -> None:
    service = Unavailable(cloudtasks_container.tasks_client(), whole=False, times=99)
    with cloudtasks_container.tasks_client.override(service):
        result = LATER.options(create_timeout=5).delay_many(calls(3))

    assert [item.status for item in result.items] == ["failed", "created", "created"]
    assert "after retries" in (result.items[0].error or "")
    assert "this one, later" in (result.items[0].error or "")
    retries = cloudtasks_container.settings().task_create_retries
    assert service.sizes == [3] + [1] * retries


def test_a_missing_queue_fails_every_task_or_is_created_where_allowed(
    cloudtasks_container: Any,
) -> None:
    missing = LATER.options(queue="made-by-batch")
    refused = missing.delay_many(calls(3))
    assert [item.status for item in refused.items] == ["failed"] * 3
    assert "queues sync" in (refused.items[0].error or "")

    allowed = cloudtasks_container.settings().model_copy(update={"create_missing_queues": True})
    with cloudtasks_container.settings.override(allowed):
        created = missing.delay_many(calls(3))
    assert created.ok
    queue = created.items[0].result
    assert queue is not None
    assert len(stored(cloudtasks_container, queue.queue)) == 3
