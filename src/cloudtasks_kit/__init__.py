"""cloudtasks-kit: FastAPI routes as typed Cloud Tasks and Cloud Scheduler jobs."""

from .auth import JwksCache, OidcVerifier, TaskCaller, oidc_verifier, verify_task_caller
from .binding import BoundRequest
from .consumer_tracing import TaskTracingMiddleware
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
from .worker import (
    DropTask,
    InvalidTaskHeaders,
    RetryLater,
    TaskContext,
    TaskContextDep,
    attempt_guard,
    install_task_handlers,
    task_context,
)

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
    "DropTask",
    "InvalidTaskArguments",
    "InvalidTaskHeaders",
    "JobRetry",
    "JobScheduler",
    "JwksCache",
    "KitSettings",
    "OidcVerifier",
    "RetryLater",
    "RouteNotDelayable",
    "ScheduleResult",
    "ScheduledJob",
    "ScheduledJobHook",
    "ScheduledRoute",
    "TaskAlreadyExists",
    "TaskCaller",
    "TaskContext",
    "TaskContextDep",
    "TaskCreateError",
    "TaskCreateTimeout",
    "TaskEnqueuer",
    "TaskTracingMiddleware",
    "attempt_guard",
    "chained_hook",
    "deadline_delayed_hook",
    "deadline_scheduled_hook",
    "delayer",
    "install_task_handlers",
    "load_settings",
    "oidc_delayed_hook",
    "oidc_scheduled_hook",
    "oidc_verifier",
    "queue_path",
    "scheduled",
    "scheduled_job",
    "task_context",
    "task_default_options",
    "trace_propagation_hook",
    "verify_task_caller",
]
