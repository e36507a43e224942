"""CreateTask throughput: the durable emulator vs a do-nothing gRPC server (the floor).

The official async client keeps 64 CreateTask calls in flight, into a paused queue (nothing is
dispatched). The floor is a ``grpc.aio`` server in its own process answering the same method
with the request's task plus a name: what Python gRPC costs on this machine, with nothing
stored. Rounds alternate which server goes first; the figure is the median per-round ratio.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench._common import (
    Figure,
    async_tasks_client,
    bench_arguments,
    child_process,
    create_queue,
    http_task,
    median_ratio,
    print_figures,
    run_bounded,
)

BENCH = "emulator_create"
CONCURRENCY = 64
TARGET = 0.5


def serve_floor(announce: Callable[[int], None]) -> None:
    """The floor server's process: CreateTask answered from memory, nothing else."""
    import itertools

    import grpc
    from google.cloud import tasks_v2

    ids = itertools.count(1 << 62)

    async def create_task(request: Any, context: Any) -> Any:
        task = request.task
        task.name = f"{request.parent}/tasks/{next(ids)}"
        return task

    async def serve() -> None:
        server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
        handler = grpc.method_handlers_generic_handler(
            "google.cloud.tasks.v2.CloudTasks",
            {
                "CreateTask": grpc.unary_unary_rpc_method_handler(
                    create_task,
                    request_deserializer=tasks_v2.CreateTaskRequest.pb().FromString,
                    response_serializer=tasks_v2.Task.pb().SerializeToString,
                )
            },
        )
        server.add_generic_rpc_handlers([handler])
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        announce(port)
        await server.wait_for_termination()

    asyncio.run(serve())


async def _creates_per_second(client: Any, parent: str, task: Any, n: int) -> float:
    async def create(_: int) -> None:
        await client.create_task(parent=parent, task=task, timeout=60)

    started = time.perf_counter()
    await run_bounded(n, CONCURRENCY, create)
    return n / (time.perf_counter() - started)


async def _measure(emulator_target: str, floor_target: str, n: int, rounds: int) -> list[Figure]:
    emulator = async_tasks_client(emulator_target)
    floor = async_tasks_client(floor_target)
    parent = await create_queue(emulator, "create", paused=True)
    # Never dispatched: the queue stays paused, and nothing listens there.
    task = http_task("http://127.0.0.1:9/never")
    warm = min(n, 300)
    await _creates_per_second(emulator, parent, task, warm)
    await _creates_per_second(floor, parent, task, warm)
    pairs: list[tuple[float, float]] = []
    for round_no in range(rounds):
        if round_no % 2 == 0:
            measured = await _creates_per_second(emulator, parent, task, n)
            baseline = await _creates_per_second(floor, parent, task, n)
        else:
            baseline = await _creates_per_second(floor, parent, task, n)
            measured = await _creates_per_second(emulator, parent, task, n)
        pairs.append((measured, baseline))
        print(
            f"    round {round_no}: emulator {measured:7.0f}/s  floor {baseline:7.0f}/s  "
            f"ratio {measured / baseline:.2f}",
            flush=True,
        )
    ratio = median_ratio(pairs)
    return [
        Figure(
            BENCH,
            f"CreateTask emulator(--data)/floor ({n} calls, c={CONCURRENCY}, {rounds} rounds)",
            f"{ratio:.2f}x",
            f">= {TARGET}x",
            ratio >= TARGET,
        ),
        Figure(
            BENCH,
            "  emulator CreateTask/s (median)",
            f"{statistics.median(m for m, _ in pairs):.0f}",
        ),
        Figure(
            BENCH,
            "  floor gRPC server calls/s (median)",
            f"{statistics.median(b for _, b in pairs):.0f}",
        ),
    ]


def run(n: int = 5000, quick: bool = False) -> list[Figure]:
    from cloudtasks_kit.testing import EmulatorProcess

    rounds = 1 if quick else 5
    with (
        tempfile.TemporaryDirectory(prefix="bench-create-") as directory,
        child_process("bench.emulator_create:serve_floor") as (_, floor_port),
        EmulatorProcess(data=Path(directory) / "state.sqlite") as emulator,
    ):
        return asyncio.run(_measure(emulator.grpc_target, f"127.0.0.1:{floor_port}", n, rounds))


def main() -> None:
    args = bench_arguments("CreateTask throughput vs a do-nothing gRPC server", 5000, 500)
    print_figures(run(args.n, args.quick))


if __name__ == "__main__":
    main()
