"""The official clients over both transports, for the emulator's tests: gRPC, and REST on the
emulator's HTTP port; and the check of an API error that holds over either."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import grpc
import pytest
from google.api_core import exceptions
from google.protobuf import json_format

Transport = Literal["grpc", "rest"]
TRANSPORTS: list[Transport] = ["grpc", "rest"]


@contextlib.contextmanager
def api_error(
    expected: type[exceptions.GoogleAPICallError], match: str | None = None
) -> Iterator[pytest.ExceptionInfo[exceptions.GoogleAPICallError]]:
    """``pytest.raises(expected, match=match)``, over either transport.

    Over REST the client raises the class of the HTTP status (``BadRequest`` for both
    INVALID_ARGUMENT and FAILED_PRECONDITION, ``Conflict`` for ALREADY_EXISTS): there the code
    is read from the answer's ``status``, and the HTTP status must be the code's.
    """
    with pytest.raises(exceptions.GoogleAPICallError, match=match) as info:
        yield info
    assert status_of(info.value) == expected.grpc_status_code, info.value


def refused(
    transport: str,
    expected: type[exceptions.GoogleAPICallError],
    match: str | None = None,
    *,
    fits_the_url: bool,
) -> contextlib.AbstractContextManager[Any]:
    """:func:`api_error`; but over REST a name that fits none of the method's URI templates
    never leaves the client: its transport raises ValueError (only gRPC sends it, and the
    emulator answers ``expected``)."""
    if transport == "rest" and not fits_the_url:
        return pytest.raises(ValueError, match="must have all the required fields")
    return api_error(expected, match)


def status_of(error: exceptions.GoogleAPICallError) -> grpc.StatusCode:
    response: Any = error.response
    if hasattr(response, "status_code") and hasattr(response, "json"):  # REST
        assert error.code == response.status_code
        answer = response.json()["error"]
        assert answer["code"] == response.status_code
        code: grpc.StatusCode = grpc.StatusCode[answer["status"]]
        expected_class = exceptions.from_grpc_status(code, "")
        assert response.status_code == expected_class.code, f"{code} is HTTP {expected_class.code}"
        return code
    assert error.grpc_status_code is not None, error
    return error.grpc_status_code


@dataclass
class Refusal:
    """What :func:`invalid_argument` saw: the error's message, and where it was refused."""

    message: str = ""
    #: Over REST, by the client's own ``json_format``: proto3 JSON cannot hold the value (a
    #: timestamp past the year 9999, a Duration past 10,000 years), so nothing was sent.
    client_side: bool = False

    def names(self, field: str) -> bool:
        """The message names ``field`` (json_format names only its last part)."""
        return (field.rsplit(".", 1)[-1] if self.client_side else field) in self.message


@contextlib.contextmanager
def invalid_argument(transport: str) -> Iterator[Refusal]:
    """The call is refused as INVALID_ARGUMENT, over either transport; over REST a value proto3
    JSON cannot hold is refused by the client before anything is sent, which counts too."""
    refusal = Refusal()
    with pytest.raises((json_format.SerializeToJsonError, exceptions.GoogleAPICallError)) as info:
        yield refusal
    error = info.value
    if isinstance(error, json_format.SerializeToJsonError):
        assert transport == "rest", error
        refusal.message, refusal.client_side = str(error), True
    else:
        assert status_of(error) == grpc.StatusCode.INVALID_ARGUMENT, error
        refusal.message = str(error.message)
