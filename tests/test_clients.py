"""The kit's clients over either transport: the main round trip (``.delay()`` -> emulator ->
worker, and a Cloud Scheduler job) over gRPC and over REST, where REST needs no gRPC at all."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dependency_injector import providers
from fastapi import APIRouter, FastAPI, Header
from google.cloud import tasks_v2

from cloudtasks_kit import (
    Action,
    ConfigurationError,
    Container,
    DelayedRoute,
    ScheduledRoute,
    TaskAlreadyExists,
    delayer,
    load_settings,
    scheduled_job,
)
from cloudtasks_kit.testing import BackgroundServer, EmulatorProcess
from tests.support import Inbox

PROJECT = "test-project"
LOCATION = "us-central1"
# Nothing listens on the discard port: a client that tried gRPC there would fail.
NO_GRPC = "127.0.0.1:9"
inbox = Inbox()

tasks = APIRouter(route_class=DelayedRoute, prefix="/tasks")
jobs = APIRouter(route_class=ScheduledRoute, prefix="/jobs")


@tasks.post("/cook/{dish}")
def cook(dish: str, x_table: str = Header("")) -> None:
    inbox.put("cook", (dish, x_table))


@jobs.post("/tidy/{room}")
def tidy(room: str, x_cloudscheduler_jobname: str = Header("")) -> None:
    inbox.put("tidy", (room, x_cloudscheduler_jobname))


app = FastAPI()
app.include_router(tasks)
app.include_router(jobs)


def _container(tmp_path: Path, worker: BackgroundServer, **settings: Any) -> Container:
    loaded = load_settings(
        config_dir=tmp_path,
        project=PROJECT,
        location=LOCATION,
        base_url=worker.url,
        default_queue=f"rt-{uuid.uuid4().hex[:8]}",
        **settings,
    )
    return Container(settings=providers.Object(loaded), worker_app=providers.Object(app))


@pytest.fixture
def worker() -> Iterator[BackgroundServer]:
    inbox.clear()
    with BackgroundServer(app) as server:
        yield server


@pytest.mark.parametrize("transport", ["grpc", "rest"])
def test_the_main_round_trip_over_each_transport(
    tmp_path: Path, cloudtasks_emulator: EmulatorProcess, worker: BackgroundServer, transport: str
) -> None:
    container = _container(
        tmp_path,
        worker,
        transport=transport,
        emulator_host=cloudtasks_emulator.grpc_target if transport == "grpc" else NO_GRPC,
        emulator_http_host=cloudtasks_emulator.http_target,
    )
    container.wire()
    try:
        settings = container.settings()
        container.tasks_client().update_queue(queue=tasks_v2.Queue(name=settings.queue_path()))

        send = delayer(cook).options(task_id=f"dal-{transport}", headers={"x-table": "7"})
        result = send.delay(dish="dal")
        assert inbox.wait_for("cook") == [("dal", "7")]
        assert result.name == f"{settings.queue_path()}/tasks/dal-{transport}"
        with pytest.raises(TaskAlreadyExists):  # over REST the client raises Conflict
            send.delay(dish="dal")

        name = f"tidy-{transport}-{uuid.uuid4().hex[:6]}"
        job = scheduled_job(tidy, name=name, schedule="0 9 * * *")
        assert job.schedule(room="attic").action is Action.CREATE
        assert job.schedule(room="attic").action is Action.UNCHANGED
        job.run_now()
        assert inbox.wait_for("tidy") == [("attic", name)]
        job.delete()

        assert container.tasks_client().transport.kind == transport
        assert container.scheduler_client().transport.kind == transport
    finally:
        container.unwire()
        container.shutdown_resources()


def test_rest_finds_the_emulator_one_port_above_grpc(tmp_path: Path) -> None:
    settings = load_settings(config_dir=tmp_path, transport="rest", emulator_host="[::1]:8123")
    container = Container(settings=providers.Object(settings))
    assert container.tasks_client().api_endpoint == "http://[::1]:8124"
    assert container.scheduler_client().api_endpoint == "http://[::1]:8124"
    container.shutdown_resources()


async def test_adelay_over_rest_says_it_needs_grpc(
    tmp_path: Path, cloudtasks_emulator: EmulatorProcess, worker: BackgroundServer
) -> None:
    container = _container(
        tmp_path,
        worker,
        transport="rest",
        emulator_host=cloudtasks_emulator.grpc_target,
        emulator_http_host=cloudtasks_emulator.http_target,
    )
    with container.bound(), pytest.raises(ConfigurationError, match=r"adelay\(\).*gRPC only"):
        await delayer(cook).adelay(dish="dal")
    assert inbox.get("cook") == []
