"""Hooks: functions that take the CreateTaskRequest (or CreateJobRequest) about to be sent
and return it, changed. The container builds a chain from settings (OIDC, deadline, trace
propagation); routes and single calls may add their own, which run after it, in order."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TypeVar

from google.cloud import scheduler_v1, tasks_v2
from google.protobuf import duration_pb2
from opentelemetry import propagate

from ._protocol import check_deadline
from ._telemetry import tracing_configured
from .settings import KitSettings

__all__ = [
    "DelayedTaskHook",
    "ScheduledJobHook",
    "chained_hook",
    "deadline_delayed_hook",
    "deadline_scheduled_hook",
    "oidc_delayed_hook",
    "oidc_scheduled_hook",
    "trace_propagation_hook",
]

DelayedTaskHook = Callable[[tasks_v2.CreateTaskRequest], tasks_v2.CreateTaskRequest]
ScheduledJobHook = Callable[[scheduler_v1.CreateJobRequest], scheduler_v1.CreateJobRequest]

_Request = TypeVar("_Request")


def chained_hook(*hooks: Callable[[_Request], _Request]) -> Callable[[_Request], _Request]:
    """One hook that runs ``hooks`` left to right, each on the previous one's result."""

    def chain(request: _Request) -> _Request:
        return run_hooks(hooks, request)

    return chain


def oidc_delayed_hook(
    token: tasks_v2.OidcToken | None = None,
    *,
    service_account_email: str | None = None,
    audience: str | None = None,
) -> DelayedTaskHook:
    """Attach an OIDC token (for Cloud Run and other authenticated workers) to each task.

    Pass ``token=tasks_v2.OidcToken(...)`` as in fastapi-cloud-tasks, or the two fields.
    """
    oidc = _oidc(tasks_v2.OidcToken, token, service_account_email, audience)

    def hook(request: tasks_v2.CreateTaskRequest) -> tasks_v2.CreateTaskRequest:
        request.task.http_request.oidc_token = oidc
        return request

    return hook


def oidc_scheduled_hook(
    token: scheduler_v1.OidcToken | None = None,
    *,
    service_account_email: str | None = None,
    audience: str | None = None,
) -> ScheduledJobHook:
    oidc = _oidc(scheduler_v1.OidcToken, token, service_account_email, audience)

    def hook(request: scheduler_v1.CreateJobRequest) -> scheduler_v1.CreateJobRequest:
        request.job.http_target.oidc_token = oidc
        return request

    return hook


def deadline_delayed_hook(duration: duration_pb2.Duration | timedelta | float) -> DelayedTaskHook:
    """How long Cloud Tasks waits for the worker's answer before it counts as failed."""
    deadline = _deadline(duration)

    def hook(request: tasks_v2.CreateTaskRequest) -> tasks_v2.CreateTaskRequest:
        request.task.dispatch_deadline = deadline
        return request

    return hook


def deadline_scheduled_hook(
    duration: duration_pb2.Duration | timedelta | float,
) -> ScheduledJobHook:
    deadline = _deadline(duration)

    def hook(request: scheduler_v1.CreateJobRequest) -> scheduler_v1.CreateJobRequest:
        request.job.attempt_deadline = deadline
        return request

    return hook


def settings_delayed_hooks(settings: KitSettings) -> tuple[DelayedTaskHook, ...]:
    """The chain an environment's settings call for: OIDC and deadline where configured
    (per queue, falling back to the top level), then trace propagation if tracing is on."""
    hooks: list[DelayedTaskHook] = []
    if settings.oidc is not None or any(q.oidc for q in settings.queues.values()):
        hooks.append(_settings_oidc_hook(settings))
    if settings.dispatch_deadline is not None or any(
        q.dispatch_deadline for q in settings.queues.values()
    ):
        hooks.append(_settings_deadline_hook(settings))
    if settings.tracing:
        hooks.append(trace_propagation_hook)
    return tuple(hooks)


def settings_scheduled_hooks(settings: KitSettings) -> tuple[ScheduledJobHook, ...]:
    """OIDC for every job when the settings configure an account (jobs have no queue)."""
    if settings.oidc is None:
        return ()
    return (
        oidc_scheduled_hook(
            service_account_email=settings.oidc.service_account_email,
            audience=settings.oidc.audience,
        ),
    )


def _settings_oidc_hook(settings: KitSettings) -> DelayedTaskHook:
    def hook(request: tasks_v2.CreateTaskRequest) -> tasks_v2.CreateTaskRequest:
        queue = settings.queue_settings(request.parent)
        oidc = (queue.oidc if queue is not None else None) or settings.oidc
        if oidc is not None:
            request.task.http_request.oidc_token = tasks_v2.OidcToken(
                service_account_email=oidc.service_account_email, audience=oidc.audience or ""
            )
        return request

    return hook


def _settings_deadline_hook(settings: KitSettings) -> DelayedTaskHook:
    def hook(request: tasks_v2.CreateTaskRequest) -> tasks_v2.CreateTaskRequest:
        queue = settings.queue_settings(request.parent)
        deadline = (queue.dispatch_deadline if queue is not None else None) or (
            settings.dispatch_deadline
        )
        if deadline is not None:
            request.task.dispatch_deadline = _deadline(deadline)
        return request

    return hook


_Token = TypeVar("_Token", tasks_v2.OidcToken, scheduler_v1.OidcToken)


def _oidc(
    kind: type[_Token],
    token: _Token | None,
    service_account_email: str | None,
    audience: str | None,
) -> _Token:
    if token is not None:
        if service_account_email is not None or audience is not None:
            raise TypeError("pass either token= or service_account_email=/audience=, not both")
        return token
    if not service_account_email:
        raise TypeError("an OIDC hook needs token= or service_account_email=")
    return kind(service_account_email=service_account_email, audience=audience or "")


def _deadline(duration: duration_pb2.Duration | timedelta | float) -> duration_pb2.Duration:
    result = duration_pb2.Duration()
    result.FromTimedelta(check_deadline(duration))
    return result


def run_hooks(hooks: Sequence[Callable[[_Request], _Request]], request: _Request) -> _Request:
    """Apply ``hooks`` in order; each gets what the previous one returned."""
    for hook in hooks:
        request = hook(request)
    return request


def trace_propagation_hook(request: tasks_v2.CreateTaskRequest) -> tasks_v2.CreateTaskRequest:
    """Write the current trace context into the task's headers (W3C ``traceparent``), so the
    worker's span can link to (or continue) the trace that enqueued the task."""
    if not tracing_configured():
        return request
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    if carrier:
        headers = request.task.http_request.headers
        for key, value in carrier.items():
            # Header names are case-insensitive: the propagator's value replaces any spelling.
            for known in [known for known in headers if known.lower() == key.lower()]:
                del headers[known]
            headers[key] = value
    return request
