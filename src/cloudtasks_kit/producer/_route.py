"""``DelayedRoute``: every route on a router using it can be called as a Cloud Tasks task.

Declaring a route checks that every parameter can come from a task's request (so a ``Request``
parameter or several methods fail here, not at ``.delay()`` time) and registers the route as
the one its endpoint was declared on (:mod:`cloudtasks_kit._routing`). :func:`delayer` finds
it again, typed by the endpoint's parameters; ``endpoint.delay(...)`` and friends stay
available as the untyped spelling that fastapi-cloud-tasks users write.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ParamSpec, cast

from fastapi.routing import APIRoute

from .._binding import RouteBinder
from .._routing import declare_route, declared_route
from ._delayer import Delayer

__all__ = ["DelayedRoute", "delayer"]

P = ParamSpec("P")

# What the untyped spelling puts on the endpoint function (fastapi-cloud-tasks' names).
_UNTYPED_ATTRIBUTES = ("delay", "adelay", "delay_many", "adelay_many", "options")


class DelayedRoute(APIRoute):
    """Route class for routers whose routes are Cloud Tasks targets:
    ``APIRouter(route_class=DelayedRoute)``."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        self.binder = RouteBinder.for_route(self)
        self.delayer: Delayer[...] = Delayer(self, self.binder)
        if declare_route(self):
            # The untyped spelling: make_dinner.delay(...). Only on the route the endpoint was
            # declared on, so a copy made by include_router never takes it over.
            for name in _UNTYPED_ATTRIBUTES:
                setattr(endpoint, name, getattr(self.delayer, name))


def delayer(endpoint: Callable[P, Any]) -> Delayer[P]:
    """The typed way to reach ``endpoint.delay``: ``delayer(make_dinner).delay(...)`` is
    checked by mypy and pyright against ``make_dinner``'s own parameters.

    :raises TypeError: ``endpoint`` is not a route of a router with ``route_class=DelayedRoute``.
    """
    route = declared_route(endpoint, DelayedRoute)
    if route is None:
        raise TypeError(
            f"{getattr(endpoint, '__qualname__', endpoint)!r} is not a route of a router "
            "with route_class=DelayedRoute"
        )
    # The route's one delayer, seen with the endpoint's parameters: the same object.
    return cast(Delayer[P], route.delayer)
