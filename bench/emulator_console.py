"""Console: browsing a queue of 100,000 pending tasks (due in an hour) in a durable emulator.

Figures: the time to serve the queue's first page (the whole HTML page, counts and 50 tasks),
against a baseline measured in the same run, alternating with it: the first page of the raw
ListTasks call (gRPC, 50 tasks). As context: the page's live part (what the page polls), the
overview page, a filter that must scan the whole queue (attempted tasks: none), a later page
and a ``/metrics`` scrape, all with the backlog.
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
    create_queue,
    http_task,
    percentile,
    print_figures,
    run_bounded,
)

BENCH = "emulator_console"
CONCURRENCY = 64
FIRST_PAGE_TARGET = 0.5  # seconds, p95: "well under a second"


async def _fill(target: str, backlog: int) -> tuple[str, float]:
    client = async_tasks_client(target)
    queue = await create_queue(client, "browse", concurrency=CONCURRENCY)
    # Nothing listens on port 9: had a task come due, the bench would see attempts.
    task = http_task("http://127.0.0.1:9/never", time.time() + 3600)

    async def create(_: int) -> None:
        await client.create_task(parent=queue, task=task, timeout=60)

    started = time.perf_counter()
    await run_bounded(backlog, CONCURRENCY, create)
    rate = backlog / (time.perf_counter() - started)
    await client.transport.close()
    return queue, rate


def _timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def _measure(emulator: Any, queue: str, rounds: int) -> dict[str, list[float]]:
    import httpx
    from google.cloud import tasks_v2

    client = emulator.tasks_client()
    request = tasks_v2.ListTasksRequest(parent=queue, page_size=50)
    base = emulator.http_url + "/" + queue

    def list_tasks() -> None:
        page = next(iter(client.list_tasks(request=request, timeout=30).pages))
        assert len(page.tasks) == 50

    with httpx.Client(trust_env=False, timeout=30) as http:

        def get(url: str, **headers: str) -> Callable[[], None]:
            def call() -> None:
                answer = http.get(url, headers=headers)
                assert answer.status_code == 200, answer.text[:200]

            return call

        second = http.get(base).text.split('rel="next"')[0].rsplit('href="', 1)[1]
        calls = {
            "ListTasks": list_tasks,
            "page": get(base),
            "live": get(base, **{"X-Console-Live": "1"}),
            "overview": get(emulator.http_url + "/"),
            "later page": get(base + second.replace("&amp;", "&")),
            "metrics": get(emulator.http_url + "/metrics"),
        }
        for call in calls.values():  # warm-up: connections, template compilation
            call()
        times: dict[str, list[float]] = {name: [] for name in calls}
        for _ in range(rounds):
            for name, call in calls.items():
                times[name].append(_timed(call))
        scan = [_timed(get(base + "?state=attempted")) for _ in range(max(3, rounds // 10))]
        times["filter scanning the queue"] = scan
    client.transport.close()
    return times


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.1f}/{percentile(values, 95) * 1000:.1f} ms"


def run(backlog: int = 100_000, quick: bool = False) -> list[Figure]:
    from cloudtasks_kit.testing import EmulatorProcess

    rounds = 30 if quick else 200
    with (
        tempfile.TemporaryDirectory(prefix="bench-console-") as directory,
        EmulatorProcess(data=Path(directory) / "state.sqlite") as emulator,
    ):
        queue, fill_rate = asyncio.run(_fill(emulator.grpc_target, backlog))
        times = _measure(emulator, queue, rounds)
    page, baseline = times["page"], times["ListTasks"]
    p95 = percentile(page, 95)
    figures = [
        Figure(
            BENCH,
            f"queue page, first 50 of {backlog} pending: p95",
            f"{p95 * 1000:.1f} ms",
            f"< {FIRST_PAGE_TARGET * 1000:.0f} ms",
            p95 < FIRST_PAGE_TARGET,
        ),
        Figure(
            BENCH,
            "  page / raw ListTasks of 50 (medians)",
            f"{statistics.median(page) / statistics.median(baseline):.2f}x",
        ),
    ]
    for name, values in times.items():
        figures.append(Figure(BENCH, f"  {name} median/p95", _ms(values)))
    figures.append(Figure(BENCH, "  CreateTask/s while filling the backlog", f"{fill_rate:.0f}"))
    return figures


def main() -> None:
    args = bench_arguments("the console's first page of a 100k-task queue", 100_000, 5000)
    print_figures(run(args.n, args.quick))


if __name__ == "__main__":
    main()
