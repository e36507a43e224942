"""``schedules sync``: bring Cloud Scheduler in line with the schedules an app declares.

Declared jobs are created when missing and updated in place (one UpdateJob with a field
mask) when different; with ``prune``, jobs this app owns (their id starts with
``scheduler_job_prefix``) that the code no longer declares are deleted. Jobs it does not own
are never read into the plan, so never touched.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from .._action import Action
from .._errors import ConfigurationError
from ..scheduler import JobScheduler
from ..scheduler._diff import job_details
from ..scheduler._route import declared_jobs
from ._plan import Change, Plan

__all__ = ["plan_schedules"]


def plan_schedules(scheduler: JobScheduler, app: Any, *, prune: bool = False) -> Plan:
    """The plan; declarations are validated before the first RPC.

    :raises ConfigurationError: duplicate names, or ``prune`` without a job prefix.
    :raises ServiceUnreachable: Cloud Scheduler (or the emulator) did not answer.
    """
    if prune and not scheduler.settings.scheduler_job_prefix:
        raise ConfigurationError(
            "refusing to prune without CLOUDTASKS_SCHEDULER_JOB_PREFIX: every job in the "
            "location would count as this app's"
        )
    # Build every request first: a bad declaration fails before anything is read or written.
    wanted = [
        (scheduler.build(job.route, job.spec, job.route.binder.bind(**kwargs)), job.spec.paused)
        for job, kwargs in declared_jobs(app)
    ]
    plan = Plan("job")
    for request, paused in wanted:
        action, differing, current = scheduler.plan(request, paused)
        call = (
            None
            if action is Action.UNCHANGED
            else partial(scheduler.carry_out, request, action, differing, paused)
        )
        details = (
            ()
            if action is Action.UNCHANGED
            else job_details(request.job, current, differing, paused)
        )
        plan.changes.append(Change(action, request.job.name, differing, call, details))
    if prune:
        declared = {request.job.name for request, _ in wanted}
        for job in scheduler.owned_jobs():
            if job.name not in declared:
                plan.changes.append(
                    Change(
                        Action.DELETE,
                        job.name,
                        (),
                        partial(scheduler.call, "delete_job", name=job.name),
                    )
                )
    return plan
