"""``ScheduledRoute``: routes that Cloud Scheduler calls on a cron schedule.

``route.scheduler(name=..., schedule=..., time_zone=...)`` checks the schedule where it is
written (cron syntax, time zone, name, deadline, retries) and returns a :class:`ScheduledJob`;
its ``.schedule(**kwargs)`` binds the arguments exactly as ``.delay()`` does, then creates the
job, updates it in place with a field mask, or leaves it alone, and says which. ``@scheduled``
declares schedules in code for ``cloudtasks-kit schedules sync``.
"""

from __future__ import annotations

import asyncio
import re
import zoneinfo
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from cronsim import CronSim, CronSimError
from dependency_injector.wiring import Provide, inject
from fastapi.routing import APIRoute
from google.api_core import exceptions as api_exceptions
from google.cloud import scheduler_v1
from google.protobuf import field_mask_pb2

from .binding import BoundRequest, RouteBinder
from .errors import ConfigurationError, ContainerNotWired
from .hooks import ScheduledJobHook, run_hooks, validated_deadline
from .mounting import copied_by_include_router, route_url, served_routes
from .reconcile import Action
from .settings import KitSettings

__all__ = [
    "JobRetry",
    "JobScheduler",
    "ScheduleResult",
    "ScheduledJob",
    "ScheduledRoute",
    "declared_jobs",
    "scheduled",
    "scheduled_job",
]

_JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,500}")
_DECLARATIONS = "__cloudtasks_schedules__"
_METHODS = {m.name: m for m in scheduler_v1.HttpMethod}  # type: ignore[attr-defined]
_PAUSED = scheduler_v1.Job.State.PAUSED
# Headers Cloud Scheduler adds to a stored job itself: not ours to compare.
_SERVICE_HEADERS = {"user-agent"}
_UNWIRED: Any = Provide

_F = TypeVar("_F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class JobRetry:
    """A job's RetryConfig: retries within one run (Cloud Scheduler allows 0 to 5)."""

    retry_count: int = 0
    min_backoff: float = 5.0
    max_backoff: float = 3600.0
    max_doublings: int = 5
    max_retry_duration: float = 0.0

    def __post_init__(self) -> None:
        if not 0 <= self.retry_count <= 5:
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


@dataclass(frozen=True, slots=True)
class ScheduleResult:
    action: Action  # CREATE, UPDATE or UNCHANGED
    name: str
    fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class _JobSpec:
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
        if not isinstance(self.name, str) or not _JOB_ID.fullmatch(self.name):
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


@dataclass(frozen=True)
class _Declaration:
    spec: _JobSpec
    kwargs: Mapping[str, Any] = field(default_factory=dict)


def scheduled(
    *,
    name: str,
    schedule: str,
    time_zone: str = "UTC",
    kwargs: Mapping[str, Any] | None = None,
    retry: JobRetry | Mapping[str, Any] | None = None,
    attempt_deadline: timedelta | float | None = None,
    description: str = "",
    paused: bool = False,
) -> Callable[[_F], _F]:
    """Declare a schedule of a route in code, for ``cloudtasks-kit schedules sync``.

    Put it below the router decorator; several may be stacked. ``kwargs`` are the route's
    arguments, validated when the route is declared.
    """
    declaration = _Declaration(
        _spec(name, schedule, time_zone, retry, attempt_deadline, description, paused, ()),
        dict(kwargs or {}),
    )

    def decorate(endpoint: _F) -> _F:
        declarations = [*getattr(endpoint, _DECLARATIONS, ()), declaration]
        setattr(endpoint, _DECLARATIONS, declarations)
        return endpoint

    return decorate


class ScheduledJob:
    """One Cloud Scheduler job of a route: ``schedule()``, ``delete()``, ``pause()``,
    ``resume()`` and ``run_now()``."""

    def __init__(self, route: ScheduledRoute, spec: _JobSpec) -> None:
        self.route = route
        self.spec = spec

    def schedule(self, *args: Any, **kwargs: Any) -> ScheduleResult:
        bound = self.route.binder.bind(*args, **kwargs)
        return _wired_scheduler().apply(self.route, self.spec, bound)

    def delete(self) -> bool:
        """Delete the job; ``False`` if there was none."""
        return _wired_scheduler().delete(self.spec.name)

    def pause(self) -> None:
        _wired_scheduler().pause(self.spec.name)

    def resume(self) -> None:
        _wired_scheduler().resume(self.spec.name)

    def run_now(self) -> None:
        _wired_scheduler().run(self.spec.name)

    # Awaitable forms. Job changes are rare and not on a hot path: they run the same code on
    # a worker thread, so the event loop keeps going and there is one implementation to trust.

    async def aschedule(self, *args: Any, **kwargs: Any) -> ScheduleResult:
        bound = self.route.binder.bind(*args, **kwargs)  # bad arguments fail here, in the loop
        scheduler = _wired_scheduler()
        return await asyncio.to_thread(scheduler.apply, self.route, self.spec, bound)

    async def adelete(self) -> bool:
        return await asyncio.to_thread(self.delete)

    async def apause(self) -> None:
        await asyncio.to_thread(self.pause)

    async def aresume(self) -> None:
        await asyncio.to_thread(self.resume)

    async def arun_now(self) -> None:
        await asyncio.to_thread(self.run_now)


class ScheduledRoute(APIRoute):
    """Route class for routers whose routes Cloud Scheduler calls; each endpoint function
    gets ``.scheduler(...)``. Declared schedules' arguments are validated here."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        self.binder = RouteBinder.for_route(self)
        self.declarations: tuple[_Declaration, ...] = tuple(getattr(endpoint, _DECLARATIONS, ()))
        for declaration in self.declarations:
            self.binder.bind(**declaration.kwargs)
        if copied_by_include_router():  # FastAPI <= 0.136: see mounting.copied_by_include_router
            return
        endpoint.scheduler = self.scheduler  # type: ignore[attr-defined]

    def scheduler(
        self,
        *,
        name: str,
        schedule: str,
        time_zone: str = "UTC",
        retry: JobRetry | Mapping[str, Any] | None = None,
        attempt_deadline: timedelta | float | None = None,
        description: str = "",
        paused: bool = False,
        hooks: Sequence[ScheduledJobHook] = (),
    ) -> ScheduledJob:
        spec = _spec(name, schedule, time_zone, retry, attempt_deadline, description, paused, hooks)
        return ScheduledJob(self, spec)


def scheduled_job(endpoint: Callable[..., Any], **spec: Any) -> ScheduledJob:
    """Typed spelling of ``endpoint.scheduler(**spec)``."""
    method = getattr(endpoint, "scheduler", None)
    if method is None or not isinstance(getattr(method, "__self__", None), ScheduledRoute):
        raise TypeError(
            f"{getattr(endpoint, '__qualname__', endpoint)!r} is not a route of a router "
            "with route_class=ScheduledRoute"
        )
    job: ScheduledJob = method(**spec)
    return job


def declared_jobs(app: Any) -> list[tuple[ScheduledJob, dict[str, Any]]]:
    """Every schedule ``@scheduled`` declares on the routes ``app`` serves.

    :raises ConfigurationError: two declarations share a name.
    """
    jobs: list[tuple[ScheduledJob, dict[str, Any]]] = []
    seen: dict[str, str] = {}
    for route, _ in served_routes(app.routes):
        if not isinstance(route, ScheduledRoute):
            continue
        for declaration in route.declarations:
            name = declaration.spec.name
            if name in seen and seen[name] != route.name:
                raise ConfigurationError(
                    f"schedule name {name!r} is declared twice: on {seen[name]} and {route.name}"
                )
            if name in seen:
                continue  # the same route reached twice (a router included twice)
            seen[name] = route.name
            jobs.append((ScheduledJob(route, declaration.spec), dict(declaration.kwargs)))
    return jobs


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
        if not _JOB_ID.fullmatch(job_id):
            raise ConfigurationError(f"job id {job_id!r} is not a valid Cloud Scheduler job id")
        return f"{self.parent}/jobs/{job_id}"

    def owns(self, job_name: str) -> bool:
        return job_name.rsplit("/", 1)[1].startswith(self.settings.scheduler_job_prefix)

    def build(
        self, route: APIRoute, spec: _JobSpec, bound: BoundRequest
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
        return run_hooks((*self.hooks, *spec.hooks), request)

    def plan(
        self, request: scheduler_v1.CreateJobRequest, paused: bool
    ) -> tuple[Action, tuple[str, ...], scheduler_v1.Job | None]:
        """What applying this job would do, against what exists."""
        try:
            current = self.client.get_job(name=request.job.name)
        except api_exceptions.NotFound:
            return Action.CREATE, (), None
        differing = job_differences(request.job, current)
        if (current.state == _PAUSED) != paused:
            differing = (*differing, "state")
        return (Action.UPDATE if differing else Action.UNCHANGED), differing, current

    def apply(self, route: APIRoute, spec: _JobSpec, bound: BoundRequest) -> ScheduleResult:
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
            self.client.create_job(request=request)
            if paused:
                self.client.pause_job(name=name)
        elif action is Action.UPDATE:
            mask = [path for path in differing if path != "state"]
            if mask:
                # One UpdateJob with a field mask: the job keeps its name and never disappears.
                self.client.update_job(
                    job=request.job, update_mask=field_mask_pb2.FieldMask(paths=mask)
                )
            if "state" in differing:
                (self.client.pause_job if paused else self.client.resume_job)(name=name)

    def delete(self, name: str) -> bool:
        try:
            self.client.delete_job(name=self.job_name(name))
        except api_exceptions.NotFound:
            return False
        return True

    def pause(self, name: str) -> None:
        self.client.pause_job(name=self.job_name(name))

    def resume(self, name: str) -> None:
        self.client.resume_job(name=self.job_name(name))

    def run(self, name: str) -> None:
        self.client.run_job(name=self.job_name(name))

    def owned_jobs(self) -> Iterator[scheduler_v1.Job]:
        for job in self.client.list_jobs(parent=self.parent):
            if self.owns(job.name):
                yield job


def job_differences(wanted: scheduler_v1.Job, current: scheduler_v1.Job) -> tuple[str, ...]:
    """Update-mask paths whose values differ; fields ``wanted`` leaves unset are not compared
    (the service's defaults stand)."""
    differing = [
        path
        for path in ("description", "schedule", "time_zone")
        if getattr(wanted, path) != getattr(current, path)
    ]
    if _target(wanted.http_target) != _target(current.http_target):
        differing.append("http_target")
    if "retry_config" in wanted and _retry(wanted.retry_config) != _retry(current.retry_config):
        differing.append("retry_config")
    if "attempt_deadline" in wanted and wanted.attempt_deadline != current.attempt_deadline:
        differing.append("attempt_deadline")
    return tuple(differing)


def _retry(retry: scheduler_v1.RetryConfig) -> tuple[Any, ...]:
    # Zero reads as "unset" in proto3, and the service stores its default instead: compare
    # what the service will hold, or a job asking for zero would be updated on every sync.
    return (
        retry.retry_count,
        retry.min_backoff_duration or timedelta(seconds=5),
        retry.max_backoff_duration or timedelta(hours=1),
        retry.max_doublings or 5,
        retry.max_retry_duration,
    )


def _target(target: scheduler_v1.HttpTarget) -> tuple[Any, ...]:
    headers = {
        key.lower(): value
        for key, value in target.headers.items()
        if key.lower() not in _SERVICE_HEADERS
    }
    oidc = target.oidc_token
    return (
        target.uri,
        int(target.http_method) or int(scheduler_v1.HttpMethod.POST),
        sorted(headers.items()),
        target.body,
        oidc.service_account_email,
        oidc.audience,
    )


def _spec(
    name: str,
    schedule: str,
    time_zone: str,
    retry: JobRetry | Mapping[str, Any] | None,
    attempt_deadline: timedelta | float | None,
    description: str,
    paused: bool,
    hooks: Sequence[ScheduledJobHook],
) -> _JobSpec:
    if isinstance(retry, Mapping):
        retry = JobRetry(**retry)
    deadline = (
        validated_deadline(attempt_deadline, "attempt_deadline")
        if attempt_deadline is not None
        else None
    )
    return _JobSpec(name, schedule, time_zone, description, retry, deadline, paused, tuple(hooks))


@inject
def _wired_scheduler(scheduler: Any = Provide["job_scheduler"]) -> JobScheduler:
    if isinstance(scheduler, _UNWIRED):
        raise ContainerNotWired(
            "no cloudtasks-kit container is wired: create one before scheduling jobs, e.g. "
            "`container = cloudtasks_kit.Container(); container.wire(modules=[__name__])`"
        )
    result: JobScheduler = scheduler
    return result
