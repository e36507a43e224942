"""The emulator's HTTP side: OpenID configuration and JWKS (so workers verify its tokens as
they verify Google's), a health check, admin calls for tests and demos, ``/metrics`` for
Prometheus, and the routes that ``_server`` passes in: the REST face (``faces._rest``) and the
console (``console``).

Admin calls check their input completely before they change anything: a body that is not a
JSON object, an unknown key, a value that is not a finite number in range is a 400 with the
reason, and no input can leave the emulator in a state it cannot serve from.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

import grpc
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from ._checks import MAX_TIMESTAMP
from ._clock import Clock
from ._errors import ApiError
from ._origin import from_another_site
from ._stats import Stats
from ._tokens import TokenSigner

__all__ = ["Resetter", "build_http_app"]

log = logging.getLogger("cloudtasks_kit.emulator.admin")

#: Empties everything (``None``) or one queue's tasks and tombstones (its name); what it did.
#: Raises :class:`ApiError` for a malformed or unknown queue.
Resetter = Callable[[str | None], dict[str, Any]]

_MAX_BODY = 64 * 1024
# One advance moves the clock at most a century; and never so far that "now" plus the 30 days
# a task may be scheduled ahead leaves the range of a protobuf Timestamp (year 9999).
_MAX_ADVANCE = 100 * 365.25 * 86400.0
_LATEST_NOW = MAX_TIMESTAMP - 366 * 86400.0
_HTTP_STATUS = {grpc.StatusCode.INVALID_ARGUMENT: 400, grpc.StatusCode.NOT_FOUND: 404}


class _BadRequest(Exception):
    pass


class _Forbidden(Exception):
    pass


def build_http_app(
    signer: TokenSigner,
    stats: Stats,
    clock: Clock,
    reset: Resetter | None = None,
    api_routes: Sequence[BaseRoute] = (),
) -> Starlette:
    async def openid_configuration(_: Request) -> JSONResponse:
        return JSONResponse(signer.openid_configuration())

    async def certs(_: Request) -> JSONResponse:
        return JSONResponse(signer.jwks(), headers={"Cache-Control": "public, max-age=3600"})

    async def healthz(_: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    async def get_stats(_: Request) -> JSONResponse:
        return JSONResponse(stats.as_dict())

    async def metrics(_: Request) -> Response:
        return Response(stats.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    async def get_clock(_: Request) -> JSONResponse:
        return JSONResponse({"now": clock.now(), "offset": clock.offset})

    async def advance_clock(request: Request) -> Response:
        _refuse_other_sites(request)
        payload = await _json_object(request, required=True)
        _only_keys(payload, {"seconds"})
        seconds = payload.get("seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise _BadRequest('"seconds" must be a number, as in {"seconds": 3600}')
        if not math.isfinite(seconds) or seconds < 0:
            raise _BadRequest(f'"seconds" must be a finite number, 0 or more; got {seconds}')
        if seconds > _MAX_ADVANCE:
            raise _BadRequest(f'"seconds" must be at most {_MAX_ADVANCE:.0f} (a century)')
        if clock.now() + seconds > _LATEST_NOW:
            raise _BadRequest("the clock cannot move past the year 9998")
        clock.advance(float(seconds))
        return JSONResponse({"now": clock.now(), "offset": clock.offset})

    async def reset_state(request: Request) -> Response:
        _refuse_other_sites(request)
        if reset is None:
            return JSONResponse({"error": "reset is not available"}, status_code=404)
        payload = await _json_object(request, required=False)
        _only_keys(payload, {"queue"})
        queue = payload.get("queue")
        if queue is not None and not isinstance(queue, str):
            raise _BadRequest('"queue" must be a queue name (projects/P/locations/L/queues/Q)')
        try:
            return JSONResponse(reset(queue))
        except ApiError as exc:
            return JSONResponse({"error": exc.message}, status_code=_HTTP_STATUS.get(exc.code, 400))

    async def bad_request(_: Request, exc: Exception) -> Response:
        return JSONResponse({"error": str(exc)}, status_code=400)

    async def forbidden(_: Request, exc: Exception) -> Response:
        return JSONResponse({"error": str(exc)}, status_code=403)

    async def failure(request: Request, exc: Exception) -> Response:
        # A bug of the emulator's own: logged with its traceback; the emulator goes on.
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return JSONResponse({"error": f"{type(exc).__name__}: {exc}"}, status_code=500)

    return Starlette(
        routes=[
            Route("/.well-known/openid-configuration", openid_configuration),
            Route("/oauth2/v3/certs", certs),
            Route("/healthz", healthz),
            Route("/metrics", metrics),
            Route("/admin/stats", get_stats),
            Route("/admin/clock", get_clock),
            Route("/admin/clock/advance", advance_clock, methods=["POST"]),
            Route("/admin/reset", reset_state, methods=["POST"]),
            *api_routes,
        ],
        exception_handlers={_BadRequest: bad_request, _Forbidden: forbidden, Exception: failure},
    )


async def _json_object(request: Request, *, required: bool) -> dict[str, Any]:
    """The request's body as a JSON object ({} for an empty body when not ``required``)."""
    body = await request.body()
    if not body.strip():
        if required:
            raise _BadRequest('empty body: send a JSON object, as in {"seconds": 3600}')
        return {}
    if len(body) > _MAX_BODY:
        raise _BadRequest(f"body over {_MAX_BODY} bytes")
    try:
        payload = json.loads(body.decode("utf-8"), parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise _BadRequest("body is not UTF-8 text: send a JSON object") from None
    except ValueError as exc:
        raise _BadRequest(f"body is not JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise _BadRequest("body must be a JSON object")
    return payload


def _refuse_other_sites(request: Request) -> None:
    if from_another_site(request):
        raise _Forbidden(f"refused from a page of another site ({request.headers['origin']})")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _only_keys(payload: dict[str, Any], known: set[str]) -> None:
    unknown = sorted(set(payload) - known)
    if unknown:
        raise _BadRequest(
            f"unknown key(s) {', '.join(map(repr, unknown))}; known: {', '.join(sorted(known))}"
        )
