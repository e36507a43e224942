"""Fixtures shared across test modules: a recording worker, unique paths, an SDK tracer."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from hypothesis import settings
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from cloudtasks_kit.testing import BackgroundServer
from tests.support import RecordingWorker

# Property tests are deterministic (the same examples every run, none stored between runs) and
# bounded; each test sets its own max_examples.
settings.register_profile("cloudtasks-kit", deadline=None, derandomize=True, database=None)
settings.load_profile("cloudtasks-kit")


@pytest.fixture(scope="session")
def recorder() -> Iterator[RecordingWorker]:
    recording = RecordingWorker()
    with BackgroundServer(recording.app) as server:
        recording.base_url = server.url  # type: ignore[attr-defined]
        yield recording


@pytest.fixture
def path() -> str:
    """A path no other test uses, so the recorder's requests never mix."""
    return f"/t/{uuid.uuid4().hex[:12]}"


@pytest.fixture
def url(recorder: RecordingWorker, path: str) -> str:
    return f"{recorder.base_url}{path}"  # type: ignore[attr-defined]


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """An SDK tracer provider for one test only (the global one can be set once per process)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", provider)
    yield exporter
    provider.shutdown()
