"""gRPC errors the API servicers raise, with the status codes Google uses."""

from __future__ import annotations

import grpc

__all__ = [
    "ApiError",
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
