"""What both faces serve: an API's method table, and one call of a method.

An API (``CloudTasksApi``, ``CloudSchedulerApi``) lists its methods by RPC name with their
request and response message classes; the gRPC and REST faces only turn their wire format
into those requests and the answers or errors back. A call is counted in the stats whichever
face it came through, and a bug in a method becomes INTERNAL for that one call instead of
taking the server down.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import grpc

from ._errors import ApiError
from ._stats import Stats

__all__ = ["Api", "MethodTable", "invoke"]

log = logging.getLogger("cloudtasks_kit.emulator.api")

#: RPC name -> (the method, its request message class, its response message class).
MethodTable = Mapping[str, tuple[Callable[[Any], Any], Any, Any]]


class Api(Protocol):
    """An API as the faces see it."""

    @property
    def service(self) -> str:
        """The gRPC service, e.g. ``google.cloud.tasks.v2.CloudTasks``."""

    @property
    def rest_transport(self) -> type:
        """The official client's REST transport: its HTTP rules (verb, URI template, body
        field per method) are the REST face's routes."""

    def methods(self) -> MethodTable:
        """RPC name -> (method, request class, response class)."""


def invoke(name: str, method: Callable[[Any], Any], request: Any, stats: Stats) -> Any:
    """Call ``method`` (the RPC ``name``) on ``request``: its answer, or an :class:`ApiError`."""
    stats.rpcs[name] += 1
    try:
        return method(request)
    except ApiError:
        raise
    except Exception as exc:
        log.exception("%s failed", name)
        raise ApiError(grpc.StatusCode.INTERNAL, f"{name}: {type(exc).__name__}: {exc}") from exc
