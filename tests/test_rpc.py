"""Calls to an endpoint that is not there fail within the deadline, saying which and what to do."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dependency_injector import providers
from fastapi import APIRouter, FastAPI
from google.api_core import exceptions

from cloudtasks_kit import (
    ConfigurationError,
    Container,
    DelayedRoute,
    ScheduledRoute,
    ServiceUnreachable,
    TaskCreateUnreachable,
    load_settings,
)
from cloudtasks_kit._rpc import CLOUD_TASKS, rpc_errors
from cloudtasks_kit.settings import KitSettings
from tests.support import untyped, untyped_job

# Far above the deadlines below, far under the ten minutes a default retry took.
MARGIN = 40.0

tasks = APIRouter(route_class=DelayedRoute)
jobs = APIRouter(route_class=ScheduledRoute)


@tasks.post("/soup")
def soup() -> None: ...


@jobs.post("/tick")
def tick() -> None: ...


app = FastAPI()
app.include_router(tasks)
app.include_router(jobs)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _settings(**overrides: Any) -> KitSettings:
    return load_settings(
        **{
            "config_dir": Path(__file__).parent,  # no YAML there: only what is given here
            "project": "p",
            "location": "us-central1",
            "default_queue": "q",
            "base_url": "http://127.0.0.1:9",
            "tracing": False,
            **overrides,
        }
    )


@pytest.fixture
def unreachable() -> Iterator[tuple[Any, str]]:
    """A container serving ``app`` whose emulator address has nothing behind it."""
    host = f"127.0.0.1:{_closed_port()}"
    container = Container(
        settings=providers.Object(
            _settings(emulator_host=host, rpc_timeout=1, task_create_timeout=2)
        ),
        worker_app=providers.Object(app),
    )
    with container.bound():
        yield container, host
    container.shutdown_resources()


def test_delay_names_the_emulator_within_the_create_timeout(unreachable: tuple[Any, str]) -> None:
    _, host = unreachable
    started = time.monotonic()

    with pytest.raises(TaskCreateUnreachable) as caught:
        untyped(soup).delay()

    assert time.monotonic() - started < 2 + MARGIN
    assert f"is `cloudtasks-kit emulator` running on {host}?" in str(caught.value)
    assert caught.value.__suppress_context__  # no chained gRPC traceback


def test_schedule_names_the_emulator_within_the_rpc_deadline(unreachable: tuple[Any, str]) -> None:
    _, host = unreachable
    started = time.monotonic()

    with pytest.raises(ServiceUnreachable) as caught:
        untyped_job(tick, name="tick", schedule="* * * * *").schedule()

    assert time.monotonic() - started < 1 + MARGIN
    assert str(caught.value).startswith(f"cannot reach the Cloud Scheduler emulator at {host} (")
    assert caught.value.__cause__ is None


def test_google_refusing_the_call_is_a_hint_about_credentials_and_project() -> None:
    settings = _settings(emulator_host=None)

    with pytest.raises(ConfigurationError) as caught, rpc_errors(settings, CLOUD_TASKS):
        raise exceptions.PermissionDenied("The principal lacks IAM permission")

    assert str(caught.value) == (
        "Cloud Tasks refused the call (PERMISSION_DENIED: The principal lacks IAM permission): "
        "check the credentials (gcloud auth application-default login, or "
        "GOOGLE_APPLICATION_CREDENTIALS), that project p is the right one and that the Cloud "
        "Tasks API is enabled in it"
    )


def test_google_out_of_reach_says_where_it_tried() -> None:
    settings = _settings(emulator_host=None)

    with pytest.raises(ServiceUnreachable) as caught, rpc_errors(settings, CLOUD_TASKS):
        raise exceptions.RetryError("Timeout of 20.0s exceeded", exceptions.ServiceUnavailable("x"))

    assert str(caught.value).startswith(
        "cannot reach Cloud Tasks (cloudtasks.googleapis.com) within 20 s (UNAVAILABLE: x)"
    )


def test_answers_pass_through() -> None:
    with pytest.raises(exceptions.NotFound), rpc_errors(_settings(), CLOUD_TASKS):
        raise exceptions.NotFound("no such queue")
