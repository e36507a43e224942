"""Due tasks -> HTTP attempts, per queue: rate limits, concurrency, backoff, deadlines.

Each queue has its own runner coroutine and its own in-memory schedule (a heap of
``(due, seq, name)``); SQLite stays the source of truth. A heap entry whose task was deleted
or rescheduled is stale and skipped when popped, so deleting or retrying never searches the
heap, and creating or dispatching costs O(log n) however large the backlog.

Every attempt ends in exactly one of: success (the task is removed, its name tombstoned), a
failed attempt (recorded, then retried with the queue's backoff), or the task given up once
``max_attempts`` and ``max_retry_duration`` are spent. Whatever the attempt raises, even an
error inside the emulator, counts as a failed attempt, so no task is left in limbo.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from dataclasses import dataclass, field
from typing import Any

import httpx
from google.cloud import tasks_v2

from ..._protocol import (
    DEFAULT_DISPATCH_DEADLINE,
    QUEUE_NAME,
    TASK_ETA,
    TASK_EXECUTION_COUNT,
    TASK_HEADER_RULES,
    TASK_NAME,
    TASK_PREVIOUS_RESPONSE,
    TASK_RETRY_COUNT,
    TASK_RETRY_REASON,
    apply_header_rules,
)
from .._backoff import retry_delay, retry_duration_spent
from .._checks import MAX_TIMESTAMP
from .._clock import Clock
from .._http_attempt import NO_RESPONSE_ERROR, HttpOutcome, method_name, send_http
from .._insight import Attempt
from .._runner import Background, wait_for_event
from .._stats import Stats
from .._tokens import TokenSigner
from ._ratelimit import TokenBucket
from ._store import AttemptOutcome, TaskRow, TaskStore

__all__ = ["Dispatcher"]

log = logging.getLogger("cloudtasks_kit.emulator.dispatch")

TaskPb = tasks_v2.Task.pb()
_RUNNING = int(tasks_v2.Queue.State.RUNNING)
# When recording an attempt's end fails inside the emulator, the task is tried again this
# much later at the least (so that a persistent bug cannot spin).
_RECOVERY_DELAY = 1.0


@dataclass(frozen=True, slots=True)
class QueueLimits:
    running: bool
    max_dispatches_per_second: float
    max_burst_size: int
    max_concurrent_dispatches: int
    max_attempts: int
    max_retry_duration: float
    min_backoff: float
    max_backoff: float
    max_doublings: int

    @classmethod
    def of(cls, queue: object) -> QueueLimits:
        """Read from a Queue message whose defaults were filled in when it was stored."""
        rate, retry = queue.rate_limits, queue.retry_config  # type: ignore[attr-defined]
        return cls(
            running=queue.state == _RUNNING,  # type: ignore[attr-defined]
            max_dispatches_per_second=rate.max_dispatches_per_second,
            max_burst_size=rate.max_burst_size,
            max_concurrent_dispatches=rate.max_concurrent_dispatches,
            max_attempts=retry.max_attempts,
            max_retry_duration=retry.max_retry_duration.ToTimedelta().total_seconds(),
            min_backoff=retry.min_backoff.ToTimedelta().total_seconds(),
            max_backoff=retry.max_backoff.ToTimedelta().total_seconds(),
            max_doublings=retry.max_doublings,
        )


@dataclass(eq=False)
class _QueueRuntime:
    name: str
    limits: QueueLimits
    bucket: TokenBucket
    heap: list[tuple[float, int, str]] = field(default_factory=list)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    in_flight: int = 0
    runner: asyncio.Task[None] | None = None


class Dispatcher:
    def __init__(
        self,
        store: TaskStore,
        clock: Clock,
        signer: TokenSigner,
        stats: Stats,
        client: httpx.AsyncClient,
        *,
        tombstone_ttl: float,
    ) -> None:
        self._store = store
        self._clock = clock
        self._signer = signer
        self._stats = stats
        self._client = client
        self._tombstone_ttl = tombstone_ttl
        self._queues: dict[str, _QueueRuntime] = {}
        # Task name -> its attempt in progress.
        self._in_flight: dict[str, asyncio.Task[None]] = {}
        self._background = Background()
        self._seq = itertools.count()
        self._started = False
        clock.subscribe(self._wake_all)

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Rebuild every queue's schedule from the store and start dispatching."""
        for queue, name, due in self._store.pending():
            runtime = self._queues.get(queue)
            if runtime is not None:
                runtime.heap.append((due, next(self._seq), name))
        for runtime in self._queues.values():
            heapq.heapify(runtime.heap)
            self._start_runner(runtime)
        self._started = True

    async def stop(self) -> None:
        self._clock.unsubscribe(self._wake_all)
        # Cancelled attempts stay stored as pending: the next start dispatches them again.
        await self._background.cancel_all()

    # -- queues ---------------------------------------------------------------------------

    def queue_changed(self, name: str, queue: object) -> None:
        limits = QueueLimits.of(queue)
        runtime = self._queues.get(name)
        if runtime is None:
            bucket = TokenBucket(
                limits.max_dispatches_per_second, limits.max_burst_size, self._clock.now()
            )
            runtime = self._queues[name] = _QueueRuntime(name, limits, bucket)
            if self._started:
                self._start_runner(runtime)
        else:
            runtime.limits = limits
            runtime.bucket.reconfigure(
                limits.max_dispatches_per_second, limits.max_burst_size, self._clock.now()
            )
        runtime.wake.set()

    def queue_removed(self, name: str) -> None:
        runtime = self._queues.pop(name, None)
        if runtime is not None and runtime.runner is not None:
            runtime.runner.cancel()

    def queue_purged(self, name: str) -> None:
        runtime = self._queues.get(name)
        if runtime is not None:
            runtime.heap.clear()

    def forget_attempts(self, queue: str | None = None) -> None:
        """Cancel the attempts in progress of ``queue``'s tasks, or of every task (a reset
        released their names: a new task of the same name must not be taken for them)."""
        prefix = "" if queue is None else queue + "/tasks/"
        for name in [name for name in self._in_flight if name.startswith(prefix)]:
            self._in_flight.pop(name).cancel()

    # -- tasks ----------------------------------------------------------------------------

    def schedule(self, queue: str, name: str, due: float) -> None:
        runtime = self._queues[queue]
        heapq.heappush(runtime.heap, (due, next(self._seq), name))
        if runtime.heap[0][2] == name:
            runtime.wake.set()

    def run_now(self, row: TaskRow) -> bool:
        """Dispatch at once, past pause, rate and concurrency limits (RunTask)."""
        runtime = self._queues.get(row.queue)
        if runtime is None or row.name in self._in_flight:
            return False
        self._spawn(runtime, row)
        return True

    def is_in_flight(self, name: str) -> bool:
        return name in self._in_flight

    def in_flight(self, queue: str) -> int:
        """How many of the queue's tasks are being attempted now."""
        runtime = self._queues.get(queue)
        return 0 if runtime is None else runtime.in_flight

    # -- the loop -------------------------------------------------------------------------

    def _start_runner(self, runtime: _QueueRuntime) -> None:
        runtime.runner = self._background.spawn(self._run(runtime), name=f"queue {runtime.name}")

    def _wake_all(self) -> None:
        for runtime in self._queues.values():
            runtime.wake.set()

    async def _run(self, q: _QueueRuntime) -> None:
        while True:
            try:
                await self._step(q)
            except asyncio.CancelledError:
                raise
            except Exception:
                # A bug must not stop the queue for good: logged, and the loop goes on.
                log.exception("queue %s: the dispatch loop failed inside the emulator", q.name)
                await asyncio.sleep(_RECOVERY_DELAY)

    async def _step(self, q: _QueueRuntime) -> None:
        """Wait for the next due task of the queue, or dispatch it."""
        q.wake.clear()
        limits = q.limits
        if not limits.running or not q.heap or q.in_flight >= limits.max_concurrent_dispatches:
            await q.wake.wait()
            return
        now = self._clock.now()
        due, _, name = q.heap[0]
        if due > now:
            await wait_for_event(q.wake, due - now)
            return
        wait = q.bucket.take(now)
        if wait > 0:
            await wait_for_event(q.wake, wait)
            return
        heapq.heappop(q.heap)
        row = self._store.task(name)
        if row is None or row.due != due or name in self._in_flight:
            q.bucket.refund()  # a stale entry: the task was deleted, run or rescheduled
            return
        self._spawn(q, row)

    def _spawn(self, q: _QueueRuntime, row: TaskRow) -> None:
        q.in_flight += 1
        self._in_flight[row.name] = self._background.spawn(self._attempt(q, row))

    async def _attempt(self, q: _QueueRuntime, row: TaskRow) -> None:
        url = ""
        try:
            task = TaskPb.FromString(row.body)
            url = task.http_request.url
            self._store.start_attempt(row.name, self._clock.now())
            outcome = await self._send(row, task)
            self._finish(q, row, url, outcome)
        except asyncio.CancelledError:
            raise
        except Exception:
            # A bug of the emulator's own: logged, and the task is tried again later.
            log.exception("dispatch of %s (%s) failed inside the emulator", row.name, url)
            self._recover(q, row)
        finally:
            if self._in_flight.get(row.name) is asyncio.current_task():
                del self._in_flight[row.name]
            q.in_flight -= 1
            q.wake.set()

    async def _send(self, row: TaskRow, task: Any) -> HttpOutcome:
        """The attempt's outcome, whatever happens while it is made: an exception is a failed
        attempt with no response, which the retry policy then handles like any other."""
        request = task.http_request
        try:
            deadline = (
                task.dispatch_deadline.ToTimedelta()
                if task.HasField("dispatch_deadline")
                else DEFAULT_DISPATCH_DEADLINE
            ).total_seconds()
            return await send_http(
                self._client,
                method=method_name(request.http_method),
                url=request.url,
                headers=self._headers(row, task),
                body=request.body,
                deadline=deadline,
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("attempt of %s failed inside the emulator", row.name)
            return HttpOutcome(
                NO_RESPONSE_ERROR, False, 0.0, error=f"emulator error: {type(exc).__name__}: {exc}"
            )

    def _recover(self, q: _QueueRuntime, row: TaskRow) -> None:
        """After an error inside the emulator: the task's next attempt, never limbo."""
        try:
            retry_at = self._clock.now() + max(q.limits.min_backoff, _RECOVERY_DELAY)
            if self._store.reschedule(row.name, retry_at) and row.queue in self._queues:
                self.schedule(row.queue, row.name, retry_at)
        except Exception:
            log.exception("task %s could not be rescheduled", row.name)

    def _headers(self, row: TaskRow, task: Any) -> dict[str, str]:
        """The attempt's headers: the task's under Cloud Tasks' header rules, then the ones the
        service sets (``X-CloudTasks-*``, the token's ``Authorization``), each once."""
        request = task.http_request
        service = {
            QUEUE_NAME: row.queue.rsplit("/", 1)[1],
            TASK_NAME: row.name.rsplit("/", 1)[1],
            TASK_RETRY_COUNT: str(row.dispatch_count),
            TASK_EXECUTION_COUNT: str(row.execution_count),
            TASK_ETA: f"{row.due:.6f}",
        }
        if row.dispatch_count > 0 and row.last_status is not None:
            service[TASK_PREVIOUS_RESPONSE] = str(row.last_status)
            # Google sends this header empty for HTTP targets.
            service[TASK_RETRY_REASON] = ""
        token = self._signer.authorize(request, url=request.url, service=service)
        return apply_header_rules(
            request.headers,
            TASK_HEADER_RULES,
            body=bool(request.body),
            token=token,
            service=service,
        )

    def _finish(self, q: _QueueRuntime, row: TaskRow, url: str, outcome: HttpOutcome) -> None:
        now = self._clock.now()
        attempt = row.dispatch_count + 1
        self._record(row, attempt, outcome, now)
        status = outcome.status_text
        if outcome.succeeded:
            self._stats.attempts["succeeded"] += 1
            self._store.remove_task(row.name, self._tombstone(row, now), "completed")
            log.info(
                "dispatch task=%s url=%s status=%s latency_ms=%.1f attempt=%d",
                row.name, url, status, outcome.latency * 1000, attempt,
            )  # fmt: skip
            return
        limits = q.limits
        first = row.first_dispatch if row.first_dispatch is not None else now
        attempts_spent = limits.max_attempts != -1 and attempt >= limits.max_attempts
        duration_spent = retry_duration_spent(limits.max_retry_duration, first, now)
        if attempts_spent and duration_spent:
            self._stats.attempts["gave_up"] += 1
            self._store.remove_task(row.name, self._tombstone(row, now), "gave up")
            log.warning(
                "dispatch task=%s url=%s status=%s latency_ms=%.1f attempt=%d: "
                "giving up, max_attempts and max_retry_duration are spent",
                row.name, url, status, outcome.latency * 1000, attempt,
            )  # fmt: skip
            return
        delay = retry_delay(
            attempt - 1,
            min_backoff=limits.min_backoff,
            max_backoff=limits.max_backoff,
            max_doublings=limits.max_doublings,
            retry_after=outcome.retry_after,
        )
        retry_at = min(now + delay, float(MAX_TIMESTAMP))
        self._stats.attempts["failed"] += 1
        log.info(
            "dispatch task=%s url=%s status=%s latency_ms=%.1f attempt=%d: retry in %.3fs",
            row.name, url, status, outcome.latency * 1000, attempt, delay,
        )  # fmt: skip
        recorded = AttemptOutcome(outcome.status, now if outcome.responded else None)
        if self._store.fail_attempt(row.name, recorded, retry_at) and row.queue in self._queues:
            self.schedule(row.queue, row.name, retry_at)

    def _record(self, row: TaskRow, number: int, outcome: HttpOutcome, now: float) -> None:
        """The attempt in the task's history (the console's) and in ``/metrics``."""
        attempt = Attempt.of(number, outcome, now)
        self._store.record_attempt(row.name, attempt)
        lateness = attempt.dispatched_at - row.due
        self._stats.metrics.task_attempted(row.queue, number, outcome, lateness)

    def _tombstone(self, row: TaskRow, now: float) -> float | None:
        return now + self._tombstone_ttl if row.named else None
