"""``cloudtasks-kit schedules sync``: the code's declared jobs against Cloud Scheduler."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dependency_injector import providers
from fastapi import APIRouter, FastAPI
from google.api_core import exceptions
from google.cloud import scheduler_v1
from google.protobuf import field_mask_pb2

from cloudtasks_kit import Action, Container, ScheduledRoute, load_settings, scheduled
from cloudtasks_kit.cli import main
from cloudtasks_kit.ops import plan_schedules
from cloudtasks_kit.testing import EmulatorProcess
from tests.support import emulator_rpcs

LOCATION = "us-central1"
PREFIX = "shop-"

router = APIRouter(route_class=ScheduledRoute, prefix="/jobs")


@router.post("/report/{kind}")
@scheduled(name="nightly-report", schedule="0 2 * * *", kwargs={"kind": "sales"})
@scheduled(
    name="weekly-report",
    schedule="0 9 * * MON",
    time_zone="Europe/Paris",
    kwargs={"kind": "stock"},
    retry={"retry_count": 2},
)
async def report(kind: str) -> None: ...


@router.post("/sync")
@scheduled(name="hourly-sync", schedule="0 * * * *")
async def sync() -> None: ...


app = FastAPI()
app.include_router(router)

twice = APIRouter(route_class=ScheduledRoute)


@twice.post("/a")
@scheduled(name="same-name", schedule="0 1 * * *")
async def first() -> None: ...


@twice.post("/b")
@scheduled(name="same-name", schedule="0 2 * * *")
async def second() -> None: ...


duplicate_app = FastAPI()
duplicate_app.include_router(twice)


@pytest.fixture
def project(
    cloudtasks_emulator: EmulatorProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    name = f"jobs-{uuid.uuid4().hex[:8]}"
    monkeypatch.chdir(tmp_path)
    for key, value in {
        "CLOUDTASKS_CONFIG_DIR": str(tmp_path),
        "CLOUDTASKS_PROJECT": name,
        "CLOUDTASKS_LOCATION": LOCATION,
        "CLOUDTASKS_EMULATOR_HOST": cloudtasks_emulator.grpc_target,
        "CLOUDTASKS_BASE_URL": "http://127.0.0.1:9",
        "CLOUDTASKS_SCHEDULER_JOB_PREFIX": PREFIX,
    }.items():
        monkeypatch.setenv(key, value)
    return name


@pytest.fixture
def client(cloudtasks_emulator: EmulatorProcess) -> Iterator[Any]:
    container = Container(
        settings=providers.Object(load_settings(emulator_host=cloudtasks_emulator.grpc_target))
    )
    yield container.scheduler_client()
    container.unwire()
    container.shutdown_resources()


def _job(parent: str, job_id: str) -> scheduler_v1.Job:
    return scheduler_v1.Job(
        name=f"{parent}/jobs/{job_id}",
        schedule="*/5 * * * *",
        http_target=scheduler_v1.HttpTarget(uri="http://127.0.0.1:9/elsewhere"),
    )


def test_create_then_update_prune_and_leave_others_alone(
    project: str,
    client: Any,
    cloudtasks_emulator: EmulatorProcess,
    capsys: pytest.CaptureFixture[str],
) -> None:
    parent = f"projects/{project}/locations/{LOCATION}"
    spec = "tests.ops.test_schedules:app"

    assert main(["schedules", "sync", spec]) == 0
    out = capsys.readouterr().out
    assert "3 create, 0 update, 0 delete, 0 unchanged" in out
    weekly = client.get_job(name=f"{parent}/jobs/{PREFIX}weekly-report")
    assert weekly.time_zone == "Europe/Paris"
    assert weekly.http_target.uri == "http://127.0.0.1:9/jobs/report/stock"
    assert weekly.retry_config.retry_count == 2

    # Drift: someone edits a job by hand; a job the code dropped; a job of another team.
    hourly = f"{parent}/jobs/{PREFIX}hourly-sync"
    client.update_job(
        job=scheduler_v1.Job(name=hourly, schedule="30 * * * *"),
        update_mask=field_mask_pb2.FieldMask(paths=["schedule"]),
    )
    client.create_job(parent=parent, job=_job(parent, f"{PREFIX}retired"))
    client.create_job(parent=parent, job=_job(parent, "other-team-job"))

    before = emulator_rpcs(cloudtasks_emulator.http_url)
    assert main(["schedules", "sync", spec, "--prune", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert re.search(
        rf"^would update\s+{hourly}\n\s+schedule: '30 \* \* \* \*' -> '0 \* \* \* \*'$", out, re.M
    )
    assert re.search(rf"delete\s+{parent}/jobs/{PREFIX}retired", out)
    assert "other-team-job" not in out
    assert "0 create, 1 update, 1 delete, 2 unchanged" in out
    after = emulator_rpcs(cloudtasks_emulator.http_url)
    for rpc in ("CreateJob", "UpdateJob", "DeleteJob"):
        assert after.get(rpc, 0) == before.get(rpc, 0), f"the dry run called {rpc}"

    assert main(["schedules", "sync", spec, "--prune"]) == 0
    # The counters that showed no write above do count the writes of the real run.
    synced = emulator_rpcs(cloudtasks_emulator.http_url)
    assert synced.get("UpdateJob", 0) == after.get("UpdateJob", 0) + 1
    assert synced.get("DeleteJob", 0) == after.get("DeleteJob", 0) + 1
    assert client.get_job(name=hourly).schedule == "0 * * * *"
    with pytest.raises(exceptions.NotFound):
        client.get_job(name=f"{parent}/jobs/{PREFIX}retired")
    assert client.get_job(name=f"{parent}/jobs/other-team-job").schedule == "*/5 * * * *"

    capsys.readouterr()
    assert main(["schedules", "sync", spec, "--prune"]) == 0
    assert "0 create, 0 update, 0 delete, 3 unchanged" in capsys.readouterr().out


def test_prune_needs_an_owner_prefix(
    project: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CLOUDTASKS_SCHEDULER_JOB_PREFIX", "")
    assert main(["schedules", "sync", "tests.ops.test_schedules:app", "--prune"]) == 2
    assert "SCHEDULER_JOB_PREFIX" in capsys.readouterr().err


def test_duplicate_declared_names_fail_before_any_rpc(
    project: str, cloudtasks_emulator: EmulatorProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    before = emulator_rpcs(cloudtasks_emulator.http_url)
    assert main(["schedules", "sync", "tests.ops.test_schedules:duplicate_app"]) == 2
    assert "'same-name' is declared twice" in capsys.readouterr().err
    assert emulator_rpcs(cloudtasks_emulator.http_url) == before


def test_declared_arguments_are_checked_when_the_route_is_declared() -> None:
    from cloudtasks_kit import InvalidTaskArguments

    other = APIRouter(route_class=ScheduledRoute)
    with pytest.raises(InvalidTaskArguments, match="count"):

        @other.post("/count/{count}")
        @scheduled(name="bad", schedule="0 1 * * *", kwargs={"count": "many"})
        async def count(count: int) -> None: ...


def test_a_failing_change_is_reported_and_the_rest_applied(
    project: str, client: Any, cloudtasks_emulator: EmulatorProcess
) -> None:
    settings = load_settings()
    container = Container(settings=providers.Object(settings), worker_app=providers.Object(app))
    try:
        scheduler = container.job_scheduler()
        plan_schedules(scheduler, app).apply()
        parent = scheduler.parent
        hourly = f"{parent}/jobs/{PREFIX}hourly-sync"
        nightly = f"{parent}/jobs/{PREFIX}nightly-report"
        for name in (hourly, nightly):
            client.update_job(
                job=scheduler_v1.Job(name=name, schedule="59 23 * * *"),
                update_mask=field_mask_pb2.FieldMask(paths=["schedule"]),
            )
        plan = plan_schedules(scheduler, app)
        assert plan.count(Action.UPDATE) == 2
        client.delete_job(name=hourly)  # gone between plan and apply
        failures = plan.apply()
        assert [failure.change.name for failure in failures] == [hourly]
        assert "NotFound" in failures[0].error
        assert client.get_job(name=nightly).schedule == "0 2 * * *"
    finally:
        container.unwire()
        container.shutdown_resources()
