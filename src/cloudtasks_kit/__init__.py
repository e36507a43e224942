"""cloudtasks-kit: FastAPI routes as typed Cloud Tasks and Cloud Scheduler jobs."""

from .errors import (
    CloudTasksKitError,
    ConfigurationError,
    InvalidTaskArguments,
    RouteNotDelayable,
)

__all__ = [
    "CloudTasksKitError",
    "ConfigurationError",
    "InvalidTaskArguments",
    "RouteNotDelayable",
]
