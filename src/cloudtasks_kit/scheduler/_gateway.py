"""The Cloud Scheduler side of scheduled routes: build a job's request, compare it with the job
that exists, and create, update in place, pause, resume, run or delete it.

:class:`JobScheduler` is what the container hands to ``.schedule()`` and to
``schedules sync``: the settings, the client and the hook chain.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi.routing import APIRoute
from google.api_core import exceptions as api_exceptions
from google.cloud import scheduler_v1
from google.protobuf import field_mask_pb2

from .._action import Action
from .._binding import BoundRequest
from .._errors import ConfigurationError, InvalidTaskArguments
from .._hooks import ScheduledJobHook, run_hooks
from .._protocol import JOB_ID, header_problems
from .._routing import route_url
from .._rpc import CLOUD_SCHEDULER, call_options, rpc_errors
from ..settings import KitSettings
from ._diff import job_differences
from ._spec import JobSpec

__all__ = ["JobScheduler", "ScheduleResult"]

_METHODS = {m.name: m for m in scheduler_v1.HttpMethod}  # type: ignore[attr-defined]
_PAUSED = scheduler_v1.Job.State.PAUSED


@dataclass(frozen=True, slots=True)
class ScheduleResult:
    action: Action  # CREATE, UPDATE or UNCHANGED
    name: str
    fields: tuple[str, ...] = ()


class JobScheduler:
    """What the container hands to scheduled routes: settings, client, hooks."""

    def __init__(
        self,
        settings: KitSettings,
        client: Any,
        hooks: Sequence[ScheduledJobHook],
        worker_app: Any = None,
    ) -> None:
        self.settings = settings
        self.client = client
        self.hooks = tuple(hooks)
        self.worker_app = worker_app

    @property
    def parent(self) -> str:
        settings = self.settings
        location = settings.scheduler_location or settings.location
        if settings.project is None or location is None:
            raise ConfigurationError(
                "Cloud Scheduler jobs need CLOUDTASKS_PROJECT and CLOUDTASKS_LOCATION "
                "(or CLOUDTASKS_SCHEDULER_LOCATION)"
            )
        return f"projects/{settings.project}/locations/{location}"

    def job_name(self, name: str) -> str:
        job_id = f"{self.settings.scheduler_job_prefix}{name}"
        if not JOB_ID.fullmatch(job_id):
            raise ConfigurationError(f"job id {job_id!r} is not a valid Cloud Scheduler job id")
        return f"{self.parent}/jobs/{job_id}"

    def owns(self, job_name: str) -> bool:
        return job_name.rsplit("/", 1)[1].startswith(self.settings.scheduler_job_prefix)

    def build(
        self, route: APIRoute, spec: JobSpec, bound: BoundRequest
    ) -> scheduler_v1.CreateJobRequest:
        job = scheduler_v1.Job(
            name=self.job_name(spec.name),
            description=spec.description,
            schedule=spec.schedule,
            time_zone=spec.time_zone,
            http_target=scheduler_v1.HttpTarget(
                uri=route_url(self.settings.base_url, self.worker_app, route, bound.path),
                http_method=_METHODS[bound.method],
                headers=bound.headers,
                body=bound.body,
            ),
        )
        if spec.retry is not None:
            job.retry_config = spec.retry.to_proto()
        if spec.attempt_deadline is not None:
            job.attempt_deadline = spec.attempt_deadline
        request = scheduler_v1.CreateJobRequest(parent=self.parent, job=job)
        hooked = run_hooks((*self.hooks, *spec.hooks), request)
        # What reaches the RPC can be sent: no header with CR/LF/NUL, none twice, under 80 KB.
        problems = header_problems(dict(hooked.job.http_target.headers))
        if problems:
            methods = "|".join(sorted(route.methods or ()))
            raise InvalidTaskArguments(f"{route.name} ({methods} {route.path})", problems)
        return hooked

    def plan(
        self, request: scheduler_v1.CreateJobRequest, paused: bool
    ) -> tuple[Action, tuple[str, ...], scheduler_v1.Job | None]:
        """What applying this job would do, against what exists."""
        try:
            current = self.call("get_job", name=request.job.name)
        except api_exceptions.NotFound:
            return Action.CREATE, (), None
        differing = job_differences(request.job, current)
        if (current.state == _PAUSED) != paused:
            differing = (*differing, "state")
        return (Action.UPDATE if differing else Action.UNCHANGED), differing, current

    def apply(self, route: APIRoute, spec: JobSpec, bound: BoundRequest) -> ScheduleResult:
        request = self.build(route, spec, bound)
        action, differing, _ = self.plan(request, spec.paused)
        self.carry_out(request, action, differing, spec.paused)
        return ScheduleResult(action, request.job.name, differing)

    def carry_out(
        self,
        request: scheduler_v1.CreateJobRequest,
        action: Action,
        differing: Sequence[str],
        paused: bool,
    ) -> None:
        name = request.job.name
        if action is Action.CREATE:
            self.call("create_job", request=request)
            if paused:
                self.call("pause_job", name=name)
        elif action is Action.UPDATE:
            mask = [path for path in differing if path != "state"]
            if mask:
                # One UpdateJob with a field mask: the job keeps its name and never disappears.
                self.call(
                    "update_job", job=request.job, update_mask=field_mask_pb2.FieldMask(paths=mask)
                )
            if "state" in differing:
                self.call("pause_job" if paused else "resume_job", name=name)

    def delete(self, name: str) -> bool:
        try:
            self.call("delete_job", name=self.job_name(name))
        except api_exceptions.NotFound:
            return False
        return True

    def pause(self, name: str) -> None:
        self.call("pause_job", name=self.job_name(name))

    def resume(self, name: str) -> None:
        self.call("resume_job", name=self.job_name(name))

    def run(self, name: str) -> None:
        self.call("run_job", name=self.job_name(name))

    def owned_jobs(self) -> Iterator[scheduler_v1.Job]:
        # Each page is a call of its own, made while iterating: inside the error mapping too.
        with rpc_errors(self.settings, CLOUD_SCHEDULER):
            for job in self.call("list_jobs", parent=self.parent):
                if self.owns(job.name):
                    yield job

    def call(self, method: str, **arguments: Any) -> Any:
        """One Cloud Scheduler call with the settings' deadline and retry.

        :raises ServiceUnreachable: no answer within ``rpc_timeout``.
        :raises ConfigurationError: Google refused the credentials or the project.
        """
        with rpc_errors(self.settings, CLOUD_SCHEDULER):
            return getattr(self.client, method)(**arguments, **call_options(self.settings))
