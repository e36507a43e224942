"""What differs between the FastAPI versions ``fastapi>=`` allows, pinned down without a worker.

Each test holds on every supported FastAPI; the comment says which versions behave otherwise
(see the compatibility notes in ``_routing.py`` and ``_binding.py``).
"""

from __future__ import annotations

import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi.dependencies.utils import get_dependant

from cloudtasks_kit import (
    DelayedRoute,
    InvalidTaskArguments,
    OidcVerifier,
    ScheduledRoute,
    delayer,
)
from cloudtasks_kit._binding import RouteBinder
from cloudtasks_kit._routing import route_url
from cloudtasks_kit.settings import WorkerAuthSettings
from tests.support import untyped


def test_delay_stays_on_the_declared_route_when_two_apps_include_it() -> None:
    # FastAPI <= 0.136 builds a DelayedRoute per include_router: .delay() must not move to it.
    router = APIRouter(route_class=DelayedRoute)

    @router.post("/jobs/{n}")
    def job(n: int) -> None: ...

    [declared] = router.routes
    assert isinstance(declared, DelayedRoute)
    first, second = FastAPI(), FastAPI()
    first.include_router(router, prefix="/a")
    second.include_router(router, prefix="/b")

    route = delayer(job)._route
    assert route is declared
    path = route.binder.bind(n=1).path
    assert path == "/jobs/1"
    assert route_url("http://w", first, route, path) == "http://w/a/jobs/1"
    assert route_url("http://w", second, route, path) == "http://w/b/jobs/1"
    with pytest.raises(InvalidTaskArguments) as caught:
        untyped(job).delay(n="x")
    assert caught.value.route == "job (POST /jobs/{n})"


def test_scheduler_stays_on_the_declared_route() -> None:
    router = APIRouter(route_class=ScheduledRoute)

    @router.post("/cron")
    def tick() -> None: ...

    [declared] = router.routes
    FastAPI().include_router(router, prefix="/v1")

    assert tick.scheduler.__self__ is declared  # type: ignore[attr-defined]


def test_an_endpoint_declared_twice_keeps_its_first_route() -> None:
    # The registry keeps the first route built for an endpoint: the one it was declared on,
    # whatever copies include_router makes later (FastAPI <= 0.136) or a second declaration.
    first, second = APIRouter(route_class=DelayedRoute), APIRouter(route_class=DelayedRoute)

    def job() -> None: ...

    first.post("/first")(job)
    second.post("/second")(job)

    assert delayer(job)._route is first.routes[0]
    assert job.delay.__self__ is delayer(job)  # type: ignore[attr-defined]


def test_a_verifier_instance_reads_the_request_not_a_query_parameter() -> None:
    # FastAPI <= 0.123.0 left OidcVerifier.__call__'s postponed "Request" unresolved.
    verifier = OidcVerifier(WorkerAuthSettings(enabled=False))

    dependant = get_dependant(path="/", call=verifier)

    assert dependant.request_param_name == "request"
    assert dependant.query_params == []


def test_a_keyword_declared_twice_binds_once_valid_and_reports_once_invalid() -> None:
    # FastAPI <= 0.128.0 returns None, not [], for the errors of a valid value.
    def page(skip: int = 0) -> int:
        return skip

    router = APIRouter(route_class=DelayedRoute)

    @router.get("/items")
    def items(skip: int = 0, first: int = Depends(page)) -> None: ...

    [route] = router.routes
    assert isinstance(route, DelayedRoute)
    binder = RouteBinder.for_route(route)

    assert binder.bind(skip=3).path == "/items?skip=3"
    with pytest.raises(InvalidTaskArguments) as caught:
        binder.bind(skip="many")
    assert len(caught.value.errors) == 1
