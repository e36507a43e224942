"""Trace context from the code that enqueues a task to the worker that runs it.

Producer side only here (opentelemetry-api): a PRODUCER span ``create <queue>`` around the
CreateTask call, and a hook that writes the current context into the task's headers as W3C
``traceparent`` / ``tracestate``. With no SDK configured, the API's tracer provider is a proxy
and both are skipped, so tracing costs nothing until an application sets one up.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from google.cloud import tasks_v2
from opentelemetry import propagate, trace

__all__ = [
    "MESSAGING_SYSTEM",
    "producer_span",
    "trace_propagation_hook",
    "tracing_configured",
]

# Semantic conventions have no registered value for Cloud Tasks; a custom one is allowed.
MESSAGING_SYSTEM = "gcp_cloud_tasks"
_TRACER = "cloudtasks_kit"


def tracing_configured() -> bool:
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


@contextmanager
def producer_span(
    queue_id: str, task_id: str | None, *, enabled: bool = True
) -> Iterator[trace.Span | None]:
    """A PRODUCER span for one CreateTask call; ``None`` (and no work) when tracing is off in
    settings or no SDK is configured."""
    if not enabled or not tracing_configured():
        yield None
        return
    tracer = trace.get_tracer(_TRACER)
    with tracer.start_as_current_span(f"create {queue_id}", kind=trace.SpanKind.PRODUCER) as span:
        span.set_attribute("messaging.system", MESSAGING_SYSTEM)
        span.set_attribute("messaging.operation.type", "create")
        span.set_attribute("messaging.destination.name", queue_id)
        if task_id is not None:
            span.set_attribute("messaging.message.id", task_id)
        yield span


def trace_propagation_hook(request: tasks_v2.CreateTaskRequest) -> tasks_v2.CreateTaskRequest:
    """Write the current trace context into the task's headers (``traceparent``)."""
    if not tracing_configured():
        return request
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    if carrier:
        headers = request.task.http_request.headers
        for key, value in carrier.items():
            headers[key] = value
    return request
