"""``ScheduledRoute``: routes that Cloud Scheduler calls on a cron schedule.

``scheduled_job(route_function, name=..., schedule=..., time_zone=...)`` (or the untyped
``route_function.scheduler(...)``) checks the schedule where it is written and returns a
:class:`ScheduledJob`; its ``.schedule(**kwargs)`` binds the arguments exactly as ``.delay()``
does, then creates the job, updates it in place with a field mask, or leaves it alone, and
says which. The job's calls go through the active container's
:class:`~cloudtasks_kit.JobScheduler`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Generic, ParamSpec, Unpack

from fastapi.routing import APIRoute

from .._active import active_container
from .._binding import RouteBinder
from .._errors import ConfigurationError
from .._routing import declare_route, declared_route, served_routes
from ._declarations import Declaration, declarations_of
from ._gateway import JobScheduler, ScheduleResult
from ._spec import JobArguments, JobSpec, job_spec

__all__ = ["ScheduledJob", "ScheduledRoute", "scheduled_job"]

P = ParamSpec("P")


class ScheduledJob(Generic[P]):
    """One Cloud Scheduler job of a route: ``schedule()``, ``delete()``, ``pause()``,
    ``resume()`` and ``run_now()``, and their awaitable forms.

    Typed by the route function's parameters when made with :func:`scheduled_job`.
    """

    def __init__(self, route: ScheduledRoute, spec: JobSpec) -> None:
        self.route = route
        self.spec = spec

    def schedule(self, *args: P.args, **kwargs: P.kwargs) -> ScheduleResult:
        bound = self.route.binder.bind(*args, **kwargs)
        return _scheduler().apply(self.route, self.spec, bound)

    def delete(self) -> bool:
        """Delete the job; ``False`` if there was none."""
        return _scheduler().delete(self.spec.name)

    def pause(self) -> None:
        _scheduler().pause(self.spec.name)

    def resume(self) -> None:
        _scheduler().resume(self.spec.name)

    def run_now(self) -> None:
        _scheduler().run(self.spec.name)

    # Awaitable forms. Job changes are rare and not on a hot path: they run the same code on
    # a worker thread, so the event loop keeps going and there is one implementation to trust.

    async def aschedule(self, *args: P.args, **kwargs: P.kwargs) -> ScheduleResult:
        bound = self.route.binder.bind(*args, **kwargs)  # bad arguments fail here, in the loop
        scheduler = _scheduler()
        return await asyncio.to_thread(scheduler.apply, self.route, self.spec, bound)

    async def adelete(self) -> bool:
        scheduler = _scheduler()  # in the caller's context: the thread does not see it
        return await asyncio.to_thread(scheduler.delete, self.spec.name)

    async def apause(self) -> None:
        scheduler = _scheduler()
        await asyncio.to_thread(scheduler.pause, self.spec.name)

    async def aresume(self) -> None:
        scheduler = _scheduler()
        await asyncio.to_thread(scheduler.resume, self.spec.name)

    async def arun_now(self) -> None:
        scheduler = _scheduler()
        await asyncio.to_thread(scheduler.run, self.spec.name)


class ScheduledRoute(APIRoute):
    """Route class for routers whose routes Cloud Scheduler calls:
    ``APIRouter(route_class=ScheduledRoute)``. Declared schedules' arguments are validated
    here, when the route is declared."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        self.binder = RouteBinder.for_route(self)
        self.declarations: tuple[Declaration, ...] = declarations_of(endpoint)
        for declaration in self.declarations:
            self.binder.bind(**declaration.kwargs)
        if declare_route(self):
            # The untyped spelling, home_cook.scheduler(...): only on the declared route, so a
            # copy made by include_router never takes it over.
            setattr(endpoint, "scheduler", self.scheduler)  # noqa: B010

    def scheduler(self, **arguments: Unpack[JobArguments]) -> ScheduledJob[...]:
        """A job of this route, checked now: ``name``, ``schedule`` (unix-cron),
        ``time_zone``, ``retry``, ``attempt_deadline``, ``description``, ``paused``, ``hooks``."""
        return ScheduledJob(self, job_spec(**arguments))


def scheduled_job(endpoint: Callable[P, Any], **arguments: Unpack[JobArguments]) -> ScheduledJob[P]:
    """The typed spelling of ``endpoint.scheduler(...)``: ``.schedule(...)`` of the job it
    returns is checked by mypy and pyright against ``endpoint``'s own parameters.

    :raises TypeError: ``endpoint`` is not a route of a router with
        ``route_class=ScheduledRoute``.
    """
    route = declared_route(endpoint, ScheduledRoute)
    if route is None:
        raise TypeError(
            f"{getattr(endpoint, '__qualname__', endpoint)!r} is not a route of a router "
            "with route_class=ScheduledRoute"
        )
    return ScheduledJob(route, job_spec(**arguments))


def declared_jobs(app: Any) -> list[tuple[ScheduledJob[...], dict[str, Any]]]:
    """Every schedule ``@scheduled`` declares on the routes ``app`` serves.

    :raises ConfigurationError: two declarations share a name.
    """
    jobs: list[tuple[ScheduledJob[...], dict[str, Any]]] = []
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


def _scheduler() -> JobScheduler:
    scheduler: JobScheduler = active_container(what="a Cloud Scheduler job").job_scheduler()
    return scheduler
