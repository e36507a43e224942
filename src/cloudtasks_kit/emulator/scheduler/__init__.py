"""The Cloud Scheduler half: the ``CloudScheduler`` methods and the runner of due jobs."""

from ._api import CloudSchedulerApi
from ._job_runner import JobRunner, new_job_client
from ._store import JobStore

__all__ = ["CloudSchedulerApi", "JobRunner", "JobStore", "new_job_client"]
