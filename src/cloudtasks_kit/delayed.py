"""``DelayedRoute``: every route on a router using it gets ``.delay()`` and ``.options()``.

A call reads top to bottom: options were checked when given; ``delay`` binds and validates
the arguments against the route's signature (no RPC yet), asks the wired container for a
:class:`~cloudtasks_kit.enqueue.TaskEnqueuer`, and lets it build, hook and create the task.
"""

from __future__ import annotations

import asyncio
import inspect
import re
import warnings
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

from dependency_injector import providers
from dependency_injector.wiring import Provide, Provider, inject
from fastapi.routing import APIRoute

from .binding import BoundRequest, RouteBinder
from .enqueue import DelayOptions, DelayResult, TaskEnqueuer
from .errors import (
    BlockingDelayWarning,
    CloudTasksKitError,
    ContainerNotWired,
    InvalidTaskArguments,
    TaskAlreadyExists,
)
from .hooks import DelayedTaskHook, validated_deadline
from .mounting import copied_by_include_router

__all__ = [
    "BulkItem",
    "BulkResult",
    "DelayedRoute",
    "Delayer",
    "delayer",
    "task_default_options",
]

_DEFAULTS_ATTRIBUTE = "__cloudtasks_delay_options__"
_TASK_ID = re.compile(r"[A-Za-z0-9_-]{1,500}")
_MAX_AHEAD = timedelta(days=30)
_OPTION_NAMES = tuple(f.name for f in fields(DelayOptions))
# ``None`` for an option means its default: no countdown, no headers, no extra hooks, ...
_OPTION_DEFAULTS = {f.name: f.default for f in fields(DelayOptions)}

_F = TypeVar("_F", bound=Callable[..., Any])
# What an @inject parameter still holds when no container wired the module.
_UNWIRED: Any = Provide
_UNWIRED_PROVIDER: Any = Provider


def task_default_options(**options: Any) -> Callable[[_F], _F]:
    """Per-route defaults for ``.delay()``: ``countdown``, ``eta``, ``task_id``,
    ``hash_task_id``, ``queue``, ``base_url``, ``dispatch_deadline``, ``headers``, ``hooks``,
    ``create_timeout``. Put it below the router decorator."""
    parsed = _parse_options(DelayOptions(), options)

    def decorate(endpoint: _F) -> _F:
        setattr(endpoint, _DEFAULTS_ATTRIBUTE, parsed)
        return endpoint

    return decorate


class Delayer:
    """``.delay()`` for one route with a fixed set of options; ``.options()`` makes another."""

    __slots__ = ("_options", "_route")

    def __init__(self, route: DelayedRoute, options: DelayOptions | None = None) -> None:
        self._route = route
        self._options = options

    def options(self, **options: Any) -> Delayer:
        """A delayer whose options are these over the route's defaults; checked now.

        ``hooks`` run after the route's (and earlier ``.options()``'); ``None`` for any option
        means its default (``hooks=None`` drops the route's hooks).
        """
        return Delayer(self._route, _parse_options(self._effective_options(), options))

    def delay(self, *args: Any, **kwargs: Any) -> DelayResult:
        """Validate the arguments against the route, then create the task.

        Blocks until Cloud Tasks answers: inside ``async def`` code use :meth:`adelay`.

        :raises InvalidTaskArguments: an argument is missing, unknown, positional or of the
            wrong type (nothing is sent).
        :raises TaskAlreadyExists: a task with this ``task_id`` exists or ran recently.
        :raises ContainerNotWired: no kit container was created and wired.
        """
        bound = self._route.binder.bind(*args, **kwargs)
        _warn_if_loop_running()
        return _wired_enqueuer().enqueue(self._route, bound, self._effective_options())

    async def adelay(self, *args: Any, **kwargs: Any) -> DelayResult:
        """:meth:`delay` on the container's async client: the event loop keeps running."""
        bound = self._route.binder.bind(*args, **kwargs)
        enqueuer = await _awired_enqueuer()
        return await enqueuer.aenqueue(self._route, bound, self._effective_options())

    def delay_many(
        self,
        calls: Iterable[Mapping[str, Any]],
        *,
        task_ids: Sequence[str] | None = None,
        concurrency: int = 16,
    ) -> BulkResult:
        """Enqueue one task per mapping of keyword arguments, ``concurrency`` at a time.

        Every item is validated before the first RPC. Items whose ``task_ids`` entry already
        exists come back as ``already_exists``, so a retried bulk call with the same ids
        creates nothing twice.
        """
        prepared = _prepare_bulk(self._route, self._effective_options(), calls, task_ids)
        enqueuer = _wired_enqueuer()
        with ThreadPoolExecutor(max_workers=_concurrency(concurrency)) as pool:
            items = list(
                pool.map(
                    lambda item: _bulk_item(
                        item[0], lambda: enqueuer.enqueue(self._route, *item[1])
                    ),
                    enumerate(prepared),
                )
            )
        return BulkResult(tuple(items))

    async def adelay_many(
        self,
        calls: Iterable[Mapping[str, Any]],
        *,
        task_ids: Sequence[str] | None = None,
        concurrency: int = 64,
    ) -> BulkResult:
        """:meth:`delay_many` on the async client, ``concurrency`` calls in flight."""
        prepared = _prepare_bulk(self._route, self._effective_options(), calls, task_ids)
        enqueuer = await _awired_enqueuer()
        results: list[BulkItem | None] = [None] * len(prepared)
        pending = iter(enumerate(prepared))

        async def worker() -> None:
            for index, (bound, options) in pending:
                results[index] = await _abulk_item(
                    index, enqueuer.aenqueue(self._route, bound, options)
                )

        await asyncio.gather(*(worker() for _ in range(_concurrency(concurrency))))
        return BulkResult(tuple(item for item in results if item is not None))

    def _effective_options(self) -> DelayOptions:
        if self._options is not None:
            return self._options
        defaults = getattr(self._route.endpoint, _DEFAULTS_ATTRIBUTE, None)
        return defaults if isinstance(defaults, DelayOptions) else DelayOptions()


class DelayedRoute(APIRoute):
    """Route class for routers whose routes are Cloud Tasks targets.

    Declaring a route checks that every parameter can come from a task's request (so a
    ``Request`` parameter or several methods fail here, not at ``.delay()`` time) and gives
    the endpoint function ``.delay`` and ``.options``.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        self.binder = RouteBinder.for_route(self)
        self.delayer = Delayer(self)
        if copied_by_include_router():  # FastAPI <= 0.136: see mounting.copied_by_include_router
            return
        # Users call the function they decorated: make_dinner.delay(...).
        endpoint.delay = self.delayer.delay  # type: ignore[attr-defined]
        endpoint.adelay = self.delayer.adelay  # type: ignore[attr-defined]
        endpoint.delay_many = self.delayer.delay_many  # type: ignore[attr-defined]
        endpoint.adelay_many = self.delayer.adelay_many  # type: ignore[attr-defined]
        endpoint.options = self.delayer.options  # type: ignore[attr-defined]
        endpoint.delayer = self.delayer  # type: ignore[attr-defined]


def delayer(endpoint: Callable[..., Any]) -> Delayer:
    """The typed way to reach ``endpoint.delay`` (a type checker cannot see attributes set on
    functions): ``delayer(make_dinner).options(countdown=60).delay(...)``."""
    found = getattr(endpoint, "delayer", None)
    if not isinstance(found, Delayer):
        raise TypeError(
            f"{getattr(endpoint, '__qualname__', endpoint)!r} is not a route of a router "
            "with route_class=DelayedRoute"
        )
    return found


@dataclass(frozen=True, slots=True)
class BulkItem:
    index: int
    status: Literal["created", "already_exists", "failed"]
    result: DelayResult | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class BulkResult:
    """Per-item outcomes of ``delay_many`` / ``adelay_many``, in the order of the calls."""

    items: tuple[BulkItem, ...]

    @property
    def created(self) -> list[BulkItem]:
        return [item for item in self.items if item.status == "created"]

    @property
    def failed(self) -> list[BulkItem]:
        return [item for item in self.items if item.status == "failed"]

    @property
    def ok(self) -> bool:
        return not self.failed


def _prepare_bulk(
    route: DelayedRoute,
    options: DelayOptions,
    calls: Iterable[Mapping[str, Any]],
    task_ids: Sequence[str] | None,
) -> list[tuple[BoundRequest, DelayOptions]]:
    """Bind every call and check every id first: a bad item fails the batch before any RPC."""
    calls = list(calls)
    if task_ids is not None and len(task_ids) != len(calls):
        raise ValueError(f"task_ids: {len(task_ids)} ids for {len(calls)} calls")
    prepared: list[tuple[BoundRequest, DelayOptions]] = []
    errors: list[str] = []
    for index, kwargs in enumerate(calls):
        try:
            bound = route.binder.bind(**kwargs)
            item_options = (
                options if task_ids is None else replace(options, task_id=_task_id(task_ids[index]))
            )
        except (InvalidTaskArguments, ValueError) as exc:
            errors.append(f"item {index}: {exc}")
            continue
        prepared.append((bound, item_options))
    if errors:
        raise InvalidTaskArguments(route.name, errors)
    return prepared


def _bulk_item(index: int, enqueue: Callable[[], DelayResult]) -> BulkItem:
    try:
        return BulkItem(index, "created", enqueue())
    except TaskAlreadyExists as exc:
        return BulkItem(index, "already_exists", error=str(exc))
    except CloudTasksKitError as exc:
        return BulkItem(index, "failed", error=str(exc))


async def _abulk_item(index: int, enqueue: Awaitable[DelayResult]) -> BulkItem:
    try:
        return BulkItem(index, "created", await enqueue)
    except TaskAlreadyExists as exc:
        return BulkItem(index, "already_exists", error=str(exc))
    except CloudTasksKitError as exc:
        return BulkItem(index, "failed", error=str(exc))


def _concurrency(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"concurrency: expected a positive integer, got {value!r}")
    return value


def _warn_if_loop_running() -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    warnings.warn(
        "a sync .delay() inside a running event loop blocks it until Cloud Tasks answers; "
        "use `await route.adelay(...)` (or delayer(route).adelay(...)) instead",
        BlockingDelayWarning,
        stacklevel=3,
    )


async def _awired_enqueuer() -> TaskEnqueuer:
    provider = _async_enqueuer_provider()
    if isinstance(provider, _UNWIRED_PROVIDER):
        raise ContainerNotWired(
            "no cloudtasks-kit container is wired: create one before calling .adelay(), e.g. "
            "`container = cloudtasks_kit.Container(); container.wire(modules=[__name__])`"
        )
    enqueuer = _provide_now(provider)
    if inspect.isawaitable(enqueuer):
        enqueuer = await enqueuer
    result: TaskEnqueuer = enqueuer
    return result


@inject
def _async_enqueuer_provider(provider: Any = Provider["async_task_enqueuer"]) -> Any:
    return provider


def _provide_now(provider: Any) -> Any:
    """``provider()``, without the event-loop round trips it costs once the client is ready.

    The async client is an async ``Resource``: even initialised, dependency_injector hands it
    out as a (done) future, so a factory using it answers with a future of its own, resolved
    through ``gather`` and a handful of loop iterations (about 40 us per call, more than the
    rest of ``adelay``'s own work). When the factory is not overridden and its ``client``
    dependency answers a done future, this passes that future's result as ``client=``: the
    very value the factory would have awaited. Anything else takes the ordinary path.
    """
    if isinstance(provider, providers.Factory) and not provider.overridden:
        dependency = provider.kwargs.get("client")
        if isinstance(dependency, providers.Provider):
            client = dependency()
            if (
                isinstance(client, asyncio.Future)
                and client.done()
                and not client.cancelled()
                and client.exception() is None
            ):
                return provider(client=client.result())
    return provider()


@inject
def _wired_enqueuer(enqueuer: Any = Provide["task_enqueuer"]) -> TaskEnqueuer:
    if isinstance(enqueuer, _UNWIRED):
        raise ContainerNotWired(
            "no cloudtasks-kit container is wired: create one before calling .delay(), e.g. "
            "`container = cloudtasks_kit.Container(); container.wire(modules=[__name__])`"
        )
    result: TaskEnqueuer = enqueuer
    return result


def _parse_options(base: DelayOptions, options: Mapping[str, Any]) -> DelayOptions:
    unknown = sorted(set(options) - set(_OPTION_NAMES))
    if unknown:
        raise TypeError(
            f"unknown delay option(s) {', '.join(unknown)}; known: {', '.join(_OPTION_NAMES)}"
        )
    changes: dict[str, Any] = {
        name: (_OPTION_CHECKS[name](value) if value is not None else _OPTION_DEFAULTS[name])
        for name, value in options.items()
    }
    if changes.get("countdown") is not None and changes.get("eta") is not None:
        raise TypeError("pass countdown or eta, not both")
    if changes.get("hooks"):
        # Hooks add to the route's (and earlier .options()'), and run after them, in order.
        changes["hooks"] = (*base.hooks, *changes["hooks"])
    if changes.get("headers"):
        # Headers merge over the route's; a name given again takes the newer value.
        changes["headers"] = tuple({**dict(base.headers), **dict(changes["headers"])}.items())
    merged = replace(base, **changes)
    # A countdown given per call replaces a default eta, and the other way round.
    if changes.get("countdown") is not None:
        merged = replace(merged, eta=None)
    if changes.get("eta") is not None:
        merged = replace(merged, countdown=None)
    return merged


def _countdown(value: Any) -> float:
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"countdown: expected seconds or a timedelta, got {value!r}")
    if value < 0:
        raise ValueError(f"countdown: must not be negative, got {value}")
    if value > _MAX_AHEAD.total_seconds():
        raise ValueError("countdown: Cloud Tasks schedules at most 30 days ahead")
    return float(value)


def _eta(value: Any) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"eta: expected a datetime, got {value!r}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("eta: must be an aware datetime (e.g. datetime.now(UTC) + ...)")
    if value - datetime.now(UTC) > _MAX_AHEAD:
        raise ValueError("eta: Cloud Tasks schedules at most 30 days ahead")
    return value


def _task_id(value: Any) -> str:
    if not isinstance(value, str) or not _TASK_ID.fullmatch(value):
        raise ValueError(
            f"task_id: {value!r} must be 1-500 letters, digits, hyphens or underscores"
        )
    return value


def _text(name: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if not isinstance(value, str) or not value:
            raise TypeError(f"{name}: expected a non-empty string, got {value!r}")
        return value

    return check


def _deadline(value: Any) -> timedelta:
    return validated_deadline(value, "dispatch_deadline")


def _headers(value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, Mapping):
        raise TypeError(f"headers: expected a mapping of names to values, got {value!r}")
    pairs = tuple(value.items())
    for key, item in pairs:
        if not isinstance(key, str) or not isinstance(item, str):
            raise TypeError(f"headers: names and values must be strings, got {key!r}: {item!r}")
    return pairs


def _hooks(value: Any) -> tuple[DelayedTaskHook, ...]:
    hooks = tuple(value) if isinstance(value, Sequence) else (value,)
    for hook in hooks:
        if not callable(hook):
            raise TypeError(f"hooks: {hook!r} is not callable")
    return hooks


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"hash_task_id: expected True or False, got {value!r}")
    return value


def _timeout(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValueError(f"create_timeout: expected positive seconds, got {value!r}")
    return float(value)


_OPTION_CHECKS: dict[str, Callable[[Any], Any]] = {
    "countdown": _countdown,
    "eta": _eta,
    "task_id": _task_id,
    "hash_task_id": _flag,
    "queue": _text("queue"),
    "base_url": _text("base_url"),
    "dispatch_deadline": _deadline,
    "headers": _headers,
    "hooks": _hooks,
    "create_timeout": _timeout,
}
