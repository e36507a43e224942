"""The gRPC face: an API's method table -> one generic handler for its service.

This module is the only place that knows what gRPC wants of a handler; the methods stay plain
(a request message in, a response message out, or an :class:`ApiError`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from .._errors import ApiError
from .._methods import Api, invoke
from .._stats import Stats

__all__ = ["generic_handler"]


def generic_handler(api: Api, stats: Stats) -> grpc.GenericRpcHandler:
    """The handler of ``api.service`` (``google.cloud.tasks.v2.CloudTasks``, say): every method
    unary-unary, counted in ``stats``, its errors answered as status codes."""
    return grpc.method_handlers_generic_handler(
        api.service,
        {
            name: grpc.unary_unary_rpc_method_handler(
                _handler(name, method, stats),
                request_deserializer=request.FromString,
                response_serializer=response.SerializeToString,
            )
            for name, (method, request, response) in api.methods().items()
        },
    )


def _handler(
    name: str, method: Callable[[Any], Any], stats: Stats
) -> Callable[[Any, grpc.aio.ServicerContext[Any, Any]], Awaitable[Any]]:
    async def handle(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        try:
            return invoke(name, method, request, stats)
        except ApiError as error:
            await context.abort(error.code, error.message)

    return handle
