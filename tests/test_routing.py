"""Where a route is served: prefixes through nested include_router, found once per app."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from dependency_injector import providers
from fastapi import APIRouter, FastAPI

from cloudtasks_kit import (
    ConfigurationError,
    Container,
    DelayedRoute,
    ScheduledRoute,
    _routing,
    load_settings,
)
from cloudtasks_kit._routing import mount_prefix, route_url
from cloudtasks_kit.testing import EagerTasksClient
from tests.support import untyped, untyped_job


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


# --- a task URL never silently loses a prefix --------------------------------------------------


def _prefixed_apps() -> tuple[dict[str, tuple[FastAPI, Any]], list[str]]:
    """The two ways a prefix comes between a route and its app, each with its own route."""
    ran: list[str] = []
    flat = APIRouter(route_class=DelayedRoute, prefix="/tasks")

    @flat.post("/soup/{n}")
    def soup(n: int) -> None:
        ran.append(f"soup {n}")

    child = APIRouter(route_class=DelayedRoute, prefix="/kitchen")

    @child.post("/dal/{n}")
    def dal(n: int) -> None:
        ran.append(f"dal {n}")

    parent = APIRouter(prefix="/api")
    parent.include_router(child, prefix="/v2")
    with_prefix, nested = FastAPI(), FastAPI()
    with_prefix.include_router(flat, prefix="/v1")
    nested.include_router(parent)
    return {"router with prefix": (with_prefix, soup), "nested routers": (nested, dal)}, ran


def _container(app: FastAPI | None) -> tuple[Any, EagerTasksClient]:
    client = EagerTasksClient(app)
    settings = load_settings(
        config_dir=Path(__file__).parent,  # no YAML there: only what is given here
        project="p",
        location="l",
        default_queue="q",
        base_url="http://w",
        tracing=False,
        # Nothing listens there: the refusals below must come before any call.
        emulator_host="127.0.0.1:9",
    )
    container = Container(
        settings=providers.Object(settings), tasks_client=providers.Object(client)
    )
    if app is not None:
        container.bind_app(app)
    return container, client


@pytest.mark.parametrize("case", ["router with prefix", "nested routers"])
def test_with_the_app_bound_the_url_carries_every_prefix(case: str) -> None:
    apps, ran = _prefixed_apps()
    app, endpoint = apps[case]
    container, client = _container(app)

    with container.bound():
        result = untyped(endpoint).delay(n=1)

    expected = {"router with prefix": "/v1/tasks/soup/1", "nested routers": "/api/v2/kitchen/dal/1"}
    assert result.url == "http://w" + expected[case]
    assert ran == [f"{endpoint.__name__} 1"]  # the app served that URL: no 404
    assert len(client.tasks) == 1


@pytest.mark.parametrize("case", ["router with prefix", "nested routers"])
def test_without_the_app_the_first_delay_says_what_to_add(case: str) -> None:
    apps, ran = _prefixed_apps()
    _, endpoint = apps[case]
    container, client = _container(None)

    with container.bound(), pytest.raises(ConfigurationError) as caught:
        untyped(endpoint).delay(n=1)

    assert f"cannot build the URL of {endpoint.__name__}" in str(caught.value)
    assert str(caught.value).endswith("add `container.bind_app(app)` where the app is built")
    assert client.tasks == []
    assert ran == []


def test_a_job_without_the_app_is_refused_the_same_way() -> None:
    router = APIRouter(route_class=ScheduledRoute)

    @router.post("/tick")
    def tick() -> None: ...

    app = FastAPI()
    app.include_router(router, prefix="/v1")
    container, _ = _container(None)

    with container.bound(), pytest.raises(ConfigurationError, match=r"container\.bind_app"):
        untyped_job(tick, name="tick", schedule="* * * * *").schedule()
