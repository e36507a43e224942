"""The typed exceptions users of the kit catch."""

from __future__ import annotations

__all__ = [
    "CloudTasksKitError",
    "ConfigurationError",
    "InvalidTaskArguments",
    "RouteNotDelayable",
]


class CloudTasksKitError(Exception):
    """Base class of every error the kit raises on purpose."""


class ConfigurationError(CloudTasksKitError):
    """Settings or wiring are missing or wrong; the message says which key and where."""


class RouteNotDelayable(CloudTasksKitError, TypeError):
    """A route cannot become a task: raised when the route is declared, not when it is called."""


class InvalidTaskArguments(CloudTasksKitError, TypeError):
    """Arguments given to ``.delay()`` / ``.schedule()`` do not fit the route's signature.

    Raised before any RPC. ``errors`` lists one entry per problem, each naming the parameter.
    """

    def __init__(self, route: str, errors: list[str]) -> None:
        self.route = route
        self.errors = errors
        super().__init__(f"invalid arguments for {route}: " + "; ".join(errors))
