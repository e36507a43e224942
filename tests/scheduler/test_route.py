"""Scheduled routes: jobs from code, created, updated in place or left alone, and fired."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import pytest
from dependency_injector import providers
from fastapi import APIRouter, FastAPI, Header, Query
from google.api_core import exceptions
from google.cloud import scheduler_v1
from pydantic import BaseModel

from cloudtasks_kit import (
    Action,
    Container,
    InvalidTaskArguments,
    JobRetry,
    JobScheduler,
    ScheduledRoute,
    load_settings,
    scheduled_job,
)
from cloudtasks_kit.testing import BackgroundServer, EmulatorProcess
from tests.support import Inbox, emulator_rpcs, untyped_job

PREFIX = "kit-"
router = APIRouter(route_class=ScheduledRoute, prefix="/cron")
inbox = Inbox()


class Recipe(BaseModel):
    ingredients: list[str]


@router.post("/{kitchen}/cook")
async def cook(
    kitchen: str,
    recipe: Recipe,
    servings: Annotated[int, Query()] = 1,
    x_cloudscheduler_jobname: Annotated[str, Header()] = "",
    x_cloudscheduler_scheduletime: Annotated[str, Header()] = "",
    authorization: Annotated[str, Header()] = "",
) -> None:
    inbox.put(
        kitchen,
        {
            "recipe": recipe.ingredients,
            "servings": servings,
            "job": x_cloudscheduler_jobname,
            "schedule_time": x_cloudscheduler_scheduletime,
            "authorization": authorization,
        },
    )


app = FastAPI()
app.include_router(router, prefix="/v1")


@pytest.fixture
def cloudtasks_app() -> FastAPI:
    return app


@pytest.fixture
def cloudtasks_settings_overrides(tmp_path: Path) -> dict[str, Any]:
    return {
        "config_dir": tmp_path,
        "scheduler_job_prefix": PREFIX,
        "oidc": {"service_account_email": "cron@test-project.iam.gserviceaccount.com"},
    }


@pytest.fixture(autouse=True)
def _empty_inbox() -> None:
    inbox.clear()


def _client(container: Any) -> Any:
    return container.scheduler_client()


def test_job_is_created_fires_with_headers_and_arguments(cloudtasks_container: Any) -> None:
    job = scheduled_job(cook, name="dinner-paris", schedule="0 19 * * *", time_zone="Europe/Paris")
    result = job.schedule(kitchen="paris", recipe=Recipe(ingredients=["ratatouille"]), servings=4)
    assert result.action is Action.CREATE
    assert result.name.endswith(f"/jobs/{PREFIX}dinner-paris")
    stored = _client(cloudtasks_container).get_job(name=result.name)
    assert stored.schedule == "0 19 * * *"
    assert stored.time_zone == "Europe/Paris"
    assert stored.http_target.uri.endswith("/v1/cron/paris/cook?servings=4")

    job.run_now()
    [received] = inbox.wait_for("paris")
    assert received["recipe"] == ["ratatouille"]
    assert received["servings"] == 4
    assert received["job"] == f"{PREFIX}dinner-paris"
    assert received["schedule_time"].endswith("Z")
    assert received["authorization"].startswith("Bearer ")


def test_same_job_again_writes_nothing_and_a_change_updates_in_place(
    cloudtasks_container: Any, cloudtasks_emulator: EmulatorProcess
) -> None:
    arguments = {"kitchen": "rome", "recipe": Recipe(ingredients=["pasta"])}
    job = untyped_job(cook, name="lunch-rome", schedule="0 12 * * *", time_zone="Europe/Rome")
    assert job.schedule(**arguments).action is Action.CREATE
    before = emulator_rpcs(cloudtasks_emulator.http_url)
    assert job.schedule(**arguments).action is Action.UNCHANGED
    after = emulator_rpcs(cloudtasks_emulator.http_url)
    assert after.get("UpdateJob", 0) == before.get("UpdateJob", 0)
    assert after.get("CreateJob", 0) == before.get("CreateJob", 0)

    changed = scheduled_job(
        cook,
        name="lunch-rome",
        schedule="30 12 * * 1-5",
        time_zone="Europe/Rome",
        retry=JobRetry(retry_count=2, min_backoff=1, max_backoff=10),
    )
    result = changed.schedule(kitchen="rome", recipe=Recipe(ingredients=["pizza"]))
    assert result.action is Action.UPDATE
    assert set(result.fields) == {"schedule", "http_target", "retry_config"}
    final = emulator_rpcs(cloudtasks_emulator.http_url)
    # One UpdateJob, no delete and create: the job was never absent.
    assert final.get("UpdateJob", 0) == after.get("UpdateJob", 0) + 1
    assert final.get("DeleteJob", 0) == after.get("DeleteJob", 0)
    assert final.get("CreateJob", 0) == after.get("CreateJob", 0)
    stored = _client(cloudtasks_container).get_job(name=result.name)
    assert stored.schedule == "30 12 * * 1-5"
    assert b"pizza" in stored.http_target.body
    assert stored.retry_config.retry_count == 2
    assert changed.schedule(kitchen="rome", recipe=Recipe(ingredients=["pizza"])).action is (
        Action.UNCHANGED
    )


def test_pause_resume_delete(cloudtasks_container: Any) -> None:
    job = scheduled_job(cook, name="tea", schedule="0 16 * * *", paused=True)
    result = job.schedule(kitchen="london", recipe=Recipe(ingredients=["tea"]))
    client = _client(cloudtasks_container)
    assert client.get_job(name=result.name).state.name == "PAUSED"
    job.resume()
    assert client.get_job(name=result.name).state.name == "ENABLED"
    job.pause()
    assert client.get_job(name=result.name).state.name == "PAUSED"
    # Asking for the declared state again resumes it: the declaration wins.
    running = scheduled_job(cook, name="tea", schedule="0 16 * * *")
    again = running.schedule(kitchen="london", recipe=Recipe(ingredients=["tea"]))
    assert again.fields == ("state",)
    assert client.get_job(name=result.name).state.name == "ENABLED"
    assert job.delete() is True
    assert job.delete() is False
    with pytest.raises(exceptions.NotFound):
        client.get_job(name=result.name)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"name": "bad", "schedule": "61 * * * *"}, "schedule"),
        ({"name": "bad", "schedule": "* * * *"}, "schedule"),
        ({"name": "bad", "schedule": "@daily"}, "schedule"),
        ({"name": "bad", "schedule": "0 7 * * *", "time_zone": "Mars/Olympus"}, "time_zone"),
        ({"name": "bad name", "schedule": "0 7 * * *"}, "name"),
        ({"name": "bad", "schedule": "0 7 * * *", "attempt_deadline": 5}, "attempt_deadline"),
        ({"name": "bad", "schedule": "0 7 * * *", "retry": {"retry_count": 6}}, "retry_count"),
    ],
)
def test_bad_schedules_fail_where_written(spec: dict[str, Any], message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        scheduled_job(cook, **spec)


def test_bad_arguments_fail_before_any_rpc(
    cloudtasks_container: Any, cloudtasks_emulator: EmulatorProcess
) -> None:
    before = emulator_rpcs(cloudtasks_emulator.http_url)
    job = untyped_job(cook, name="never", schedule="0 7 * * *")
    with pytest.raises(InvalidTaskArguments, match="recipe"):
        job.schedule(kitchen="x", recipe={"ingredients": "not a list"})
    with pytest.raises(InvalidTaskArguments, match="kitchen"):
        job.schedule(recipe=Recipe(ingredients=["x"]))
    after = emulator_rpcs(cloudtasks_emulator.http_url)
    for rpc in ("GetJob", "CreateJob", "UpdateJob"):
        assert after.get(rpc, 0) == before.get(rpc, 0)


def test_bad_headers_from_hooks_fail_before_any_rpc(
    cloudtasks_container: Any, cloudtasks_emulator: EmulatorProcess
) -> None:
    def hook(request: scheduler_v1.CreateJobRequest) -> scheduler_v1.CreateJobRequest:
        request.job.http_target.headers["x-tenant"] = "a\r\nX-Evil: 1"
        return request

    before = emulator_rpcs(cloudtasks_emulator.http_url)
    job = scheduled_job(cook, name="hooked", schedule="0 7 * * *", hooks=[hook])
    with pytest.raises(InvalidTaskArguments, match="'x-tenant': its value holds"):
        job.schedule(kitchen="x", recipe=Recipe(ingredients=["x"]))
    after = emulator_rpcs(cloudtasks_emulator.http_url)
    for rpc in ("GetJob", "CreateJob", "UpdateJob"):
        assert after.get(rpc, 0) == before.get(rpc, 0)


def test_scheduled_job_refuses_other_functions() -> None:
    def plain() -> None: ...

    with pytest.raises(TypeError, match="ScheduledRoute"):
        scheduled_job(plain, name="x", schedule="0 7 * * *")


@pytest.fixture
def clocked(tmp_path: Path) -> Iterator[tuple[EmulatorProcess, BackgroundServer, Any]]:
    """An emulator of its own, whose clock the test moves, and the app served for it."""
    with EmulatorProcess() as emulator, BackgroundServer(app) as worker:
        settings = load_settings(
            config_dir=tmp_path,
            project="clock-project",
            location="us-central1",
            emulator_host=emulator.grpc_target,
            base_url=worker.url,
        )
        container = Container(settings=providers.Object(settings), worker_app=providers.Object(app))
        container.wire()
        try:
            yield emulator, worker, container
        finally:
            container.unwire()
            container.shutdown_resources()


def test_a_daily_job_fires_when_the_clock_reaches_it(
    clocked: tuple[EmulatorProcess, BackgroundServer, Any],
) -> None:
    emulator, _, container = clocked
    job = scheduled_job(cook, name="breakfast", schedule="0 7 * * *", time_zone="Asia/Kolkata")
    job.schedule(kitchen="mumbai", recipe=Recipe(ingredients=["poha"]))
    stored = container.scheduler_client().get_job(
        name=container.job_scheduler().job_name("breakfast")
    )
    now = json.load(urllib.request.urlopen(f"{emulator.http_url}/admin/clock"))["now"]
    due = stored.schedule_time.timestamp()
    assert 0 < due - now <= 86400
    _advance(emulator, due - now + 1)
    [received] = inbox.wait_for("mumbai")
    assert received["recipe"] == ["poha"]
    # 07:00 in Kolkata is 01:30 UTC.
    assert received["schedule_time"].endswith("T01:30:00Z")


def _advance(emulator: EmulatorProcess, seconds: float) -> None:
    request = urllib.request.Request(
        f"{emulator.http_url}/admin/clock/advance",
        data=json.dumps({"seconds": seconds}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request) as response:
        assert response.status == 200


async def test_awaitable_forms(cloudtasks_container: Any) -> None:
    job = untyped_job(cook, name="async-brunch", schedule="0 11 * * SUN")
    created = await job.aschedule(kitchen="berlin", recipe=Recipe(ingredients=["eggs"]))
    assert created.action is Action.CREATE
    again = await job.aschedule(kitchen="berlin", recipe=Recipe(ingredients=["eggs"]))
    assert again.action is Action.UNCHANGED
    with pytest.raises(InvalidTaskArguments):
        await job.aschedule(kitchen="berlin")
    await job.apause()
    await job.aresume()
    await job.arun_now()
    [received] = await asyncio.to_thread(inbox.wait_for, "berlin")
    assert received["recipe"] == ["eggs"]
    assert await job.adelete() is True


@pytest.mark.parametrize(
    ("project", "location"),
    [("TestProject", "TestLocation"), ("123456789012", "us-central1"), ("a.com:p", "eu-1")],
)
def test_job_names_under_every_documented_project_id(
    tmp_path: Path, project: str, location: str
) -> None:
    settings = load_settings(config_dir=tmp_path, project=project, location=location)
    scheduler = JobScheduler(settings, client=None, hooks=())
    assert scheduler.job_name("x") == f"projects/{project}/locations/{location}/jobs/x"
