"""Where a route is really served: the prefixes of every ``include_router`` up to the app.

FastAPI versions that copy routes on ``include_router`` give each copy its full path; newer
ones keep the router's own route objects and apply prefixes while routing. Walking the app
answers both ways, so a task's URL is right whatever the installed FastAPI does.
"""

from __future__ import annotations

import sys
import weakref
from collections.abc import Iterable, Iterator
from types import FrameType
from typing import Any

from fastapi.routing import APIRoute, APIRouter
from starlette.routing import BaseRoute

from .errors import ConfigurationError

__all__ = ["copied_by_include_router", "mount_prefix", "route_url", "served_routes"]

# A memo, app -> id(route) -> (routes version, prefix): walking a large app on every .delay()
# cost more than binding the arguments. Weak, so it never keeps an app alive.
_PREFIXES: weakref.WeakKeyDictionary[Any, dict[int, tuple[object, str]]] = (
    weakref.WeakKeyDictionary()
)

_INCLUDE_ROUTER = APIRouter.include_router.__code__


def route_url(base_url: object, worker_app: Any, route: APIRoute, path: str) -> str:
    """The URL a task or job calls: the worker's base URL, mount prefixes, the route's path.

    :raises ConfigurationError: no base URL is configured.
    """
    if base_url is None:
        raise ConfigurationError(
            "no worker base URL: set CLOUDTASKS_BASE_URL (or base_url in config/), "
            "or pass base_url= where the call takes it"
        )
    prefix = "" if worker_app is None else mount_prefix(worker_app, route)
    return str(base_url).rstrip("/") + prefix + path


def mount_prefix(app: Any, route: APIRoute) -> str:
    """The path prefix in front of ``route.path`` in ``app`` ("" if it is served as declared).

    :raises ConfigurationError: the app does not serve the route.
    """
    version = _routes_version(app)
    known = _PREFIXES.setdefault(app, {}).get(id(route))
    if known is not None and known[0] == version:
        return known[1]
    prefix = _find_prefix(app, route)
    _PREFIXES[app][id(route)] = (version, prefix)
    return prefix


def _find_prefix(app: Any, route: APIRoute) -> str:
    for candidate, path_format in served_routes(app.routes):
        same = candidate is route or (
            isinstance(candidate, APIRoute)
            and candidate.endpoint is route.endpoint
            and candidate.methods == route.methods
        )
        if same and path_format is not None and path_format.endswith(route.path_format):
            return path_format[: len(path_format) - len(route.path_format)]
    raise ConfigurationError(
        f"the worker app does not serve {route.name} ({route.path}); "
        "include its router in the app given to the container as worker_app"
    )


def _routes_version(app: Any) -> object:
    """Changes whenever a route is added or a router included anywhere under ``app``."""
    get_version = getattr(getattr(app, "router", None), "_get_routes_version", None)
    if callable(get_version):  # FastAPI >= 0.137 (private, hence looked up, not required)
        return get_version()
    return len(app.routes)  # older FastAPI copies included routes into app.routes


def served_routes(routes: Iterable[BaseRoute]) -> Iterator[tuple[BaseRoute, str | None]]:
    """Every route under ``routes`` with its full path format, through included routers."""
    for route in routes:
        contexts = getattr(route, "effective_route_contexts", None)
        if callable(contexts):  # an included router that FastAPI did not copy
            for context in contexts():
                yield context.original_route, context.path_format
        else:
            yield route, getattr(route, "path_format", None)


def copied_by_include_router() -> bool:
    """Whether the route being built is a copy made by ``include_router``.

    FastAPI up to 0.136 builds, for every route of an included router, a new route of the same
    class with the prefixed path; 0.137 and later keep the router's own route. The kit's route
    classes call this so that an endpoint's ``.delay()`` / ``.scheduler()`` stay on the route
    it was declared on with either: otherwise they would move to the last copy (its full path
    in error messages, and the wrong URL if another app included the router last).
    """
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        if frame.f_code is _INCLUDE_ROUTER:
            return True
        frame = frame.f_back
    return False
