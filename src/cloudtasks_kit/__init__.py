"""cloudtasks-kit: FastAPI routes as typed Cloud Tasks and Cloud Scheduler jobs."""

from .binding import BoundRequest
from .container import Container
from .delayed import BulkItem, BulkResult, DelayedRoute, Delayer, delayer, task_default_options
from .enqueue import DelayOptions, DelayResult, TaskEnqueuer
from .errors import (
    BlockingDelayWarning,
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
from .reconcile import Action
from .scheduled import (
    JobRetry,
    JobScheduler,
    ScheduledJob,
    ScheduledRoute,
    ScheduleResult,
    scheduled,
    scheduled_job,
)
from .settings import KitSettings, load_settings, queue_path
from .tracing import trace_propagation_hook

__all__ = [
    "Action",
    "BlockingDelayWarning",
    "BoundRequest",
    "BulkItem",
    "BulkResult",
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
    "JobRetry",
    "JobScheduler",
    "KitSettings",
    "RouteNotDelayable",
    "ScheduleResult",
    "ScheduledJob",
    "ScheduledJobHook",
    "ScheduledRoute",
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
    "scheduled",
    "scheduled_job",
    "task_default_options",
    "trace_propagation_hook",
]
