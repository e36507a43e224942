"""The worker's CONSUMER span: from ``.delay()`` through the real emulator to the handler."""

from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from cloudtasks_kit import DelayedRoute, delayer
from cloudtasks_kit._telemetry import MESSAGING_SYSTEM
from cloudtasks_kit.worker import RetryLater, TaskContext, TaskContextDep
from cloudtasks_kit.worker._tracing import ATTEMPT_ATTRIBUTE, TaskTracingMiddleware
from tests.support import Inbox, TestClient, wait_until

QUEUE = "consumer-queue"
inbox = Inbox()
router = APIRouter(route_class=DelayedRoute, prefix="/consumer")


@router.post("/{step}")
def consume(step: str, ctx: TaskContextDep = TaskContext()) -> None:
    inbox.put(step, (ctx.attempt, trace.get_current_span().get_span_context()))
    if step == "retried" and ctx.attempt == 1:
        raise RetryLater(after=0, reason="once more")


def _app(**options: Any) -> FastAPI:
    app = FastAPI()
    app.include_router(router)
    app.add_middleware(TaskTracingMiddleware, **options)
    return app


LINKING_APP = _app()
CHILD_APP = _app(producer_as_parent=True)


@pytest.fixture
def cloudtasks_app(request: pytest.FixtureRequest) -> FastAPI:
    app: FastAPI = getattr(request, "param", LINKING_APP)
    return app


@pytest.fixture
def cloudtasks_settings_overrides(tmp_path: Path) -> dict[str, Any]:
    return {"config_dir": tmp_path, "default_queue": QUEUE, "tracing": True}


@pytest.fixture(autouse=True)
def _empty_inbox() -> None:
    inbox.clear()


def _of_kind(exporter: InMemorySpanExporter, kind: SpanKind) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.kind is kind]


def _ids(context: trace.SpanContext | None) -> tuple[int, int]:
    """What identifies a span (a context read from headers differs in ``is_remote``)."""
    assert context is not None
    return context.trace_id, context.span_id


def _consumers(exporter: InMemorySpanExporter, count: int) -> list[ReadableSpan]:
    # The span ends once the response is sent, just after the handler returned.
    wait_until(lambda: len(_of_kind(exporter, SpanKind.CONSUMER)) >= count)
    return _of_kind(exporter, SpanKind.CONSUMER)


def _is_within(span_id: int, ancestor: ReadableSpan, exporter: InMemorySpanExporter) -> bool:
    """``span_id`` is ``ancestor`` or below it (FastAPI puts spans of its own in between)."""
    by_id = {s.context.span_id: s for s in exporter.get_finished_spans() if s.context}
    assert ancestor.context is not None
    current = by_id.get(span_id)
    while current is not None and current.context is not None:
        if current.context.span_id == ancestor.context.span_id:
            return True
        current = by_id.get(current.parent.span_id) if current.parent else None
    return False


def test_consumer_span_is_linked_to_the_producer_span(
    spans: InMemorySpanExporter, cloudtasks_container: Any
) -> None:
    result = delayer(consume).delay(step="linked")

    [producer] = _of_kind(spans, SpanKind.PRODUCER)
    [(_, seen)] = inbox.wait_for("linked")
    [consumer] = _consumers(spans, 1)
    assert consumer.name == f"process {QUEUE}"
    assert consumer.instrumentation_scope is not None
    assert consumer.instrumentation_scope.name == "cloudtasks_kit"
    assert dict(consumer.attributes or {}) == {
        "messaging.system": MESSAGING_SYSTEM,
        "messaging.destination.name": QUEUE,
        "messaging.message.id": result.task_id,
        "messaging.operation.type": "process",
        ATTEMPT_ATTRIBUTE: 1,
        "http.response.status_code": 200,
    }
    assert consumer.status.status_code is StatusCode.UNSET
    # The handler runs inside the consumer span...
    assert _is_within(seen.span_id, consumer, spans)
    # ...which links to the producer span...
    assert producer.context is not None
    assert consumer.context is not None
    assert [_ids(link.context) for link in consumer.links] == [_ids(producer.context)]
    # ...and is a child of the HTTP server span, if any (the messaging conventions' default
    # for push delivery). FastAPI's own tracing makes that server span a child of the
    # producer, so .delay() and the handler end up in one trace.
    servers = _of_kind(spans, SpanKind.SERVER)
    if servers:
        [server] = servers
        assert server.context is not None
        assert consumer.parent is not None
        assert consumer.parent.span_id == server.context.span_id
        assert server.parent is not None
        assert server.parent.span_id == producer.context.span_id
        assert consumer.context.trace_id == producer.context.trace_id
    else:  # a FastAPI without tracing of its own: a trace of its own, linked
        assert consumer.parent is None


@pytest.mark.parametrize("cloudtasks_app", [CHILD_APP], indirect=True)
def test_consumer_span_as_child_makes_one_trace(
    spans: InMemorySpanExporter, cloudtasks_container: Any
) -> None:
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("request that enqueues") as outer:
        delayer(consume).delay(step="child")

    [producer] = _of_kind(spans, SpanKind.PRODUCER)
    [(_, seen)] = inbox.wait_for("child")
    [consumer] = _consumers(spans, 1)
    assert producer.context is not None
    assert consumer.context is not None
    assert consumer.parent is not None
    assert consumer.parent.span_id == producer.context.span_id
    trace_id = outer.get_span_context().trace_id
    assert consumer.context.trace_id == producer.context.trace_id == trace_id
    assert _is_within(seen.span_id, consumer, spans)
    assert list(consumer.links) == []


def test_each_attempt_gets_its_own_span_with_its_number(
    spans: InMemorySpanExporter, cloudtasks_container: Any
) -> None:
    delayer(consume).delay(step="retried")

    inbox.wait_for("retried", 2)
    first, second = sorted(_consumers(spans, 2), key=lambda s: s.start_time or 0)
    [producer] = _of_kind(spans, SpanKind.PRODUCER)
    assert first.attributes is not None
    assert second.attributes is not None
    assert (first.attributes[ATTEMPT_ATTRIBUTE], second.attributes[ATTEMPT_ATTRIBUTE]) == (1, 2)
    assert first.attributes["http.response.status_code"] == 503
    assert first.status.status_code is StatusCode.ERROR
    assert second.status.status_code is StatusCode.UNSET
    links = [_ids(link.context) for span in (first, second) for link in span.links]
    assert links == [_ids(producer.context)] * 2


def test_attempt_and_link_from_headers_alone(spans: InMemorySpanExporter) -> None:
    producer = trace.get_tracer("producer").start_span("create", kind=SpanKind.PRODUCER)
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=trace.set_span_in_context(producer))
    producer.end()
    headers = {
        **carrier,
        "X-CloudTasks-QueueName": QUEUE,
        "X-CloudTasks-TaskName": "t1",
        "X-CloudTasks-TaskRetryCount": "4",
        "X-CloudTasks-TaskExecutionCount": "0",
        "X-CloudTasks-TaskETA": "1700000000",
    }

    assert TestClient(_app()).post("/consumer/served", headers=headers).status_code == 200

    [consumer] = _of_kind(spans, SpanKind.CONSUMER)
    assert [_ids(link.context) for link in consumer.links] == [_ids(producer.get_span_context())]
    assert consumer.attributes is not None
    assert consumer.attributes[ATTEMPT_ATTRIBUTE] == 5
    assert consumer.attributes["messaging.message.id"] == "t1"


def test_requests_that_are_not_tasks_get_no_span(spans: InMemorySpanExporter) -> None:
    client = TestClient(_app())

    assert client.post("/consumer/direct").status_code == 200

    assert _of_kind(spans, SpanKind.CONSUMER) == []
    assert [s for s in spans.get_finished_spans() if s.name.startswith("process")] == []


def test_without_an_sdk_tasks_pass_untouched(
    monkeypatch: pytest.MonkeyPatch, cloudtasks_container: Any
) -> None:
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", None)

    delayer(consume).delay(step="no-sdk")

    [(attempt, seen)] = inbox.wait_for("no-sdk")
    assert attempt == 1
    assert not seen.is_valid


@pytest.mark.parametrize("as_parent", [True, False])
def test_the_setting_chooses_child_or_link(
    spans: InMemorySpanExporter, tmp_path: Path, as_parent: bool
) -> None:
    from dependency_injector import providers

    from cloudtasks_kit import Container, load_settings

    producer = trace.get_tracer("producer").start_span("create", kind=SpanKind.PRODUCER)
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=trace.set_span_in_context(producer))
    producer.end()
    headers = {
        **carrier,
        "X-CloudTasks-QueueName": QUEUE,
        "X-CloudTasks-TaskName": "t2",
        "X-CloudTasks-TaskRetryCount": "0",
        "X-CloudTasks-TaskExecutionCount": "0",
        "X-CloudTasks-TaskETA": "1700000000",
    }
    settings = load_settings(config_dir=tmp_path, trace_producer_as_parent=as_parent)
    container = Container(settings=providers.Object(settings))
    container.wire()
    try:
        assert TestClient(_app()).post("/consumer/by-setting", headers=headers).status_code == 200
    finally:
        container.unwire()

    [consumer] = _of_kind(spans, SpanKind.CONSUMER)
    producer_ids = _ids(producer.get_span_context())
    if as_parent:
        assert consumer.parent is not None
        assert _ids(consumer.parent) == producer_ids
        assert consumer.links == ()
    else:
        assert [_ids(link.context) for link in consumer.links] == [producer_ids]
