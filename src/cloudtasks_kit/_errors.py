"""The typed exceptions users of the kit catch."""

from __future__ import annotations

__all__ = [
    "BlockingDelayWarning",
    "CloudTasksKitError",
    "ConfigurationError",
    "ContainerNotWired",
    "InvalidTaskArguments",
    "RouteNotDelayable",
    "ServiceUnreachable",
    "TaskAlreadyExists",
    "TaskCreateError",
    "TaskCreateTimeout",
    "TaskCreateUnreachable",
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


class ContainerNotWired(ConfigurationError):
    """``.delay()`` / ``.schedule()`` was called before any kit container was created and wired."""


class TaskAlreadyExists(CloudTasksKitError):
    """A task with this name exists, or existed too recently (de-duplication)."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"task {name} already exists or ran recently; its id cannot be reused yet")


class TaskCreateError(CloudTasksKitError):
    """Cloud Tasks refused the task, or kept failing until the create timeout passed."""


class TaskCreateTimeout(TaskCreateError):
    """Transient errors went on past the create timeout; the task was not created."""


class ServiceUnreachable(CloudTasksKitError):
    """Cloud Tasks / Cloud Scheduler (or the emulator) did not answer within the RPC deadline.

    The message names the endpoint and what to check (is the emulator running there; the
    network, credentials and project for Google).
    """


class TaskCreateUnreachable(TaskCreateTimeout, ServiceUnreachable):
    """``.delay()`` got no answer from Cloud Tasks (or the emulator) within its create timeout
    or retries: no task was created, and the message says which endpoint to check."""


class BlockingDelayWarning(RuntimeWarning):
    """A sync ``.delay()`` ran inside a running event loop, which it blocks; use ``adelay``."""
