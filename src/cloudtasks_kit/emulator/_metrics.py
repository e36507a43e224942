"""``/metrics``: what the emulator did, in Prometheus' text format.

One :class:`Metrics` per emulator, on a registry of its own (never the process's default):
tests run several emulators in one process. Counters move where the work happens (a create,
an attempt's end, a job run's end); the queues' depths are read from the stores' in-memory
counts when scraped. Labels are full resource names, so two projects' ``default`` queues stay
apart.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ._http_attempt import HttpOutcome
from ._insight import QueueCounts

__all__ = ["Metrics", "status_class"]

_LATENCY_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0,
)  # fmt: skip
_LATENESS_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0)
#: The window of :meth:`Metrics.dispatch_rate`.
RATE_WINDOW = 60


def status_class(outcome: HttpOutcome) -> str:
    """``2xx`` .. ``5xx``, or ``none`` when no response came (deadline, refused)."""
    return f"{outcome.status // 100}xx" if outcome.responded else "none"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.tasks_created = Counter(
            "cloudtasks_tasks_created", "Tasks created, per queue.", ["queue"], registry=registry
        )
        self.dead_lettered = Counter(
            "cloudtasks_tasks_dead_lettered",
            "Dead letters parked (tasks created with the kit's X-CloudTasksKit-DeadLetter-Queue "
            "header), per dead-letter queue and the queue they came from.",
            ["queue", "from_queue"],
            registry=registry,
        )
        self.dispatched = Counter(
            "cloudtasks_task_dispatches", "Task attempts sent.", ["queue"], registry=registry
        )
        self.succeeded = Counter(
            "cloudtasks_task_successes",
            "Task attempts answered with a 2xx.",
            ["queue", "status_class"],
            registry=registry,
        )
        self.failed = Counter(
            "cloudtasks_task_failures",
            "Task attempts that failed, by HTTP status class (none: no response).",
            ["queue", "status_class"],
            registry=registry,
        )
        self.retries = Counter(
            "cloudtasks_task_retries",
            "Task attempts that were retries (a task's second attempt and later).",
            ["queue"],
            registry=registry,
        )
        self.latency = Histogram(
            "cloudtasks_task_dispatch_latency_seconds",
            "From sending a task's attempt to its answer (or giving up on one).",
            ["queue"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.lateness = Histogram(
            "cloudtasks_task_dispatch_lateness_seconds",
            "From a task's schedule time to the attempt's start (rate limits, concurrency, "
            "backoff of the queue's loop).",
            ["queue"],
            buckets=_LATENESS_BUCKETS,
            registry=registry,
        )
        self.job_attempts = Counter(
            "cloudtasks_scheduler_attempts",
            "Cloud Scheduler job attempts, by HTTP status class (none: no response).",
            ["job", "status_class"],
            registry=registry,
        )
        self.job_runs = Counter(
            "cloudtasks_scheduler_runs",
            "Cloud Scheduler job runs that ended, by outcome (succeeded, failed: the last "
            "attempt failed).",
            ["job", "outcome"],
            registry=registry,
        )
        self._windows: dict[str, deque[list[int]]] = defaultdict(deque)
        self._created: dict[str, Any] = {}

    # -- what the halves report -----------------------------------------------------------

    def task_created(self, queue: str, dead_letter_from: str | None) -> None:
        # Every CreateTask counts: the queue's child kept at hand (labels() validates and
        # locks on each call; it returns the same child every time).
        created = self._created.get(queue)
        if created is None:
            created = self._created[queue] = self.tasks_created.labels(queue)
        created.inc()
        if dead_letter_from is not None:
            self.dead_lettered.labels(queue, dead_letter_from).inc()

    def task_attempted(
        self, queue: str, number: int, outcome: HttpOutcome, lateness: float
    ) -> None:
        self.dispatched.labels(queue).inc()
        (self.succeeded if outcome.succeeded else self.failed).labels(
            queue, status_class(outcome)
        ).inc()
        if number > 1:
            self.retries.labels(queue).inc()
        self.latency.labels(queue).observe(outcome.latency)
        self.lateness.labels(queue).observe(max(0.0, lateness))
        self._count_dispatch(queue)

    def job_attempted(self, job: str, outcome: HttpOutcome) -> None:
        self.job_attempts.labels(job, status_class(outcome)).inc()

    def job_run_ended(self, job: str, succeeded: bool) -> None:
        self.job_runs.labels(job, "succeeded" if succeeded else "failed").inc()

    def watch_queues(self, counts: Callable[[], Mapping[str, QueueCounts]]) -> None:
        """Report each queue's depth from ``counts`` at every scrape."""
        self.registry.register(_QueueDepth(counts))

    # -- reading --------------------------------------------------------------------------

    def dispatch_rate(self, queue: str) -> float:
        """Attempts per second over the last minute (wall time)."""
        window = self._windows.get(queue)
        if not window:
            return 0.0
        self._trim(window, int(time.monotonic()))
        return sum(count for _, count in window) / RATE_WINDOW

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def _count_dispatch(self, queue: str) -> None:
        # One bucket per second: a busy queue costs 60 small lists, not one entry per attempt.
        second = int(time.monotonic())
        window = self._windows[queue]
        if window and window[-1][0] == second:
            window[-1][1] += 1
        else:
            window.append([second, 1])
        self._trim(window, second)

    @staticmethod
    def _trim(window: deque[list[int]], second: int) -> None:
        while window and window[0][0] <= second - RATE_WINDOW:
            window.popleft()


class _QueueDepth(Collector):
    def __init__(self, counts: Callable[[], Mapping[str, QueueCounts]]) -> None:
        self._counts = counts

    def describe(self) -> Iterable[Metric]:
        return [self._family()]

    def collect(self) -> Iterable[Metric]:
        family = self._family()
        for queue, counts in sorted(self._counts().items()):
            family.add_metric([queue, "waiting"], counts.waiting)
            family.add_metric([queue, "running"], counts.running)
            family.add_metric([queue, "retrying"], counts.retrying)
        return [family]

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "cloudtasks_queue_tasks",
            "Tasks stored in a queue: waiting (never attempted), running, retrying.",
            labels=["queue", "state"],
        )
