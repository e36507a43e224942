"""The worker side: what attempt this is, how to answer Cloud Tasks, who called, the span."""

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
from ._tracing import TaskTracingMiddleware

__all__ = [
    "DropTask",
    "InvalidTaskHeaders",
    "JwksCache",
    "JwksUnavailable",
    "OidcVerifier",
    "RetryLater",
    "TaskCaller",
    "TaskContext",
    "TaskContextDep",
    "TaskTracingMiddleware",
    "attempt_guard",
    "install_task_handlers",
    "oidc_verifier",
    "task_context",
    "verify_task_caller",
]
