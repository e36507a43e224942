"""Everything about a Cloud Scheduler job but its arguments, checked where it is written:
the name, the cron expression, the time zone, the retries and the attempt deadline."""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Required, TypedDict, Unpack

from cronsim import CronSim, CronSimError
from google.cloud import scheduler_v1

from .._hooks import ScheduledJobHook
from .._protocol import (
    DEFAULT_JOB_MAX_BACKOFF,
    DEFAULT_JOB_MAX_DOUBLINGS,
    DEFAULT_JOB_MIN_BACKOFF,
    JOB_ID,
    MAX_JOB_RETRY_COUNT,
    check_deadline,
)

__all__ = ["JobArguments", "JobRetry"]


@dataclass(frozen=True, slots=True)
class JobRetry:
    """A job's RetryConfig: retries within one run (Cloud Scheduler allows 0 to 5)."""

    retry_count: int = 0
    min_backoff: float = DEFAULT_JOB_MIN_BACKOFF.total_seconds()
    max_backoff: float = DEFAULT_JOB_MAX_BACKOFF.total_seconds()
    max_doublings: int = DEFAULT_JOB_MAX_DOUBLINGS
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


class JobArguments(TypedDict, total=False):
    """The keywords that describe a job: of ``scheduled_job(route, ...)`` and
    ``route.scheduler(...)`` (and, with ``kwargs``, of ``@scheduled``)."""

    name: Required[str]
    schedule: Required[str]
    time_zone: str
    retry: JobRetry | Mapping[str, Any] | None
    attempt_deadline: timedelta | float | None
    description: str
    paused: bool
    hooks: Sequence[ScheduledJobHook]


def job_spec(**arguments: Unpack[JobArguments]) -> JobSpec:
    """A checked :class:`JobSpec` from the keywords users write (``retry`` as a mapping too).

    :raises ValueError: naming the keyword that is wrong.
    :raises TypeError: a keyword of the wrong type.
    """
    retry = arguments.get("retry")
    if isinstance(retry, Mapping):
        retry = JobRetry(**retry)
    deadline = arguments.get("attempt_deadline")
    return JobSpec(
        name=arguments["name"],
        schedule=arguments["schedule"],
        time_zone=arguments.get("time_zone", "UTC"),
        description=arguments.get("description", ""),
        retry=retry,
        attempt_deadline=None if deadline is None else check_deadline(deadline, "attempt_deadline"),
        paused=arguments.get("paused", False),
        hooks=tuple(arguments.get("hooks", ())),
    )
