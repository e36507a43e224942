"""Dispatch: the emulator vs a bare httpx loop sending the same requests to the same worker.

Throughput (rounds, alternating which side goes first): the emulator gets a fresh queue with
``max_concurrent_dispatches=64``, paused; N tasks are created, then the queue is resumed and
the clock runs from the resume call to the worker's arrival of the N-th task. The bare loop
sends the same N POSTs (same body and headers, the emulator's httpx client settings) with 64
in flight, timed from its first send to the worker's N-th arrival. The queue's token bucket is
sized to N (``max_burst_size``) so that the 500/s rate cap of the API does not bound the
comparison; what is compared is the emulator's own cost per dispatch.

Lateness: a running queue with high limits gets M tasks up-front, scheduled at
``t0 + i/200`` s (t0 far enough ahead that all are created before the first is due); the
worker subtracts the ``X-CloudTasks-TaskETA`` header from its arrival time. The baseline is a
bare asyncio loop that sleeps until each of the same instants and then POSTs.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

from bench._common import (
    TASK_BODY,
    TASK_HEADERS,
    Figure,
    WorkerHandle,
    async_tasks_client,
    bench_arguments,
    create_queue,
    http_task,
    median_ratio,
    percentile,
    print_figures,
    run_bounded,
    worker_process,
)

BENCH = "emulator_dispatch"
CONCURRENCY = 64
RATE = 200.0
THROUGHPUT_TARGET = 0.6
LATENESS_TARGET_MS = 50.0


def _bare_headers(eta: float, index: int) -> dict[str, str]:
    # What the emulator sends for a first attempt of one of these tasks.
    return {
        **TASK_HEADERS,
        "User-Agent": "Google-Cloud-Tasks",
        "X-CloudTasks-QueueName": "bare",
        "X-CloudTasks-TaskName": str(4611686018427387904 + index),
        "X-CloudTasks-TaskRetryCount": "0",
        "X-CloudTasks-TaskExecutionCount": "0",
        "X-CloudTasks-TaskETA": f"{eta:.6f}",
    }


# -- throughput ---------------------------------------------------------------------------


async def _emulator_round(
    client: Any, worker: WorkerHandle, control: Any, round_no: int, n: int
) -> tuple[float, float]:
    """(dispatches per second, creates per second) for one round."""
    worker.reset()
    queue = await create_queue(
        client, f"throughput-{round_no}", concurrency=CONCURRENCY, burst=n, paused=True
    )
    task = http_task(worker.task_url)

    async def create(_: int) -> None:
        await client.create_task(parent=queue, task=task, timeout=60)

    created = time.perf_counter()
    await run_bounded(n, CONCURRENCY, create)
    create_rate = n / (time.perf_counter() - created)
    start = time.time()
    await client.resume_queue(name=queue)
    last = await worker.wait_for_async(control, n, limit=120)
    return n / (last - start), create_rate


async def _bare_round(worker: WorkerHandle, control: Any, n: int) -> float:
    from cloudtasks_kit.emulator._http_attempt import new_http_client

    worker.reset()
    async with new_http_client() as http:

        async def send(index: int) -> None:
            headers = _bare_headers(time.time(), index)
            response = await http.post(worker.task_url, headers=headers, content=TASK_BODY)
            response.raise_for_status()

        start = time.time()
        await run_bounded(n, CONCURRENCY, send)
    last = await worker.wait_for_async(control, n, limit=120)
    return n / (last - start)


async def _raw_round(worker: WorkerHandle, control: Any, n: int) -> float:
    """Context only: the same requests from hand-written HTTP/1.1 on 64 kept-alive sockets,
    i.e. what the worker and loopback take when no client library is in the way."""
    host, port = worker.url.removeprefix("http://").rsplit(":", 1)
    worker.reset()
    indexes = iter(range(n))

    async def lane() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            for index in indexes:
                headers = _bare_headers(time.time(), index)
                head = "".join(f"{key}: {value}\r\n" for key, value in headers.items())
                writer.write(
                    f"POST /task HTTP/1.1\r\nHost: {host}:{port}\r\n{head}"
                    f"Content-Length: {len(TASK_BODY)}\r\n\r\n".encode()
                    + TASK_BODY
                )
                await writer.drain()
                response = await reader.readuntil(b"\r\n\r\n")
                if not response.startswith(b"HTTP/1.1 200"):
                    raise RuntimeError(response.decode(errors="replace"))
                for line in response.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        await reader.readexactly(int(line.split(b":", 1)[1]))
        finally:
            writer.close()

    start = time.time()
    async with asyncio.TaskGroup() as group:
        for _ in range(CONCURRENCY):
            group.create_task(lane())
    last = await worker.wait_for_async(control, n, limit=120)
    return n / (last - start)


# -- lateness -----------------------------------------------------------------------------


def _lateness_ms(worker: WorkerHandle) -> list[float]:
    arrivals, etas = worker.results()
    return [(arrival - eta) * 1000.0 for arrival, eta in zip(arrivals, etas, strict=True)]


async def _emulator_lateness(
    client: Any, worker: WorkerHandle, control: Any, m: int, create_rate: float
) -> tuple[list[float], int]:
    """Lateness (ms) of every task, and how many tasks were created after their due time."""
    worker.reset()
    queue = await create_queue(client, "lateness", concurrency=CONCURRENCY, burst=500)
    lead = 1.0 + 2.0 * m / create_rate
    t0 = time.time() + lead
    schedule = [t0 + i / RATE for i in range(m)]

    async def create(index: int) -> None:
        task = http_task(worker.task_url, schedule[index])
        await client.create_task(parent=queue, task=task, timeout=60)

    await run_bounded(m, CONCURRENCY, create)
    created = time.time()
    late_created = sum(1 for due in schedule if due < created)
    await worker.wait_for_async(control, m, limit=lead + m / RATE + 60)
    await client.pause_queue(name=queue)
    return _lateness_ms(worker), late_created


async def _bare_lateness(worker: WorkerHandle, m: int) -> list[float]:
    from cloudtasks_kit.emulator._http_attempt import new_http_client

    worker.reset()
    slots = asyncio.Semaphore(CONCURRENCY)
    t0 = time.time() + 0.5
    async with new_http_client() as http, asyncio.TaskGroup() as group:

        async def send(index: int, due: float) -> None:
            async with slots:
                headers = _bare_headers(due, index)
                response = await http.post(worker.task_url, headers=headers, content=TASK_BODY)
                response.raise_for_status()

        for index in range(m):
            due = t0 + index / RATE
            delay = due - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            group.create_task(send(index, due))
    return _lateness_ms(worker)


# -- the run ------------------------------------------------------------------------------


async def _measure(target: str, worker: WorkerHandle, n: int, rounds: int, m: int) -> list[Figure]:
    import httpx

    client = async_tasks_client(target)
    emulator_rates: list[float] = []
    bare_rates: list[float] = []
    create_rates: list[float] = []
    raw_rates: list[float] = []
    async with httpx.AsyncClient(trust_env=False) as control:
        # Warm-up: connections, imports and code paths on both sides.
        warm = min(n, 200)
        await _emulator_round(client, worker, control, -1, warm)
        await _bare_round(worker, control, warm)
        for round_no in range(rounds):
            if round_no % 2 == 0:
                rate, create_rate = await _emulator_round(client, worker, control, round_no, n)
                bare = await _bare_round(worker, control, n)
            else:
                bare = await _bare_round(worker, control, n)
                rate, create_rate = await _emulator_round(client, worker, control, round_no, n)
            emulator_rates.append(rate)
            bare_rates.append(bare)
            create_rates.append(create_rate)
            raw_rates.append(await _raw_round(worker, control, n))
            print(
                f"    round {round_no}: emulator {rate:7.0f}/s  bare {bare:7.0f}/s  "
                f"ratio {rate / bare:.2f}  raw-socket {raw_rates[-1]:7.0f}/s",
                flush=True,
            )
        bare_late = await _bare_lateness(worker, m)
        emulator_late, late_created = await _emulator_lateness(
            client, worker, control, m, statistics.median(create_rates)
        )
    ratio = median_ratio(list(zip(emulator_rates, bare_rates, strict=True)))
    p99 = percentile(emulator_late, 99)
    bare_p99 = percentile(bare_late, 99)
    return [
        Figure(
            BENCH,
            f"throughput emulator/bare ({n} tasks, c={CONCURRENCY}, {rounds} rounds)",
            f"{ratio:.2f}x",
            f">= {THROUGHPUT_TARGET}x",
            ratio >= THROUGHPUT_TARGET,
        ),
        Figure(
            BENCH, "  emulator dispatches/s (median)", f"{statistics.median(emulator_rates):.0f}"
        ),
        Figure(
            BENCH, "  bare httpx loop requests/s (median)", f"{statistics.median(bare_rates):.0f}"
        ),
        Figure(
            BENCH, "  raw-socket HTTP/1.1 loop requests/s", f"{statistics.median(raw_rates):.0f}"
        ),
        Figure(
            BENCH,
            "  emulator/raw-socket loop",
            f"{median_ratio(list(zip(emulator_rates, raw_rates, strict=True))):.3f}x",
        ),
        Figure(
            BENCH, "  CreateTask/s while filling (median)", f"{statistics.median(create_rates):.0f}"
        ),
        Figure(
            BENCH,
            f"p99 lateness at {RATE:.0f}/s ({m} tasks)",
            f"{p99:.1f} ms",
            f"<= {LATENESS_TARGET_MS:.0f} ms",
            p99 <= LATENESS_TARGET_MS and late_created == 0,
        ),
        Figure(
            BENCH,
            "  emulator lateness p50 / max",
            f"{percentile(emulator_late, 50):.1f}/{max(emulator_late):.1f} ms",
        ),
        Figure(BENCH, "  tasks created after their due time", str(late_created)),
        Figure(
            BENCH,
            "  bare scheduled loop p99 (p50)",
            f"{bare_p99:.1f} ({percentile(bare_late, 50):.1f}) ms",
        ),
        Figure(BENCH, "  p99 lateness emulator/bare", f"{p99 / max(bare_p99, 1e-3):.1f}x"),
    ]


def run(n: int = 5000, quick: bool = False) -> list[Figure]:
    from cloudtasks_kit.testing import EmulatorProcess

    rounds = 1 if quick else 3
    m = 400 if quick else 2000
    with worker_process() as worker, EmulatorProcess(args=["--log-level", "INFO"]) as emulator:
        figures = asyncio.run(_measure(emulator.grpc_target, worker, n, rounds, m))
        failed = sum("retry in" in line or "giving up" in line for line in emulator.log_lines)
        figures.append(Figure(BENCH, "  failed dispatch attempts", str(failed)))
    return figures


def main() -> None:
    args = bench_arguments(__doc__.splitlines()[0] if __doc__ else BENCH, 5000, 500)
    print_figures(run(args.n, args.quick))


if __name__ == "__main__":
    main()
