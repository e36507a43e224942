"""cloudtasks-kit: FastAPI routes as typed Cloud Tasks and Cloud Scheduler jobs."""

from .binding import BoundRequest
from .container import Container
from .delayed import DelayedRoute, Delayer, delayer, task_default_options
from .enqueue import DelayOptions, DelayResult, TaskEnqueuer
from .errors import (
    CloudTasksKitError,
    ConfigurationError,
    ContainerNotWired,
    InvalidTaskArguments,
    RouteNotDelayable,
    TaskAlreadyExists,
    TaskCreateError,
    TaskCreateTimeout,
)
from .hooks import (
    DelayedTaskHook,
    ScheduledJobHook,
    chained_hook,
    deadline_delayed_hook,
    deadline_scheduled_hook,
    oidc_delayed_hook,
    oidc_scheduled_hook,
)
from .settings import KitSettings, load_settings, queue_path
from .tracing import trace_propagation_hook

__all__ = [
    "BoundRequest",
    "CloudTasksKitError",
    "ConfigurationError",
    "Container",
    "ContainerNotWired",
    "DelayOptions",
    "DelayResult",
    "DelayedRoute",
    "DelayedTaskHook",
    "Delayer",
    "InvalidTaskArguments",
    "KitSettings",
    "RouteNotDelayable",
    "ScheduledJobHook",
    "TaskAlreadyExists",
    "TaskCreateError",
    "TaskCreateTimeout",
    "TaskEnqueuer",
    "chained_hook",
    "deadline_delayed_hook",
    "deadline_scheduled_hook",
    "delayer",
    "load_settings",
    "oidc_delayed_hook",
    "oidc_scheduled_hook",
    "queue_path",
    "task_default_options",
    "trace_propagation_hook",
]
