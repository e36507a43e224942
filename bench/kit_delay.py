"""The kit's own cost when enqueuing: ``.delay()``, ``adelay()`` and ``adelay_many()`` vs the
official client with the request built by hand, against the same emulator, same payload.

The route takes a path parameter, a query parameter, a header and a nested pydantic body;
both sides send the same URL, headers and JSON (checked before measuring). The queue is
paused, so nothing is dispatched: only CreateTask is measured. Each benchmark runs in rounds
that alternate which side goes first; a figure is the median of the per-round ratios.

1. ``sync``: ``.delay()`` vs ``CloudTasksClient.create_task`` with the request built inline,
   one call after another.
2. ``async``: ``await .adelay()`` with 64 in flight vs ``CloudTasksAsyncClient.create_task``
   with 64 in flight; and its tasks/s over a sync ``.delay()`` loop's.
3. ``bulk``: ``adelay_many(calls)`` (BatchCreateTasks, 100 tasks a call, 64 calls in flight)
   vs the awaitable loop of 2: tasks/s, target 5x.
5. ``binding``: ``RouteBinder.bind`` alone (no RPC) per call, and its share of a ``.delay()``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Header
from pydantic import BaseModel, Field

from bench._common import (
    PROJECT_LOCATION,
    Figure,
    async_tasks_client,
    create_queue,
    median_ratio,
    print_figures,
    run_bounded,
)
from cloudtasks_kit import DelayedRoute, delayer

__all__ = ["run"]

BENCH = "kit_delay"
CONCURRENCY = 64
QUEUE_ID = "bench"
BASE_URL = "http://127.0.0.1:9"  # never dialled: the queue stays paused
SYNC_TARGET = 1.05
SYNC_BLOCKS = 10
ASYNC_TARGET = 1.05
SYNC_BLOCKS = 10
ASYNC_SPEEDUP_TARGET = 3.0
# adelay_many in BatchCreateTasks calls: tasks/s over the adelay loop's.
BULK_TARGET = 5.0


# -- the route: path, query, header and a nested body ---------------------------------------


class Item(BaseModel):
    sku: str
    quantity: int = Field(ge=1)
    notes: list[str] = []


class Customer(BaseModel):
    name: str
    email: str


class Order(BaseModel):
    customer: Customer
    items: list[Item]
    total_cents: int


router = APIRouter(route_class=DelayedRoute)


@router.post("/tables/{table}/orders")
async def place_order(
    table: int,
    order: Order,
    rush: bool = False,
    x_request_id: Annotated[str, Header()] = "",
) -> None:
    """Never runs here: the benchmark's queue is paused."""


app = FastAPI()
app.include_router(router)

#: What a caller holds: plain data, as it would go to ``json.dumps`` in a hand-built request.
ORDER: dict[str, Any] = {
    "customer": {"name": "Ada Lovelace", "email": "ada@example.com"},
    "items": [
        {"sku": "tea-earl-grey", "quantity": 2, "notes": ["no sugar"]},
        {"sku": "scone", "quantity": 3, "notes": []},
        {"sku": "jam-strawberry", "quantity": 1, "notes": ["on the side"]},
    ],
    "total_cents": 1850,
}
TABLE = 7


def kit_arguments(index: int) -> dict[str, Any]:
    return {"table": TABLE, "rush": True, "x_request_id": f"req-{index}", "order": ORDER}


# -- the two sides ---------------------------------------------------------------------------


@dataclass
class Sides:
    """The kit (through a container, as an application uses it) and the raw clients."""

    container: Any
    raw: Any  # tasks_v2.CloudTasksClient
    parent: str
    araw: Any = None  # tasks_v2.CloudTasksAsyncClient, made inside the running loop


def raw_sync(sides: Sides, n: int, start: int) -> float:
    """``n`` hand-built CreateTask calls, one after another: seconds taken."""
    from google.cloud import tasks_v2

    client, parent = sides.raw, sides.parent
    began = time.perf_counter()
    for index in range(start, start + n):
        task = tasks_v2.Task(
            http_request=tasks_v2.HttpRequest(
                url=f"{BASE_URL}/tables/{TABLE}/orders?rush=true",
                http_method=tasks_v2.HttpMethod.POST,
                headers={"x-request-id": f"req-{index}", "content-type": "application/json"},
                body=json.dumps(ORDER).encode(),
            )
        )
        client.create_task(parent=parent, task=task)
    return time.perf_counter() - began


def kit_sync(n: int, start: int) -> float:
    """``n`` ``.delay()`` calls, one after another: seconds taken."""
    # Untyped: the order goes as a dict, validated by the binder as a user's JSON would be.
    delay: Callable[..., Any] = delayer(place_order).delay
    began = time.perf_counter()
    for index in range(start, start + n):
        delay(table=TABLE, rush=True, x_request_id=f"req-{index}", order=ORDER)
    return time.perf_counter() - began


async def raw_async(sides: Sides, n: int, start: int) -> float:
    """``n`` hand-built CreateTask calls on the async client, 64 in flight: seconds taken."""
    from google.cloud import tasks_v2

    client, parent = sides.araw, sides.parent

    async def create(index: int) -> None:
        task = tasks_v2.Task(
            http_request=tasks_v2.HttpRequest(
                url=f"{BASE_URL}/tables/{TABLE}/orders?rush=true",
                http_method=tasks_v2.HttpMethod.POST,
                headers={
                    "x-request-id": f"req-{start + index}",
                    "content-type": "application/json",
                },
                body=json.dumps(ORDER).encode(),
            )
        )
        await client.create_task(parent=parent, task=task)

    began = time.perf_counter()
    await run_bounded(n, CONCURRENCY, create)
    return time.perf_counter() - began


async def kit_async(n: int, start: int) -> float:
    """``n`` ``await .adelay()`` calls, 64 in flight: seconds taken."""
    adelay: Callable[..., Awaitable[Any]] = delayer(place_order).adelay

    async def create(index: int) -> None:
        await adelay(table=TABLE, rush=True, x_request_id=f"req-{start + index}", order=ORDER)

    began = time.perf_counter()
    await run_bounded(n, CONCURRENCY, create)
    return time.perf_counter() - began


async def kit_bulk(n: int, start: int) -> float:
    """One ``adelay_many`` of ``n`` calls (batches of 100, 64 calls in flight): seconds taken
    (building the list of calls included, as the loop builds each call's keywords in its own
    time)."""
    began = time.perf_counter()
    calls = [kit_arguments(start + index) for index in range(n)]
    result = await delayer(place_order).adelay_many(calls, concurrency=CONCURRENCY)
    elapsed = time.perf_counter() - began
    if not result.ok or len(result.created) != n:
        raise RuntimeError(f"adelay_many: {len(result.failed)} of {n} failed: {result.failed[:1]}")
    return elapsed


# -- setup ------------------------------------------------------------------------------------


@contextlib.contextmanager
def kit_sides() -> Iterator[Sides]:
    """An emulator with a paused queue, a kit container wired to it, and the raw client."""
    import grpc
    from dependency_injector import providers
    from google.cloud import tasks_v2
    from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

    from cloudtasks_kit import Container
    from cloudtasks_kit.settings import load_settings
    from cloudtasks_kit.testing import EmulatorProcess

    with (
        tempfile.TemporaryDirectory(prefix="bench-kit-") as directory,
        EmulatorProcess(args=["--log-level", "WARNING"]) as emulator,
    ):
        asyncio.run(_create_paused_queue(emulator.grpc_target))
        settings = load_settings(
            project="bench",
            location="local",
            emulator_host=emulator.grpc_target,
            base_url=BASE_URL,
            default_queue=QUEUE_ID,
            tracing=False,
            config_dir=Path(directory),
        )
        container = Container(settings=providers.Object(settings), worker_app=providers.Object(app))
        # Wired, as an application wires its container: .delay() finds it as the default.
        container.wire()
        channel = grpc.insecure_channel(emulator.grpc_target)
        raw = tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))
        sides = Sides(container, raw, f"{PROJECT_LOCATION}/queues/{QUEUE_ID}")
        try:
            _check_same_request(sides)
            _purge(sides)
            yield sides
        finally:
            raw.transport.close()
            container.tasks_client.shutdown()
            container.unwire()


async def _create_paused_queue(target: str) -> None:
    client = async_tasks_client(target)
    await create_queue(client, QUEUE_ID, paused=True)
    await client.transport.close()


def _check_same_request(sides: Sides) -> None:
    """Both sides must send the same thing, or the comparison means nothing."""
    created = delayer(place_order).delay(**kit_arguments(0))
    kit = sides.raw.get_task(request={"name": created.name, "response_view": 2}).http_request
    raw_sync(sides, 1, 0)
    listed = sides.raw.list_tasks(request={"parent": sides.parent, "response_view": 2})
    raw = next(t for t in listed if t.name != created.name).http_request
    same = (
        kit.url == raw.url
        and kit.http_method == raw.http_method
        and dict(kit.headers) == dict(raw.headers)
        and json.loads(kit.body) == json.loads(raw.body)
    )
    if not same:
        raise RuntimeError(f"the kit and the hand-built request differ:\n{kit}\n{raw}")


def _purge(sides: Sides) -> None:
    """Empty the queue between rounds so that every round starts from the same store."""
    sides.raw.purge_queue(name=sides.parent)


# -- 1. sync ----------------------------------------------------------------------------------


def bench_sync(sides: Sides, n: int, rounds: int) -> tuple[list[Figure], float]:
    """Returns the figures and the kit's median seconds per ``.delay()``.

    A round is ``SYNC_BLOCKS`` short blocks per side in the order kit, raw, raw, kit, ...: a
    burst of load from elsewhere on the machine lands on both sides alike.
    """
    block = max(1, n // (rounds * SYNC_BLOCKS))
    kit_sync(200, 0)  # warm both channels and every lazy import
    raw_sync(sides, 200, 0)
    pairs: list[tuple[float, float]] = []
    cpu: list[tuple[float, float]] = []
    index = 1000
    for round_no in range(rounds):
        took = {"kit": [0.0, 0.0], "raw": [0.0, 0.0]}
        for block_no in range(SYNC_BLOCKS):
            order = ("kit", "raw") if block_no % 2 == 0 else ("raw", "kit")
            for side in order:
                wall, used = time.perf_counter(), time.process_time()
                if side == "kit":
                    kit_sync(block, index)
                else:
                    raw_sync(sides, block, index)
                took[side][0] += time.perf_counter() - wall
                took[side][1] += time.process_time() - used
                index += block
        per_round = block * SYNC_BLOCKS
        pairs.append((took["kit"][0] / per_round, took["raw"][0] / per_round))
        cpu.append((took["kit"][1] / per_round, took["raw"][1] / per_round))
        _log(f"sync round {round_no}", took["kit"][0], took["raw"][0], per_round)
        _purge(sides)
    ratio = median_ratio(pairs)
    kit_each = statistics.median(m for m, _ in pairs)
    total = block * SYNC_BLOCKS * rounds
    figures = [
        Figure(
            BENCH,
            f".delay()/raw create_task, time per task ({total} each, {rounds} rounds)",
            f"{ratio:.3f}x",
            f"<= {SYNC_TARGET}x",
            ratio <= SYNC_TARGET,
        ),
        Figure(BENCH, "  .delay() per task (median)", f"{kit_each * 1e6:.0f} us"),
        Figure(
            BENCH,
            "  raw create_task per task (median)",
            f"{statistics.median(b for _, b in pairs) * 1e6:.0f} us",
        ),
        Figure(BENCH, "  per-round ratios min/max", _spread(pairs)),
        Figure(
            BENCH,
            "  client CPU per task kit/raw (us)",
            f"{statistics.median(m for m, _ in cpu) * 1e6:.0f}/"
            f"{statistics.median(b for _, b in cpu) * 1e6:.0f}",
        ),
    ]
    return figures, kit_each


# -- 2 and 3. async and bulk --------------------------------------------------------------------


async def _bench_async(sides: Sides, n: int, sync_n: int, rounds: int) -> list[Figure]:
    sides.araw = async_tasks_client(sides.container.settings().emulator_host)
    warm = min(n, 500)
    await kit_async(warm, 0)
    await raw_async(sides, warm, 0)
    await kit_bulk(warm, 0)
    await asyncio.to_thread(kit_sync, min(sync_n, 100), 0)
    versus_raw: list[tuple[float, float]] = []
    versus_loop: list[tuple[float, float]] = []
    speedups: list[tuple[float, float]] = []
    raw_speedups: list[tuple[float, float]] = []
    # Each round runs all four; the order rotates so that none is always first or last.
    order: list[tuple[str, Callable[[int], Any]]] = [
        ("kit", lambda start: kit_async(n, start)),
        ("raw", lambda start: raw_async(sides, n, start)),
        ("bulk", lambda start: kit_bulk(n, start)),
        ("sync", lambda start: asyncio.to_thread(kit_sync, sync_n, start)),
    ]
    for round_no in range(rounds):
        took: dict[str, float] = {}
        shift = round_no % len(order)
        for name, call in order[shift:] + order[:shift]:
            took[name] = await call((round_no + 1) * n)
            await asyncio.to_thread(_purge, sides)
        versus_raw.append((took["kit"], took["raw"]))
        versus_loop.append((took["bulk"], took["kit"]))
        # tasks/s of adelay over tasks/s of the sync loop (a ratio of rates, higher is better)
        speedups.append((n / took["kit"], sync_n / took["sync"]))
        # The same for the raw async client: what the emulator and gRPC allow at all.
        raw_speedups.append((n / took["raw"], sync_n / took["sync"]))
        print(
            f"    async round {round_no}: adelay {n / took['kit']:6.0f}/s  raw async "
            f"{n / took['raw']:6.0f}/s  adelay_many {n / took['bulk']:6.0f}/s  "
            f"sync .delay() {sync_n / took['sync']:6.0f}/s",
            flush=True,
        )
    await sides.container.async_tasks_client.shutdown()
    await sides.araw.transport.close()
    async_ratio = median_ratio(versus_raw)
    # tasks/s of adelay_many over the loop's: the loop's time over adelay_many's.
    bulk_speedup = median_ratio([(loop, bulk) for bulk, loop in versus_loop])
    speedup = median_ratio(speedups)
    return [
        Figure(
            BENCH,
            f"adelay/raw async, time ({n} tasks, c={CONCURRENCY}, {rounds} rounds)",
            f"{async_ratio:.3f}x",
            f"<= {ASYNC_TARGET}x",
            async_ratio <= ASYNC_TARGET,
        ),
        Figure(BENCH, "  adelay tasks/s (median)", f"{_median_rate(n, versus_raw, 0):.0f}"),
        Figure(BENCH, "  raw async tasks/s (median)", f"{_median_rate(n, versus_raw, 1):.0f}"),
        Figure(BENCH, "  per-round ratios min/max", _spread(versus_raw)),
        Figure(
            BENCH,
            f"adelay (c={CONCURRENCY}) / sync .delay() loop, tasks/s",
            f"{speedup:.2f}x",
            f">= {ASYNC_SPEEDUP_TARGET}x",
            speedup >= ASYNC_SPEEDUP_TARGET,
        ),
        Figure(
            BENCH,
            f"  sync .delay() loop tasks/s ({sync_n} per round, median)",
            f"{statistics.median(s for _, s in speedups):.0f}",
        ),
        Figure(
            BENCH,
            "  raw async client (c=64) / sync .delay() loop, tasks/s (the cap)",
            f"{median_ratio(raw_speedups):.2f}x",
        ),
        Figure(
            BENCH,
            f"adelay_many (batches of 100) / adelay loop, tasks/s ({n} tasks)",
            f"{bulk_speedup:.2f}x",
            f">= {BULK_TARGET}x",
            bulk_speedup >= BULK_TARGET,
        ),
        Figure(BENCH, "  adelay_many tasks/s (median)", f"{_median_rate(n, versus_loop, 0):.0f}"),
        Figure(
            BENCH,
            "  per-round speedups min/max",
            _spread([(loop, bulk) for bulk, loop in versus_loop]),
        ),
    ]


# -- 5. binding --------------------------------------------------------------------------------


def bench_binding(delay_seconds: float, quick: bool) -> list[Figure]:
    """``bind`` alone, in batches; the median batch gives microseconds per call."""
    route = next(r for r in router.routes if isinstance(r, DelayedRoute))
    bind = route.binder.bind
    calls, batches = (2000, 3) if quick else (20_000, 7)
    arguments = kit_arguments(1)
    for _ in range(500):
        bind(**arguments)
    per_call: list[float] = []
    for _ in range(batches):
        began = time.perf_counter()
        for _ in range(calls):
            bind(**arguments)
        per_call.append((time.perf_counter() - began) / calls)
    bind_each = statistics.median(per_call)
    return [
        Figure(
            BENCH,
            "binding alone (path, query, header, nested body), per call",
            f"{bind_each * 1e6:.1f} us",
        ),
        Figure(
            BENCH, "  share of one .delay() (sync, emulator)", f"{bind_each / delay_seconds:.1%}"
        ),
    ]


# -- running ------------------------------------------------------------------------------------


def run(quick: bool = False) -> list[Figure]:
    sync_n, async_n, rounds = (600, 1000, 1) if quick else (6000, 10_000, 5)
    async_rounds = 1 if quick else 3
    with kit_sides() as sides:
        figures, delay_seconds = bench_sync(sides, sync_n, rounds)
        figures += asyncio.run(_bench_async(sides, async_n, sync_n // 3, async_rounds))
        figures += bench_binding(delay_seconds, quick)
    return figures


def _log(label: str, measured: float, baseline: float, n: int) -> None:
    print(
        f"    {label}: kit {measured / n * 1e6:6.0f} us/task  raw {baseline / n * 1e6:6.0f} "
        f"us/task  ratio {measured / baseline:.3f}",
        flush=True,
    )


def _spread(pairs: list[tuple[float, float]]) -> str:
    ratios = [m / b for m, b in pairs]
    return f"{min(ratios):.2f}/{max(ratios):.2f}"


def _median_rate(n: int, pairs: list[tuple[float, float]], side: int) -> float:
    return statistics.median(n / pair[side] for pair in pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a fast smoke run")
    print_figures(run(parser.parse_args().quick))


if __name__ == "__main__":
    main()
