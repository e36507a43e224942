"""Everything about a Cloud Scheduler job but its arguments, checked where it is written:
the name, the cron expression, the time zone, the retries and the attempt deadline."""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cronsim import CronSim, CronSimError
from google.cloud import scheduler_v1

from .._hooks import ScheduledJobHook
from .._protocol import JOB_ID, MAX_JOB_RETRY_COUNT, check_deadline

__all__ = ["JobRetry"]


@dataclass(frozen=True, slots=True)
class JobRetry:
    """A job's RetryConfig: retries within one run (Cloud Scheduler allows 0 to 5)."""

    retry_count: int = 0
    min_backoff: float = 5.0
    max_backoff: float = 3600.0
    max_doublings: int = 5
    max_retry_duration: float = 0.0

    def __post_init__(self) -> None:
        if not 0 <= self.retry_count <= MAX_JOB_RETRY_COUNT:
            raise ValueError(f"retry.retry_count: must be 0 to 5, got {self.retry_count}")
        if self.min_backoff < 0 or self.max_backoff < self.min_backoff:
            raise ValueError("retry: need 0 <= min_backoff <= max_backoff")
        if self.max_doublings < 0 or self.max_retry_duration < 0:
            raise ValueError("retry: max_doublings and max_retry_duration must not be negative")

    def to_proto(self) -> scheduler_v1.RetryConfig:
        return scheduler_v1.RetryConfig(
            retry_count=self.retry_count,
            min_backoff_duration=timedelta(seconds=self.min_backoff),
            max_backoff_duration=timedelta(seconds=self.max_backoff),
            max_doublings=self.max_doublings,
            max_retry_duration=timedelta(seconds=self.max_retry_duration),
        )


@dataclass(frozen=True)
class JobSpec:
    """Everything about a job but its arguments, checked when written."""

    name: str
    schedule: str
    time_zone: str = "UTC"
    description: str = ""
    retry: JobRetry | None = None
    attempt_deadline: timedelta | None = None
    paused: bool = False
    hooks: tuple[ScheduledJobHook, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not JOB_ID.fullmatch(self.name):
            raise ValueError(
                f"name: {self.name!r} must be 1-500 letters, digits, hyphens or underscores"
            )
        try:
            CronSim(self.schedule, datetime(2000, 1, 1))
        except (CronSimError, TypeError, ValueError) as exc:
            raise ValueError(
                f"schedule: {self.schedule!r} is not a unix-cron expression: {exc}"
            ) from None
        if len(self.schedule.split()) != 5:
            raise ValueError(f"schedule: {self.schedule!r} must have 5 fields (unix-cron)")
        try:
            zoneinfo.ZoneInfo(self.time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
            raise ValueError(
                f"time_zone: {self.time_zone!r} is not a tz database name (e.g. Europe/Paris)"
            ) from None


def job_spec(
    name: str,
    schedule: str,
    time_zone: str = "UTC",
    retry: JobRetry | Mapping[str, Any] | None = None,
    attempt_deadline: timedelta | float | None = None,
    description: str = "",
    paused: bool = False,
    hooks: Sequence[ScheduledJobHook] = (),
) -> JobSpec:
    """A checked :class:`JobSpec` from the keywords users write (``retry`` as a mapping too).

    :raises ValueError: naming the keyword that is wrong.
    :raises TypeError: a keyword of the wrong type.
    """
    if isinstance(retry, Mapping):
        retry = JobRetry(**retry)
    deadline = (
        check_deadline(attempt_deadline, "attempt_deadline")
        if attempt_deadline is not None
        else None
    )
    return JobSpec(name, schedule, time_zone, description, retry, deadline, paused, tuple(hooks))
