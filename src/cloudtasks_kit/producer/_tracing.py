"""The producer's half of a task's trace: a PRODUCER span ``create <queue>`` around CreateTask,
or around one BatchCreateTasks call of ``delay_many`` / ``adelay_many``.

The context of that span reaches the worker through the task's headers, written by
:func:`~cloudtasks_kit.trace_propagation_hook` (one of the container's hooks): every task of a
batch carries the batch's span as its parent. With no SDK configured, the span is skipped, so
tracing costs nothing until an application sets one up.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import trace

from .._telemetry import MESSAGING_SYSTEM, kit_tracer

__all__: list[str] = []


@contextmanager
def producer_span(queue_id: str, task_id: str | None) -> Iterator[trace.Span | None]:
    """A PRODUCER span for one CreateTask call; ``None`` (and no work) with no SDK."""
    tracer = kit_tracer()
    if tracer is None:
        yield None
        return
    attributes = _attributes(queue_id)
    if task_id is not None:
        attributes["messaging.message.id"] = task_id
    with tracer.start_as_current_span(
        f"create {queue_id}", kind=trace.SpanKind.PRODUCER, attributes=attributes
    ) as span:
        yield span


#: The ids of the tasks a batch created, in the order of the calls (semantic conventions have
#: ``messaging.message.id`` for one message only).
BATCH_TASK_IDS = "cloudtasks_kit.task_ids"


@contextmanager
def producer_batch_span(queue_id: str, count: int) -> Iterator[trace.Span | None]:
    """A PRODUCER span for the ``count`` tasks of one batch; ``None`` (and no work) with no
    SDK. The ids of the tasks created go in :data:`BATCH_TASK_IDS` once they are known."""
    tracer = kit_tracer()
    if tracer is None:
        yield None
        return
    attributes = _attributes(queue_id)
    attributes["messaging.batch.message_count"] = count
    with tracer.start_as_current_span(
        f"create {queue_id}", kind=trace.SpanKind.PRODUCER, attributes=attributes
    ) as span:
        yield span


def _attributes(queue_id: str) -> dict[str, str | int]:
    return {
        "messaging.system": MESSAGING_SYSTEM,
        "messaging.operation.type": "create",
        "messaging.destination.name": queue_id,
    }
