"""Recurring jobs: routes Cloud Scheduler calls, their schedules, and the Cloud Scheduler side."""

from ._declarations import scheduled
from ._gateway import JobScheduler, ScheduleResult
from ._route import ScheduledJob, ScheduledRoute, scheduled_job
from ._spec import JobArguments, JobRetry

__all__ = [
    "JobArguments",
    "JobRetry",
    "JobScheduler",
    "ScheduleResult",
    "ScheduledJob",
    "ScheduledRoute",
    "scheduled",
    "scheduled_job",
]
