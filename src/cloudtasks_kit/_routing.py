"""Routes and where they are served: the route an endpoint was declared on, and the prefixes
of every ``include_router`` between a route and the app.

FastAPI versions up to 0.136 copy every route of an included router (same endpoint and class,
prefixed path); later ones keep the router's own route objects and apply prefixes while
routing. The registry below and the walk of the app answer the same way with either.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from ._errors import ConfigurationError

__all__: list[str] = []

# A memo, app -> id(route) -> (routes version, prefix): walking a large app on every .delay()
# cost more than binding the arguments. Weak, so it never keeps an app alive.
_PREFIXES: weakref.WeakKeyDictionary[Any, dict[int, tuple[object, str]]] = (
    weakref.WeakKeyDictionary()
)

# Endpoint -> the route it was declared on. Weak: a registry must not keep endpoints alive.
_DECLARED: weakref.WeakKeyDictionary[Callable[..., Any], APIRoute] = weakref.WeakKeyDictionary()

_Route = TypeVar("_Route", bound=APIRoute)


def declare_route(route: APIRoute) -> bool:
    """Remember ``route`` as the one its endpoint was declared on.

    :returns: ``False`` when the endpoint has a route already: the copy an older FastAPI makes
        on ``include_router`` (always built after the route it copies), or a second route
        declared with the same function, which keeps the first.
    """
    try:
        if route.endpoint in _DECLARED:
            return False
        _DECLARED[route.endpoint] = route
    except TypeError:  # an endpoint that cannot be weakly referenced: no registry entry
        pass
    return True


def declared_route(endpoint: Callable[..., Any], kind: type[_Route]) -> _Route | None:
    """The route of class ``kind`` that ``endpoint`` was declared on, if any."""
    try:
        route = _DECLARED.get(endpoint)
    except TypeError:
        return None
    return route if isinstance(route, kind) else None


def route_url(base_url: object, worker_app: Any, route: APIRoute, path: str) -> str:
    """The URL a task or job calls: the worker's base URL, mount prefixes, the route's path.

    Only the app knows the prefixes: from FastAPI 0.137 ``include_router`` keeps the router
    itself, so a route never learns where it is mounted (older versions copy it, and the copy is
    not the route ``.delay()`` belongs to). Without the app a task URL could silently miss a
    prefix, answered 404 and retried until ``max_attempts``: so no app, no URL.

    :raises ConfigurationError: no base URL is configured, or no app is known.
    """
    if base_url is None:
        raise ConfigurationError(
            "no worker base URL: set CLOUDTASKS_BASE_URL (or base_url in config/), "
            "or pass base_url= where the call takes it"
        )
    if worker_app is None:
        raise ConfigurationError(
            f"cannot build the URL of {route.name} ({route.path}): the container does not know "
            "which app serves it, so it cannot add the include_router prefixes in front of the "
            "path; add `container.bind_app(app)` where the app is built"
        )
    return str(base_url).rstrip("/") + mount_prefix(worker_app, route) + path


def mount_prefix(app: Any, route: APIRoute) -> str:
    """The path prefix in front of ``route.path`` in ``app`` ("" if it is served as declared).

    :raises ConfigurationError: the app does not serve the route.
    """
    version = _routes_version(app)
    by_route = _PREFIXES.get(app)
    known = by_route.get(id(route)) if by_route is not None else None
    if known is not None and known[0] == version:
        return known[1]
    prefix = _find_prefix(app, route)
    _PREFIXES.setdefault(app, {})[id(route)] = (version, prefix)
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
