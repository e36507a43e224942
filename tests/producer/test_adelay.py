"""``adelay()``, ``delay_many()`` / ``adelay_many()`` and the warning for a blocking delay."""

from __future__ import annotations

import asyncio
import warnings
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from google.api_core import exceptions
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import BaseModel

from cloudtasks_kit import (
    BlockingDelayWarning,
    DelayedRoute,
    InvalidTaskArguments,
    TaskAlreadyExists,
    delayer,
)
from cloudtasks_kit.testing import EmulatorProcess
from tests.support import Inbox, emulator_rpcs, untyped

router = APIRouter(route_class=DelayedRoute, prefix="/async")
inbox = Inbox()


class Order(BaseModel):
    dish: str
    quantity: int


@router.post("/{table}/order")
async def order(table: int, item: Order) -> None:
    inbox.put(f"order {table}", item.model_dump())


app = FastAPI()
app.include_router(router, prefix="/v2")


@pytest.fixture
def cloudtasks_app() -> FastAPI:
    return app


@pytest.fixture
def cloudtasks_settings_overrides(tmp_path: Path) -> dict[str, Any]:
    return {"config_dir": tmp_path, "default_queue": "async-queue", "tracing": False}


@pytest.fixture(autouse=True)
def _empty_inbox() -> None:
    inbox.clear()


async def test_adelay_round_trip(cloudtasks_container: Any) -> None:
    result = await delayer(order).adelay(table=7, item=Order(dish="dal", quantity=2))
    assert result.url.endswith("/v2/async/7/order")
    assert await asyncio.to_thread(inbox.wait_for, "order 7") == [{"dish": "dal", "quantity": 2}]
    await cloudtasks_container.shutdown_resources()


async def test_adelay_validates_before_any_rpc(
    cloudtasks_container: Any, cloudtasks_emulator: EmulatorProcess
) -> None:
    before = emulator_rpcs(cloudtasks_emulator.http_url).get("CreateTask", 0)
    with pytest.raises(InvalidTaskArguments, match="quantity"):
        await untyped(order).adelay(table=1, item={"dish": "dal", "quantity": "many"})
    assert emulator_rpcs(cloudtasks_emulator.http_url).get("CreateTask", 0) == before


async def test_adelay_duplicate_task_id(cloudtasks_container: Any) -> None:
    named = delayer(order).options(task_id="table-3-once", countdown=600)
    await named.adelay(table=3, item=Order(dish="chai", quantity=1))
    with pytest.raises(TaskAlreadyExists):
        await named.adelay(table=3, item=Order(dish="chai", quantity=1))
    await cloudtasks_container.shutdown_resources()


async def test_sync_delay_in_a_running_loop_warns_with_the_fix(cloudtasks_container: Any) -> None:
    with pytest.warns(BlockingDelayWarning, match="adelay"):
        delayer(order).options(countdown=600).delay(table=4, item=Order(dish="x", quantity=1))


async def test_the_warning_comes_once_per_call_site_with_tracing_on(
    cloudtasks_container: Any, spans: InMemorySpanExporter
) -> None:
    # OpenTelemetry's SDK resets the warning filters in every get_tracer(), which empties the
    # warnings module's own once-per-location registry on each traced .delay().
    traced = cloudtasks_container.settings().model_copy(update={"tracing": True})
    late = delayer(order).options(countdown=600)
    with (
        cloudtasks_container.settings.override(traced),
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("default")
        for n in range(3):
            late.delay(table=20 + n, item=Order(dish="x", quantity=1))
        late.delay(table=23, item=Order(dish="x", quantity=1))

    blocking = [each for each in caught if issubclass(each.category, BlockingDelayWarning)]
    assert len(spans.get_finished_spans()) == 4  # traced: get_tracer() ran each time
    assert len(blocking) == 2
    assert blocking[0].lineno != blocking[1].lineno


async def test_cancelled_adelay_leaves_nothing_half_done(cloudtasks_container: Any) -> None:
    named = delayer(order).options(task_id="cancel-me", countdown=600)
    attempt = asyncio.ensure_future(named.adelay(table=5, item=Order(dish="soup", quantity=1)))
    await asyncio.sleep(0)  # the request is on its way
    attempt.cancel()
    with pytest.raises(asyncio.CancelledError):
        await attempt
    client = cloudtasks_container.tasks_client()
    queue = cloudtasks_container.settings().queue_path()
    try:
        task = client.get_task(name=f"{queue}/tasks/cancel-me")
    except exceptions.NotFound:
        # Not created: creating it now works, once.
        await named.adelay(table=5, item=Order(dish="soup", quantity=1))
    else:
        # Created whole: its request is complete and the name is taken.
        assert task.http_request.url.endswith("/v2/async/5/order")
        assert b'"soup"' in task.http_request.body
    with pytest.raises(TaskAlreadyExists):
        await named.adelay(table=5, item=Order(dish="soup", quantity=1))
    await cloudtasks_container.shutdown_resources()


async def test_adelay_many_creates_each_once_and_a_retry_creates_nothing_twice(
    cloudtasks_container: Any,
) -> None:
    calls = [{"table": 100 + i, "item": {"dish": "idli", "quantity": i + 1}} for i in range(40)]
    ids = [f"bulk-{i}" for i in range(40)]
    bulk = delayer(order).options(countdown=600)
    first = await bulk.adelay_many(calls[:25], task_ids=ids[:25], concurrency=8)
    assert first.ok
    assert [item.status for item in first.items] == ["created"] * 25
    assert [item.index for item in first.items] == list(range(25))
    # The caller retries the whole batch: the first 25 exist, the rest are created.
    again = await bulk.adelay_many(calls, task_ids=ids, concurrency=8)
    assert [item.status for item in again.items] == ["already_exists"] * 25 + ["created"] * 15
    client = cloudtasks_container.tasks_client()
    queue = cloudtasks_container.settings().queue_path()
    names = {task.name.rsplit("/", 1)[1] for task in client.list_tasks(parent=queue)}
    assert set(ids) <= names
    await cloudtasks_container.shutdown_resources()


async def test_bulk_validates_every_item_before_the_first_rpc(
    cloudtasks_container: Any, cloudtasks_emulator: EmulatorProcess
) -> None:
    before = emulator_rpcs(cloudtasks_emulator.http_url)
    calls: list[dict[str, Any]] = [
        {"table": 1, "item": {"dish": "a", "quantity": 1}},
        {"table": "two", "item": {"dish": "b", "quantity": 1}},
        {"table": 3, "item": {"dish": "c"}},
    ]
    with pytest.raises(InvalidTaskArguments) as error:
        await delayer(order).adelay_many(calls)
    assert "item 1: " in str(error.value)
    assert "item 2: " in str(error.value)
    assert "item 0" not in str(error.value)
    with pytest.raises(ValueError, match="2 ids for 3 calls"):
        await delayer(order).adelay_many(calls, task_ids=["a", "b"])
    after = emulator_rpcs(cloudtasks_emulator.http_url)
    for rpc in ("CreateTask", "BatchCreateTasks"):
        assert after.get(rpc, 0) == before.get(rpc, 0)


def test_sync_delay_many(cloudtasks_container: Any) -> None:
    calls = [{"table": 200 + i, "item": {"dish": "vada", "quantity": 1}} for i in range(12)]
    result = delayer(order).delay_many(calls, concurrency=4)
    assert result.ok
    assert len(result.created) == 12
    for i in range(12):
        inbox.wait_for(f"order {200 + i}")


def test_bulk_reports_items_that_failed_and_why(cloudtasks_container: Any) -> None:
    real = cloudtasks_container.tasks_client()

    class RefusesOdd:
        """Cloud Tasks refusing some items (a fault the emulator cannot be made to have)."""

        def __init__(self) -> None:
            self.calls = 0

        def create_task(self, request: Any, **_: Any) -> Any:
            self.calls += 1
            if request.task.http_request.url.endswith(("1/order", "3/order")):
                raise exceptions.PermissionDenied("not allowed for this table")
            return real.create_task(request=request)

    fake = RefusesOdd()
    calls = [{"table": i, "item": {"dish": "d", "quantity": 1}} for i in range(4)]
    with cloudtasks_container.tasks_client.override(fake):
        result = delayer(order).options(countdown=600).delay_many(calls, concurrency=2)
    assert [item.status for item in result.items] == ["created", "failed", "created", "failed"]
    assert not result.ok
    assert "not allowed for this table" in (result.failed[0].error or "")
    assert fake.calls == 4
