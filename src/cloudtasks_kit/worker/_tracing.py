"""The worker's half of a task's trace: a CONSUMER span ``process <queue>`` around each attempt.

The producer side (``trace_propagation_hook``) wrote the enqueuing span's context into the
task's headers (W3C ``traceparent``); Cloud Tasks sends them back with every attempt.
:class:`TaskTracingMiddleware` reads them and runs the request in a CONSUMER span:

- by default *linked* to the producer span, and a child of whatever span is current (the HTTP
  server span when the app is instrumented, else a new trace): the messaging conventions'
  default for push delivery, where one enqueue may be attempted many times, much later;
- with ``producer_as_parent=True``, a *child* of the producer span: one trace from the code
  that called ``.delay()`` to the handler, convenient while developing.

Attributes: ``messaging.system`` (``gcp_cloud_tasks``),
``messaging.destination.name`` (queue id), ``messaging.message.id`` (task id),
``messaging.operation.type`` (``process``), :data:`ATTEMPT_ATTRIBUTE` (1 on the first
attempt) and ``http.response.status_code``; any answer but 2xx (Cloud Tasks retries it) marks
the span as an error. Requests that are not Cloud Tasks attempts pass untouched, and with no
OpenTelemetry SDK configured every request does (one ``isinstance`` check). Only
``opentelemetry-api`` is needed.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .._active import active_container
from .._errors import ContainerNotWired
from .._protocol import QUEUE_NAME, TASK_NAME, TASK_RETRY_COUNT
from .._telemetry import MESSAGING_SYSTEM, kit_tracer
from ..settings import KitSettings

__all__ = ["TaskTracingMiddleware"]

#: The attempt number (retry count + 1); named after Pub/Sub's ``delivery_attempt``, since the
#: conventions have no attribute of their own for Cloud Tasks.
ATTEMPT_ATTRIBUTE = f"messaging.{MESSAGING_SYSTEM}.message.delivery_attempt"
# ASGI header names are lower-case.
_QUEUE = QUEUE_NAME.lower()
_TASK = TASK_NAME.lower()
_RETRY_COUNT = TASK_RETRY_COUNT.lower()


class TaskTracingMiddleware:
    """ASGI middleware: each Cloud Tasks attempt runs in a CONSUMER span ``process <queue>``.

    ``app.add_middleware(TaskTracingMiddleware)``, or
    ``app.add_middleware(TaskTracingMiddleware, producer_as_parent=True)``.

    :param producer_as_parent: make the consumer span a child of the producer span instead of
        linking to it.
    """

    def __init__(self, app: ASGIApp, *, producer_as_parent: bool | None = None) -> None:
        self.app = app
        # None: the active container's settings decide (``trace_producer_as_parent``), read
        # on the first traced request, never when the app is built.
        self.producer_as_parent = producer_as_parent

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        tracer = kit_tracer() if scope["type"] == "http" else None
        if tracer is None:
            await self.app(scope, receive, send)
            return
        # One pass over the raw headers, decoding only the few read here: the attempt's, and
        # those the configured propagator reads (into its carrier, under their names).
        read = _headers_read()
        carrier: dict[str, str] = {}
        for raw_name, raw_value in scope.get("headers", ()):
            name = read.get(raw_name.lower())
            if name is not None:
                carrier[name] = raw_value.decode("latin-1")
        queue, task = carrier.pop(_QUEUE, None), carrier.pop(_TASK, None)
        retry_count = carrier.pop(_RETRY_COUNT, None)
        if not queue or not task:
            await self.app(scope, receive, send)
            return
        producer_context = propagate.extract(carrier)
        producer = trace.get_current_span(producer_context).get_span_context()
        if self.producer_as_parent is None:
            self.producer_as_parent = _producer_as_parent_setting(scope.get("app"))
        if self.producer_as_parent:
            parent, links = producer_context, None
        else:
            parent, links = None, [Link(producer)] if producer.is_valid else None
        attributes: dict[str, str | int] = {
            "messaging.system": MESSAGING_SYSTEM,
            "messaging.destination.name": queue,
            "messaging.message.id": task,
            "messaging.operation.type": "process",
        }
        if retry_count is not None and retry_count.isascii() and retry_count.isdigit():
            attributes[ATTEMPT_ATTRIBUTE] = int(retry_count) + 1
        status: int | None = None

        async def send_and_watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        with tracer.start_as_current_span(
            f"process {queue}",
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes=attributes,
            links=links,
        ) as span:
            await self.app(scope, receive, send_and_watch)
            if status is not None:
                span.set_attribute("http.response.status_code", status)
            if status is None or not 200 <= status <= 299:
                # Cloud Tasks retries anything but 2xx: this attempt did not process the task.
                span.set_status(Status(StatusCode.ERROR, f"answered {status}"))


# (the global propagator, raw lower-case name -> name of each header read): the propagator's
# fields asked for once per propagator, not per request.
_read: tuple[object, dict[bytes, str]] | None = None


def _headers_read() -> dict[bytes, str]:
    global _read
    textmap = propagate.get_global_textmap()
    cached = _read
    if cached is None or cached[0] is not textmap:
        names = {field.lower() for field in textmap.fields} | {_QUEUE, _TASK, _RETRY_COUNT}
        cached = _read = (textmap, {name.encode("latin-1"): name for name in names})
    return cached[1]


def _producer_as_parent_setting(app: Any) -> bool:
    try:
        container = active_container(app)
    except ContainerNotWired:
        return False  # no container: the conventions' default, a link
    settings: KitSettings = container.settings()
    return settings.trace_producer_as_parent
