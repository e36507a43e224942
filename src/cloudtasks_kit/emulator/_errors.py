"""Errors the API methods raise, with the status codes Google uses, and the HTTP status each
code maps to: one mapping for both faces (gRPC answers the code, REST the HTTP status); and
the one error that stops the emulator from starting."""

from __future__ import annotations

import grpc

__all__ = [
    "HTTP_STATUS",
    "ApiError",
    "StartError",
    "already_exists",
    "failed_precondition",
    "invalid_argument",
    "not_found",
    "shown",
]

# An error's message travels in a gRPC trailer (8 KB by default on the client's side, after
# percent-encoding), so it is kept short whatever value it quotes.
_MAX_MESSAGE = 600
_MAX_SHOWN = 120


class ApiError(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        if len(message) > _MAX_MESSAGE:
            message = message[: _MAX_MESSAGE - 3] + "..."
        super().__init__(message)
        self.code = code
        self.message = message


def shown(value: object) -> str:
    """``repr(value)``, cut short: what an error message quotes of a caller's value."""
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 4] + "...'"


def invalid_argument(message: str) -> ApiError:
    return ApiError(grpc.StatusCode.INVALID_ARGUMENT, message)


def not_found(message: str) -> ApiError:
    return ApiError(grpc.StatusCode.NOT_FOUND, message)


def already_exists(message: str) -> ApiError:
    return ApiError(grpc.StatusCode.ALREADY_EXISTS, message)


def failed_precondition(message: str) -> ApiError:
    return ApiError(grpc.StatusCode.FAILED_PRECONDITION, message)


#: google.rpc.Code -> HTTP status, as google/rpc/code.proto documents for each code.
HTTP_STATUS: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
}


class StartError(Exception):
    """The emulator cannot start; the message names the port, path or flag and what to do."""
