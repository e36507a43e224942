"""Trace context from ``.delay()`` through the real emulator to the worker."""

from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI, Header
from google.cloud import tasks_v2
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from cloudtasks_kit import DelayedRoute, delayer, trace_propagation_hook
from cloudtasks_kit._telemetry import MESSAGING_SYSTEM
from cloudtasks_kit.producer._tracing import producer_span
from tests.support import Inbox

inbox = Inbox()
router = APIRouter(route_class=DelayedRoute, prefix="/traced")


@router.post("/{step}")
def traced(
    step: str, traceparent: str | None = Header(None), tracestate: str | None = Header(None)
) -> None:
    inbox.put("traced", {"step": step, "traceparent": traceparent})


app = FastAPI()
app.include_router(router)


@pytest.fixture
def cloudtasks_app() -> FastAPI:
    return app


@pytest.fixture
def cloudtasks_settings_overrides(tmp_path: Path) -> dict[str, Any]:
    return {"config_dir": tmp_path, "default_queue": "traced-queue", "tracing": True}


@pytest.fixture(autouse=True)
def _empty_inbox() -> None:
    inbox.clear()


@pytest.fixture
def no_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", None)


def producer(exporter: InMemorySpanExporter) -> ReadableSpan:
    (span,) = [s for s in exporter.get_finished_spans() if s.kind is trace.SpanKind.PRODUCER]
    return span


def test_producer_span_and_traceparent_reach_the_worker(
    spans: InMemorySpanExporter, cloudtasks_container: Any
) -> None:
    result = delayer(traced).delay(step="one")

    span = producer(spans)
    assert span.name == "create traced-queue"
    assert dict(span.attributes or {}) == {
        "messaging.system": MESSAGING_SYSTEM,
        "messaging.operation.type": "create",
        "messaging.destination.name": "traced-queue",
        "messaging.message.id": result.task_id,
    }
    (received,) = inbox.wait_for("traced")
    _version, trace_id, parent_id, _flags = received["traceparent"].split("-")
    assert span.context is not None
    assert trace_id == format(span.context.trace_id, "032x")
    assert parent_id == format(span.context.span_id, "016x")


def test_producer_span_joins_the_callers_trace(
    spans: InMemorySpanExporter, cloudtasks_container: Any
) -> None:
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("request handler") as outer:
        delayer(traced).delay(step="two")

    span = producer(spans)
    assert span.parent is not None
    assert span.parent.span_id == outer.get_span_context().span_id
    (received,) = inbox.wait_for("traced")
    assert received["traceparent"].split("-")[1] == format(
        outer.get_span_context().trace_id, "032x"
    )


@pytest.mark.usefixtures("no_sdk")
def test_without_an_sdk_nothing_is_added(cloudtasks_container: Any) -> None:
    request = tasks_v2.CreateTaskRequest(task=tasks_v2.Task(http_request={"url": "http://w"}))

    assert dict(trace_propagation_hook(request).task.http_request.headers) == {}
    with producer_span("q", None) as span:
        assert span is None

    delayer(traced).delay(step="three")

    assert inbox.wait_for("traced") == [{"step": "three", "traceparent": None}]


def test_tracing_off_in_settings_adds_no_header(
    spans: InMemorySpanExporter, cloudtasks_container: Any
) -> None:
    settings = cloudtasks_container.settings()
    hooks = cloudtasks_container.delayed_hooks()
    assert trace_propagation_hook in hooks

    off = settings.model_copy(update={"tracing": False})
    with (
        cloudtasks_container.settings.override(off),
        cloudtasks_container.delayed_hooks.reset(),
    ):
        assert trace_propagation_hook not in cloudtasks_container.delayed_hooks()
        delayer(traced).delay(step="four")

    assert inbox.wait_for("traced") == [{"step": "four", "traceparent": None}]
