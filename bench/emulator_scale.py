"""Scale: a durable emulator holding 100,000 pending tasks (due in an hour).

Figures: the emulator's resident memory with the backlog (VmRSS from /proc), and the latency
of creating one due task and seeing it arrive at the worker, one task at a time: with the
queue empty (baseline), then in the same queue with the backlog. As a control for drift over
the run, probes of a second, empty queue are interleaved with the backlog probes.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._common import (
    Figure,
    WorkerHandle,
    async_tasks_client,
    bench_arguments,
    create_queue,
    emulator_pid,
    http_task,
    print_figures,
    rss_mb,
    run_bounded,
    worker_process,
)

BENCH = "emulator_scale"
CONCURRENCY = 64
RSS_TARGET_MB = 300.0
LATENCY_TARGET = 2.0


class _Prober:
    """Create one due task, wait until the worker has it: seconds from call to arrival."""

    def __init__(self, client: Any, worker: WorkerHandle, control: Any) -> None:
        self.client = client
        self.worker = worker
        self.control = control
        self.task = http_task(worker.task_url)
        self.seen = worker.count()

    async def probe(self, queue: str) -> float:
        started = time.time()
        await self.client.create_task(parent=queue, task=self.task, timeout=30)
        self.seen += 1
        arrived = await self.worker.wait_for_async(self.control, self.seen, limit=30)
        return arrived - started


async def _fill(client: Any, queue: str, worker: WorkerHandle, backlog: int) -> float:
    """Create the backlog, due an hour from now; creates per second."""
    task = http_task(worker.task_url, time.time() + 3600)

    async def create(_: int) -> None:
        await client.create_task(parent=queue, task=task, timeout=60)

    started = time.perf_counter()
    await run_bounded(backlog, CONCURRENCY, create)
    return backlog / (time.perf_counter() - started)


async def _measure(
    target: str, pid: int, worker: WorkerHandle, backlog: int, probes: int
) -> list[Figure]:
    import httpx

    client = async_tasks_client(target)
    rss_start = rss_mb(pid)
    queue = await create_queue(client, "scale", concurrency=CONCURRENCY)
    control_queue = await create_queue(client, "control", concurrency=CONCURRENCY)
    async with httpx.AsyncClient(trust_env=False) as control:
        prober = _Prober(client, worker, control)
        for _ in range(min(probes, 30)):  # warm-up
            await prober.probe(queue)
            await prober.probe(control_queue)
        empty = [await prober.probe(queue) for _ in range(probes)]
        fill_rate = await _fill(client, queue, worker, backlog)
        rss_full = rss_mb(pid)
        loaded: list[float] = []
        controls: list[float] = []
        for _ in range(probes):
            loaded.append(await prober.probe(queue))
            controls.append(await prober.probe(control_queue))
        rss_end = rss_mb(pid)
    assert worker.count() == prober.seen, "a backlog task was dispatched early"
    ratio = statistics.median(loaded) / statistics.median(empty)
    rss_peak = max(rss_full, rss_end)
    return [
        Figure(
            BENCH,
            f"emulator VmRSS with {backlog} pending tasks",
            f"{rss_peak:.0f} MB",
            f"< {RSS_TARGET_MB:.0f} MB",
            rss_peak < RSS_TARGET_MB,
        ),
        Figure(
            BENCH, "  VmRSS at start / after backlog probes", f"{rss_start:.0f}/{rss_end:.0f} MB"
        ),
        Figure(BENCH, "  VmRSS with backlog / at start", f"{rss_peak / rss_start:.1f}x"),
        Figure(
            BENCH,
            f"create+dispatch latency backlog/empty ({probes} probes, medians)",
            f"{ratio:.2f}x",
            f"<= {LATENCY_TARGET}x",
            ratio <= LATENCY_TARGET,
        ),
        Figure(
            BENCH,
            "  median latency empty / backlog",
            f"{statistics.median(empty) * 1000:.1f}/{statistics.median(loaded) * 1000:.1f} ms",
        ),
        Figure(
            BENCH,
            "  control: backlog/other empty queue",
            f"{statistics.median(loaded) / statistics.median(controls):.2f}x",
        ),
        Figure(BENCH, "  CreateTask/s while filling the backlog", f"{fill_rate:.0f}"),
    ]


def run(backlog: int = 100_000, quick: bool = False) -> list[Figure]:
    from cloudtasks_kit.testing import EmulatorProcess

    probes = 50 if quick else 300
    with (
        tempfile.TemporaryDirectory(prefix="bench-scale-") as directory,
        worker_process() as worker,
        EmulatorProcess(data=Path(directory) / "state.sqlite") as emulator,
    ):
        pid = emulator_pid(emulator)
        return asyncio.run(_measure(emulator.grpc_target, pid, worker, backlog, probes))


def main() -> None:
    args = bench_arguments("memory and latency with a 100k-task backlog", 100_000, 5000)
    print_figures(run(args.n, args.quick))


if __name__ == "__main__":
    main()
