"""The emulator's HTTP side: OpenID configuration and JWKS (so workers verify its tokens as
they verify Google's), a health check, admin calls for tests and demos, ``/metrics`` for
Prometheus, and the routes that ``_server`` passes in: the REST face (``faces._rest``) and the
console (``console``)."""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from ._clock import Clock
from ._stats import Stats
from ._tokens import TokenSigner

__all__ = ["build_http_app"]


def build_http_app(
    signer: TokenSigner, stats: Stats, clock: Clock, api_routes: Sequence[BaseRoute] = ()
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

    async def advance_clock(request: Request) -> JSONResponse:
        payload = await request.json()
        seconds = payload.get("seconds") if isinstance(payload, dict) else None
        if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
            return JSONResponse(
                {"error": 'body must be {"seconds": <non-negative number>}'}, status_code=400
            )
        clock.advance(float(seconds))
        return JSONResponse({"now": clock.now(), "offset": clock.offset})

    return Starlette(
        routes=[
            Route("/.well-known/openid-configuration", openid_configuration),
            Route("/oauth2/v3/certs", certs),
            Route("/healthz", healthz),
            Route("/metrics", metrics),
            Route("/admin/stats", get_stats),
            Route("/admin/clock", get_clock),
            Route("/admin/clock/advance", advance_clock, methods=["POST"]),
            *api_routes,
        ]
    )
