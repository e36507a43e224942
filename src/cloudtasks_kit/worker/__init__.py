"""The worker side: what attempt this is, how to answer Cloud Tasks, who called, the span,
and the dead letters of tasks whose last attempt failed."""

from ._answers import DropTask, RetryLater, attempt_guard, install_task_handlers
from ._auth import (
    JwksCache,
    JwksUnavailable,
    OidcVerifier,
    TaskCaller,
    oidc_verifier,
    verify_task_caller,
)
from ._context import InvalidTaskHeaders, TaskContext, TaskContextDep, task_context
from ._dead_letters import ExhaustedHook, TaskFailure
from ._tracing import TaskTracingMiddleware

__all__ = [
    "DropTask",
    "ExhaustedHook",
    "InvalidTaskHeaders",
    "JwksCache",
    "JwksUnavailable",
    "OidcVerifier",
    "RetryLater",
    "TaskCaller",
    "TaskContext",
    "TaskContextDep",
    "TaskFailure",
    "TaskTracingMiddleware",
    "attempt_guard",
    "install_task_handlers",
    "oidc_verifier",
    "task_context",
    "verify_task_caller",
]
