"""Fixtures shared across test modules: a recording worker, unique paths, an SDK tracer; and
the profiles of the property-based tests."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from cloudtasks_kit.testing import BackgroundServer
from tests.support import RecordingWorker

# Property-based tests (tests/emulator/test_fuzz.py). "ci", the default, keeps `make test`
# within minutes: few examples, the same ones every run. "fuzz" (`make fuzz`, or
# --hypothesis-profile=fuzz) explores: many examples, new ones each run, remembered in
# .hypothesis/ so that a failure found once is tried first the next time.
_BASE = settings(
    deadline=None,  # each example is a few RPCs to a real process: no per-example deadline
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("ci", _BASE, max_examples=40, derandomize=True, database=None)
settings.register_profile("fuzz", _BASE, max_examples=600)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


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
