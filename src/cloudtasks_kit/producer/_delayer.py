"""``.delay()`` for one route: bind and validate the arguments, then hand them to the enqueuer.

A call reads top to bottom: options were checked when given; ``delay`` binds and validates
the arguments against the route's signature (no RPC yet), asks the active container (see
:mod:`cloudtasks_kit._active`) for a :class:`~cloudtasks_kit.TaskEnqueuer`, and lets it build,
hook and create the task.

:class:`Delayer` carries the route function's parameters as a ``ParamSpec``, so a type
checker checks ``delayer(make_dinner).delay(...)`` against ``make_dinner``'s own signature.
"""

from __future__ import annotations

import asyncio
import sys
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Generic, ParamSpec, Unpack

from fastapi.routing import APIRoute

from .._active import active_container
from .._binding import RouteBinder
from .._errors import BlockingDelayWarning
from ._batch import acreate_many, create_many
from ._bulk import BulkResult, check_concurrency, prepare_bulk
from ._enqueue import DelayResult, TaskEnqueuer
from ._options import DelayOptions, OptionArguments, merge_options, route_defaults

__all__ = ["Delayer"]

P = ParamSpec("P")


class Delayer(Generic[P]):
    """``.delay()`` for one route with a fixed set of options; ``.options()`` makes another.

    Get one with :func:`~cloudtasks_kit.delayer` (typed by the route function's parameters)
    or as ``endpoint.delay`` / ``endpoint.options(...)`` (the untyped spelling).
    """

    __slots__ = ("_binder", "_options", "_route")

    def __init__(
        self, route: APIRoute, binder: RouteBinder, options: DelayOptions | None = None
    ) -> None:
        self._route = route
        self._binder = binder
        self._options = options

    def options(self, **options: Unpack[OptionArguments]) -> Delayer[P]:
        """A delayer whose options are these over the route's defaults; checked now.

        ``hooks`` run after the route's (and earlier ``.options()``'); ``None`` for any option
        means its default (``hooks=None`` drops the route's hooks).
        """
        options_ = merge_options(self._effective_options(), options)
        return Delayer(self._route, self._binder, options_)

    def delay(self, *args: P.args, **kwargs: P.kwargs) -> DelayResult:
        """Validate the arguments against the route, then create the task.

        Arguments are keywords only (a positional one is refused, naming the keyword to use).
        Blocks until Cloud Tasks answers: inside ``async def`` code use :meth:`adelay`.

        :raises InvalidTaskArguments: an argument is missing, unknown, positional or of the
            wrong type (nothing is sent).
        :raises TaskAlreadyExists: a task with this ``task_id`` exists or ran recently.
        :raises ContainerNotWired: no kit container is wired or bound.
        """
        bound = self._binder.bind(*args, **kwargs)
        _warn_if_loop_running()
        enqueuer: TaskEnqueuer = active_container().task_enqueuer()
        return enqueuer.enqueue(self._route, bound, self._effective_options())

    async def adelay(self, *args: P.args, **kwargs: P.kwargs) -> DelayResult:
        """:meth:`delay` on the container's async client: the event loop keeps running."""
        bound = self._binder.bind(*args, **kwargs)
        enqueuer: TaskEnqueuer = active_container(what=".adelay()").async_task_enqueuer()
        return await enqueuer.aenqueue(self._route, bound, self._effective_options())

    def delay_many(
        self,
        calls: Iterable[Mapping[str, Any]],
        *,
        task_ids: Sequence[str] | None = None,
        concurrency: int = 16,
    ) -> BulkResult:
        """Enqueue one task per mapping of keyword arguments, in BatchCreateTasks calls of at
        most 100 tasks per queue, ``concurrency`` calls at a time.

        Every item is validated before the first RPC. Items whose ``task_ids`` entry already
        exists come back as ``already_exists``, so a retried bulk call with the same ids
        creates nothing twice. Where the service has no batch method, each task is one
        CreateTask (``concurrency`` at a time).
        """
        prepared = self._prepare(calls, task_ids)
        enqueuer: TaskEnqueuer = active_container(what=".delay_many()").task_enqueuer()
        items = create_many(enqueuer, self._route, prepared, check_concurrency(concurrency))
        return BulkResult(tuple(items))

    async def adelay_many(
        self,
        calls: Iterable[Mapping[str, Any]],
        *,
        task_ids: Sequence[str] | None = None,
        concurrency: int = 64,
    ) -> BulkResult:
        """:meth:`delay_many` on the async client, ``concurrency`` calls in flight."""
        prepared = self._prepare(calls, task_ids)
        enqueuer: TaskEnqueuer = active_container(what=".adelay_many()").async_task_enqueuer()
        items = await acreate_many(enqueuer, self._route, prepared, check_concurrency(concurrency))
        return BulkResult(tuple(items))

    def _prepare(
        self, calls: Iterable[Mapping[str, Any]], task_ids: Sequence[str] | None
    ) -> list[Any]:
        options = self._effective_options()
        return prepare_bulk(self._binder, self._route.name, options, calls, task_ids)

    def _effective_options(self) -> DelayOptions:
        if self._options is not None:
            return self._options
        return route_defaults(self._route.endpoint)


# Call sites warned about already. The warnings module's own once-per-location registry is
# emptied whenever anything changes the warning filters, and OpenTelemetry's SDK does so in
# every get_tracer(), which each traced .delay() calls: the warning came back every time.
_WARNED: set[tuple[str, int]] = set()


def _warn_if_loop_running() -> None:
    # get_running_loop() raises when there is none, on every sync .delay(): this one says None.
    if asyncio._get_running_loop() is None:
        return
    caller = sys._getframe(2)  # 0: here, 1: delay(), 2: the call site (stacklevel=3 below)
    site = (caller.f_code.co_filename, caller.f_lineno)
    if site in _WARNED:
        return
    _WARNED.add(site)
    warnings.warn(
        "a sync .delay() inside a running event loop blocks it until Cloud Tasks answers; "
        "use `await route.adelay(...)` (or delayer(route).adelay(...)) instead",
        BlockingDelayWarning,
        stacklevel=3,
    )
