"""Enabled Cloud Scheduler jobs -> runs at their schedule time; a run is an HTTP attempt and
the retries its RetryConfig allows.

SQLite stays the source of truth (the Job with its output fields, and the schedule time of the
last run fired); in memory there is only ``name -> next schedule time`` of the enabled jobs.
Time is the emulator's :class:`Clock`, so ``POST /admin/clock/advance`` makes a daily job due
without waiting a day.

- Missed runs. When a job is found due more than one schedule time late (the clock was
  advanced past several, or the emulator was not running), it fires once, for the latest of
  them, as Cloud Scheduler does: it never backfills.
- At most once per schedule time. Before the attempt is sent, one commit records the run's
  schedule time and the job's next ``schedule_time``; a restart (even ``kill -9``) never fires
  that time again. The price: a run cut off by a crash is not resumed or retried.
- One run at a time. A schedule time that comes while the previous run (with its retries) is
  still going waits for it to end, as Google documents; RunJob starts a run regardless.
- Retries end when ``retry_count`` retries and ``max_retry_duration`` are both spent, or
  before they would start at or after the job's next schedule time (Google: "retry_count
  times, or until the next scheduled execution time, whichever comes first"), or when the job
  is deleted, or paused during the run (RunJob of a job already paused retries as usual).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
from google.cloud import scheduler_v1
from google.protobuf import timestamp_pb2

from ..._protocol import (
    DEFAULT_ATTEMPT_DEADLINE,
    JOB_HEADER_RULES,
    SCHEDULER,
    SCHEDULER_JOB_NAME,
    SCHEDULER_SCHEDULE_TIME,
    apply_header_rules,
)
from .._backoff import retry_delay, retry_duration_spent
from .._checks import MAX_TIMESTAMP, set_timestamp
from .._clock import Clock
from .._http_attempt import (
    NO_RESPONSE_ERROR,
    HttpOutcome,
    method_name,
    rpc_code_for_http,
    send_http,
)
from .._insight import Attempt
from .._runner import Background, wait_for_event
from .._stats import Stats
from .._tokens import TokenSigner
from . import _cron as cron
from ._store import JobStore

__all__ = ["JobRunner", "new_job_client"]

log = logging.getLogger("cloudtasks_kit.emulator.scheduler")

JobPb = scheduler_v1.Job.pb()
_ENABLED = int(scheduler_v1.Job.State.ENABLED)


def new_job_client() -> httpx.AsyncClient:
    # Cloud Scheduler follows redirects ("the response returned by the redirected request is
    # considered"); trust_env=False so that a proxy in the environment cannot swallow loopback.
    return httpx.AsyncClient(timeout=None, follow_redirects=True, trust_env=False)


def rfc3339(seconds: float) -> str:
    """Epoch seconds as RFC 3339 in UTC ("Zulu"), as X-CloudScheduler-ScheduleTime has it."""
    stamp = timestamp_pb2.Timestamp()
    set_timestamp(stamp, seconds)
    return str(stamp.ToJsonString())


class JobRunner:
    def __init__(
        self,
        store: JobStore,
        clock: Clock,
        signer: TokenSigner,
        stats: Stats,
        client: httpx.AsyncClient,
    ) -> None:
        self._store = store
        self._clock = clock
        self._signer = signer
        self._stats = stats
        self._client = client
        self._due: dict[str, float] = {}  # enabled jobs -> their next schedule time
        self._active: Counter[str] = Counter()  # runs in progress, per job
        self._runs: set[asyncio.Task[None]] = set()  # the runs in progress
        self._background = Background()  # the loop and the runs in progress
        self._wake = asyncio.Event()
        self._clock_moved = asyncio.Event()
        clock.subscribe(self._on_clock)

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Rebuild the schedule from the store (missed runs fire at once) and start."""
        for _, body in self._store.jobs():
            self.job_changed(JobPb.FromString(body))
        self._background.spawn(self._loop(), name="jobs")

    async def stop(self) -> None:
        self._clock.unsubscribe(self._on_clock)
        await self._background.cancel_all()
        await self._client.aclose()

    # -- what the API tells -----------------------------------------------------------------

    def job_changed(self, job: Any) -> None:
        """``job`` was stored as it is now: (re)schedule or forget it."""
        if job.state == _ENABLED and job.HasField("schedule_time"):
            self._due[job.name] = _seconds(job.schedule_time)
        else:
            self._due.pop(job.name, None)
        self._wake.set()

    def job_removed(self, name: str) -> None:
        self._due.pop(name, None)
        self._wake.set()

    def run_now(self, job: Any) -> None:
        """RunJob: a run now, even if one is in progress and even if the job is paused."""
        self._spawn(job.name, self._clock.now())

    def reset(self) -> None:
        """Forget every job: no run is due, the runs in progress stop (their retries too)."""
        self._due.clear()
        for run in list(self._runs):
            run.cancel()
        self._wake.set()

    # -- the schedule ---------------------------------------------------------------------

    def _on_clock(self) -> None:
        self._wake.set()
        self._clock_moved.set()
        self._clock_moved = asyncio.Event()

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            now = self._clock.now()
            for name, due in list(self._due.items()):
                if due <= now and not self._active[name]:
                    try:
                        self._fire(name, now)
                    except Exception:
                        # A bug must not stop every other job: drop this one from the schedule.
                        log.exception("job=%s: cannot fire, taken off the schedule", name)
                        self._due.pop(name, None)
            waiting = [due for name, due in self._due.items() if not self._active[name]]
            if not waiting:
                await self._wake.wait()
                continue
            delay = min(waiting) - self._clock.now()
            if delay > 0:
                await wait_for_event(self._wake, delay)

    def _fire(self, name: str, now: float) -> None:
        job = self._load(name)
        if job is None or job.state != _ENABLED or not job.HasField("schedule_time"):
            self._due.pop(name, None)
            return
        due = _seconds(job.schedule_time)
        if due > now:  # rescheduled since
            self._due[name] = due
            return
        zone = cron.time_zone(job.time_zone)
        # Schedule times are whole seconds; all those in [due, now] were missed but the last.
        scheduled = cron.latest_run(job.schedule, zone, due - 1, now) or due
        if scheduled > due:
            log.info(
                "job=%s: runs due from %s to %s were missed; firing the latest only",
                name, rfc3339(due), rfc3339(scheduled),
            )  # fmt: skip
        following = cron.next_run(job.schedule, zone, max(now, scheduled))
        if following is None:
            job.ClearField("schedule_time")
            self._due.pop(name, None)
        else:
            set_timestamp(job.schedule_time, following)
            self._due[name] = following
        self._store.fire_job(name, job.SerializeToString(), scheduled)
        self._spawn(name, scheduled)

    # -- runs -----------------------------------------------------------------------------

    def _spawn(self, name: str, scheduled: float) -> None:
        self._active[name] += 1  # before the task starts, so the loop cannot fire it again
        run = self._background.spawn(self._run(name, scheduled))
        self._runs.add(run)
        run.add_done_callback(self._runs.discard)

    async def _run(self, name: str, scheduled: float) -> None:
        try:
            first: float | None = None
            attempt = 0
            paused_before = False
            while True:
                job = self._load(name)
                if job is None:
                    if attempt:
                        log.info("job=%s: deleted, its retries stop", name)
                    return
                if not attempt:
                    paused_before = job.state != _ENABLED
                elif job.state != _ENABLED and not paused_before:
                    log.info("job=%s: paused, its retries stop", name)
                    return
                now = self._clock.now()
                first = now if first is None else first
                self._record(name, _attempt_started(now))
                outcome = await self._send(job, scheduled)
                attempt += 1
                self._record(name, _attempt_ended(outcome))
                self._observe(name, attempt, outcome)
                retry_at = self._retry_at(name, job, outcome, attempt, first, scheduled)
                if retry_at is None:
                    self._stats.metrics.job_run_ended(name, outcome.succeeded)
                    return
                await self._sleep_until(retry_at)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("job=%s: the run failed inside the emulator", name)
        finally:
            self._active[name] -= 1
            if self._active[name] <= 0:
                del self._active[name]
            self._wake.set()

    def _retry_at(
        self,
        name: str,
        job: Any,
        outcome: HttpOutcome,
        attempt: int,
        first: float,
        scheduled: float,
    ) -> float | None:
        """Log the attempt; when the run goes on, the time of the next attempt."""
        url = job.http_target.uri
        status = outcome.status_text
        line = "job=%s url=%s status=%s latency_ms=%.1f attempt=%d schedule_time=%s"
        args = (name, url, status, outcome.latency * 1000, attempt, rfc3339(scheduled))
        if outcome.succeeded:
            self._stats.job_attempts["succeeded"] += 1
            log.info(line, *args)
            return None
        retry = job.retry_config
        now = self._clock.now()
        delay = retry_delay(
            attempt - 1,
            min_backoff=retry.min_backoff_duration.ToTimedelta().total_seconds(),
            max_backoff=retry.max_backoff_duration.ToTimedelta().total_seconds(),
            max_doublings=retry.max_doublings,
            retry_after=outcome.retry_after,
        )
        limit = retry.max_retry_duration.ToTimedelta().total_seconds()
        count_spent = attempt - 1 >= retry.retry_count
        duration_spent = retry_duration_spent(limit, first, now)
        current = self._load(name)
        following = (
            _seconds(current.schedule_time)
            if current is not None
            and current.state == _ENABLED
            and current.HasField("schedule_time")
            else None
        )
        if count_spent and duration_spent:
            reason = "retry_count and max_retry_duration are spent"
        elif following is not None and now + delay >= following:
            reason = f"the next run is due first, at {rfc3339(following)}"
        else:
            self._stats.job_attempts["failed"] += 1
            log.info(line + ": retry in %.3fs", *args, delay)
            return min(now + delay, float(MAX_TIMESTAMP))
        self._stats.job_attempts["gave_up"] += 1
        log.warning(line + ": giving up, %s", *args, reason)
        return None

    async def _send(self, job: Any, scheduled: float) -> HttpOutcome:
        """The attempt's outcome, whatever happens while it is made: an exception is a failed
        attempt with no response, which the job's retry config then handles."""
        target = job.http_target
        try:
            return await send_http(
                self._client,
                method=method_name(target.http_method),
                url=target.uri,
                headers=self._headers(job, scheduled),
                body=target.body,
                deadline=(
                    job.attempt_deadline.ToTimedelta()
                    if job.HasField("attempt_deadline")
                    else DEFAULT_ATTEMPT_DEADLINE
                ).total_seconds(),
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("job=%s: the attempt failed inside the emulator", job.name)
            return HttpOutcome(
                NO_RESPONSE_ERROR, False, 0.0, error=f"emulator error: {type(exc).__name__}: {exc}"
            )

    def _headers(self, job: Any, scheduled: float) -> dict[str, str]:
        """The attempt's headers: the job's under Cloud Scheduler's header rules, then the ones
        the service sets (``X-CloudScheduler*``, the token's ``Authorization``), each once."""
        target = job.http_target
        service = {
            SCHEDULER: "true",
            SCHEDULER_JOB_NAME: job.name.rsplit("/", 1)[1],
            SCHEDULER_SCHEDULE_TIME: rfc3339(scheduled),
        }
        token = self._signer.authorize(target, url=target.uri, service=service)
        return apply_header_rules(
            target.headers,
            JOB_HEADER_RULES,
            body=bool(target.body),
            token=token,
            service=service,
        )

    async def _sleep_until(self, when: float) -> None:
        while (now := self._clock.now()) < when:
            await wait_for_event(self._clock_moved, when - now)

    # -- the store ------------------------------------------------------------------------

    def _load(self, name: str) -> Any:
        body = self._store.job(name)
        return None if body is None else JobPb.FromString(body)

    def _observe(self, name: str, attempt: int, outcome: HttpOutcome) -> None:
        """The attempt in the job's history (the console's) and in ``/metrics``."""
        self._store.record_attempt(name, Attempt.of(attempt, outcome, self._clock.now()))
        self._stats.metrics.job_attempted(name, outcome)

    def _record(self, name: str, change: Callable[[Any], None]) -> None:
        """Change a job's output fields as stored now (the API may have updated the rest)."""
        job = self._load(name)
        if job is not None:
            change(job)
            self._store.put_job(name, job.SerializeToString())


def _attempt_started(at: float) -> Callable[[Any], None]:
    def change(job: Any) -> None:
        set_timestamp(job.last_attempt_time, at)

    return change


def _attempt_ended(outcome: HttpOutcome) -> Callable[[Any], None]:
    """``status``: the google.rpc.Status of the last attempt (code 0 when it succeeded)."""

    def change(job: Any) -> None:
        job.status.Clear()
        job.status.code = rpc_code_for_http(outcome.status)
        if not outcome.succeeded:
            job.status.message = (
                f"HTTP {outcome.status}" if outcome.responded else f"{outcome.error} (no response)"
            )

    return change


def _seconds(stamp: Any) -> float:
    return float(stamp.ToNanoseconds()) / 1e9
