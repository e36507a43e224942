"""gRPC errors the API servicers raise, with the status codes Google uses; and the one error
that stops the emulator from starting."""

from __future__ import annotations

import grpc

__all__ = [
    "ApiError",
    "StartError",
    "already_exists",
    "failed_precondition",
    "invalid_argument",
    "not_found",
]


class ApiError(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def invalid_argument(message: str) -> ApiError:
    return ApiError(grpc.StatusCode.INVALID_ARGUMENT, message)


def not_found(message: str) -> ApiError:
    return ApiError(grpc.StatusCode.NOT_FOUND, message)


def already_exists(message: str) -> ApiError:
    return ApiError(grpc.StatusCode.ALREADY_EXISTS, message)


def failed_precondition(message: str) -> ApiError:
    return ApiError(grpc.StatusCode.FAILED_PRECONDITION, message)


class StartError(Exception):
    """The emulator cannot start; the message names the port, path or flag and what to do."""
