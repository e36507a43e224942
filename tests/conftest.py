"""Fixtures shared by the emulator's test packages: a recording worker and unique paths."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from cloudtasks_kit.testing import BackgroundServer
from tests.support import RecordingWorker


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
