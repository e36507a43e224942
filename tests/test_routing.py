"""Where a route is served: prefixes through nested include_router, found once per app."""

from __future__ import annotations

import pytest
from fastapi import APIRouter, FastAPI

from cloudtasks_kit import ConfigurationError, DelayedRoute, _routing
from cloudtasks_kit._routing import mount_prefix, route_url


def _routes() -> tuple[FastAPI, DelayedRoute]:
    child = APIRouter(route_class=DelayedRoute, prefix="/kitchen")

    @child.post("/{dish}")
    def cook(dish: str) -> None: ...

    parent = APIRouter(prefix="/v1")
    parent.include_router(child)
    app = FastAPI()
    app.include_router(parent, prefix="/api")
    [route] = [r for r in child.routes if isinstance(r, DelayedRoute)]
    return app, route


def test_nested_prefixes() -> None:
    app, route = _routes()
    assert mount_prefix(app, route) == "/api/v1"
    assert route_url("http://w", app, route, "/kitchen/dal") == "http://w/api/v1/kitchen/dal"


def test_found_once_then_again_only_when_the_app_changes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app, route = _routes()
    walks: list[int] = []
    find = _routing._find_prefix

    def counting(app: FastAPI, route: DelayedRoute) -> str:
        walks.append(1)
        return find(app, route)

    monkeypatch.setattr(_routing, "_find_prefix", counting)
    assert [mount_prefix(app, route) for _ in range(3)] == ["/api/v1"] * 3
    assert len(walks) == 1

    @app.get("/health")
    def health() -> None: ...

    assert mount_prefix(app, route) == "/api/v1"
    assert len(walks) == 2


def test_a_route_the_app_does_not_serve() -> None:
    _, route = _routes()
    with pytest.raises(ConfigurationError, match="does not serve"):
        mount_prefix(FastAPI(), route)


def test_no_base_url_says_what_to_set() -> None:
    app, route = _routes()
    with pytest.raises(ConfigurationError, match="CLOUDTASKS_BASE_URL"):
        route_url(None, app, route, "/kitchen/dal")
