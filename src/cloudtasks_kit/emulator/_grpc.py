"""Handler plumbing shared by both APIs: plain methods -> one generic gRPC handler a service.

The servicers of Cloud Tasks and Cloud Scheduler are plain classes whose methods take a
request message and return a response message or raise :class:`ApiError`; this module is
the only place that knows what gRPC wants of a handler.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import grpc

from ._errors import ApiError
from ._stats import Stats

__all__ = ["MethodTable", "generic_handler", "guarded"]

log = logging.getLogger("cloudtasks_kit.emulator.api")

#: RPC name -> (the method, its request message class, its response message class).
MethodTable = Mapping[str, tuple[Callable[[Any], Any], Any, Any]]


def generic_handler(service: str, methods: MethodTable, stats: Stats) -> grpc.GenericRpcHandler:
    """The handler of ``service`` (``google.cloud.tasks.v2.CloudTasks``, say): every method
    unary-unary, guarded, and counted in ``stats``."""
    return grpc.method_handlers_generic_handler(
        service,
        {
            name: grpc.unary_unary_rpc_method_handler(
                guarded(name, method, stats),
                request_deserializer=request.FromString,
                response_serializer=response.SerializeToString,
            )
            for name, (method, request, response) in methods.items()
        },
    )


def guarded(
    method: str, call: Callable[[Any], Any], stats: Stats
) -> Callable[[Any, grpc.aio.ServicerContext[Any, Any]], Awaitable[Any]]:
    """Turn a plain method into a gRPC handler: typed errors become status codes, and a bug
    becomes INTERNAL for that one call instead of taking the server down."""

    async def handle(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        stats.rpcs[method] += 1
        try:
            return call(request)
        except ApiError as exc:
            error = exc
        except Exception as exc:
            log.exception("%s failed", method)
            error = ApiError(grpc.StatusCode.INTERNAL, f"{method}: {type(exc).__name__}: {exc}")
        await context.abort(error.code, error.message)

    return handle
