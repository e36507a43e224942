"""The gRPC face's plumbing: an ApiError is its status code; INTERNAL is only a bug of the
emulator's own, logged with its traceback; no message outgrows a gRPC trailer."""

from __future__ import annotations

import logging
from typing import Any

import grpc
import pytest

from cloudtasks_kit.emulator._errors import ApiError, invalid_argument, shown
from cloudtasks_kit.emulator._stats import Stats
from cloudtasks_kit.emulator.faces._grpc import _handler


class Context:
    def __init__(self) -> None:
        self.aborted: tuple[grpc.StatusCode, str] | None = None

    async def abort(self, code: grpc.StatusCode, message: str) -> None:
        self.aborted = (code, message)


async def _call(method: Any) -> tuple[grpc.StatusCode, str] | None:
    context = Context()
    await _handler("Method", method, Stats())(object(), context)
    return context.aborted


async def test_a_refusal_is_its_status_code_and_is_not_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def refuse(_: object) -> None:
        raise invalid_argument("task.name: bad")

    assert await _call(refuse) == (grpc.StatusCode.INVALID_ARGUMENT, "task.name: bad")
    assert caplog.records == []


async def test_a_bug_is_internal_and_logged_with_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def bug(_: object) -> None:
        raise KeyError("oops")

    with caplog.at_level(logging.ERROR, logger="cloudtasks_kit.emulator.api"):
        assert await _call(bug) == (grpc.StatusCode.INTERNAL, "Method: KeyError: 'oops'")
    [record] = caplog.records
    assert record.exc_info is not None
    assert record.exc_info[0] is KeyError


def test_messages_and_quoted_values_stay_short() -> None:
    assert len(ApiError(grpc.StatusCode.INVALID_ARGUMENT, "x" * 100_000).message) == 600
    quoted = shown("é" * 10_000)
    assert len(quoted) == 120
    assert quoted.endswith("...'")
    assert shown("short") == "'short'"
