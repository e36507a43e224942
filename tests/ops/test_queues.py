"""``cloudtasks-kit queues sync`` against the emulator: plan, dry run, create, update."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from google.api_core import exceptions
from google.cloud import tasks_v2

from cloudtasks_kit.cli import main
from cloudtasks_kit.testing import EmulatorProcess

LOCATION = "us-central1"


@pytest.fixture
def project(
    cloudtasks_emulator: EmulatorProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    name = f"sync-{uuid.uuid4().hex[:8]}"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CLOUDTASKS_CONFIG_DIR", str(tmp_path))
    monkeypatch.delenv("CLOUDTASKS_ENV", raising=False)  # base.yaml alone: the default env
    monkeypatch.setenv("CLOUDTASKS_PROJECT", name)
    monkeypatch.setenv("CLOUDTASKS_LOCATION", LOCATION)
    monkeypatch.setenv("CLOUDTASKS_EMULATOR_HOST", cloudtasks_emulator.grpc_target)
    return name


def _write_config(tmp_path: Path, max_attempts: int) -> None:
    (tmp_path / "base.yaml").write_text(
        f"""
default_queue: default
queues:
  kitchen:
    id: kitchen-orders
    rate_limits: {{max_dispatches_per_second: 5, max_concurrent_dispatches: 10}}
    retry: {{max_attempts: {max_attempts}, min_backoff: 1s, max_backoff: 60s}}
"""
    )


def test_dry_run_then_create_then_update_then_unchanged(
    project: str,
    tmp_path: Path,
    cloudtasks_emulator: EmulatorProcess,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = cloudtasks_emulator.tasks_client()
    kitchen = f"projects/{project}/locations/{LOCATION}/queues/kitchen-orders"
    default = f"projects/{project}/locations/{LOCATION}/queues/default"
    _write_config(tmp_path, max_attempts=5)

    assert main(["queues", "sync", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert re.search(rf"^would create\s+{kitchen}$", out, re.MULTILINE)
    assert re.search(r"^\s+retry_config.max_attempts: 5$", out, re.MULTILINE)
    assert "dry run, nothing changed: 2 create, 0 update, 0 delete, 0 unchanged" in out
    with pytest.raises(exceptions.NotFound):
        client.get_queue(name=kitchen)

    assert main(["queues", "sync"]) == 0
    created = client.get_queue(name=kitchen)
    assert created.rate_limits.max_dispatches_per_second == 5
    assert created.rate_limits.max_concurrent_dispatches == 10
    assert created.retry_config.max_attempts == 5
    assert created.retry_config.min_backoff == timedelta(seconds=1)
    assert client.get_queue(name=default).name == default
    capsys.readouterr()

    _write_config(tmp_path, max_attempts=9)
    assert main(["queues", "sync"]) == 0
    out = capsys.readouterr().out
    assert re.search(rf"^updated\s+{kitchen}\n\s+retry_config.max_attempts: 5 -> 9$", out, re.M)
    assert "rate_limits" not in out.split(kitchen)[1]  # only what differs
    assert re.search(rf"^unchanged\s+{default}$", out, re.MULTILINE)
    assert "done: 0 create, 1 update, 0 delete, 1 unchanged" in out
    updated = client.get_queue(name=kitchen)
    assert updated.retry_config.max_attempts == 9
    assert updated.rate_limits.max_dispatches_per_second == 5

    assert main(["queues", "sync"]) == 0
    assert "0 create, 0 update, 0 delete, 2 unchanged" in capsys.readouterr().out


def test_a_failing_change_is_reported_and_the_exit_code_says_so(
    project: str,
    tmp_path: Path,
    cloudtasks_emulator: EmulatorProcess,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = cloudtasks_emulator.tasks_client()
    kitchen = f"projects/{project}/locations/{LOCATION}/queues/kitchen-orders"
    default = f"projects/{project}/locations/{LOCATION}/queues/default"
    # A queue deleted a moment ago cannot be created again under its name.
    client.create_queue(parent=kitchen.rsplit("/queues/", 1)[0], queue={"name": kitchen})
    client.delete_queue(name=kitchen)
    _write_config(tmp_path, max_attempts=5)

    assert main(["queues", "sync"]) == 1
    out = capsys.readouterr().out
    assert f"failed: create {kitchen}: FailedPrecondition" in out
    assert "1 failed" in out
    assert client.get_queue(name=default).name == default  # the rest of the plan went through


def test_missing_queue_is_created_on_first_delay_only_when_enabled(
    cloudtasks_emulator: EmulatorProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dependency_injector import providers
    from fastapi import APIRouter, FastAPI

    from cloudtasks_kit import Container, DelayedRoute, TaskCreateError, load_settings

    router = APIRouter(route_class=DelayedRoute)

    @router.post("/ping")
    async def ping() -> None: ...

    app = FastAPI()
    app.include_router(router)

    monkeypatch.chdir(tmp_path)
    queue = f"lazy-{uuid.uuid4().hex[:8]}"
    common = {
        "config_dir": tmp_path,
        "project": "lazy-project",
        "location": LOCATION,
        "emulator_host": cloudtasks_emulator.grpc_target,
        "base_url": "http://127.0.0.1:9",
        "default_queue": queue,
    }
    container = Container(
        settings=providers.Object(load_settings(**common)), worker_app=providers.Object(app)
    )
    container.wire()
    try:
        with pytest.raises(TaskCreateError, match="queues sync"):
            ping.delay()  # type: ignore[attr-defined]
        container.settings.override(
            providers.Object(load_settings(**common, create_missing_queues=True))
        )
        result = ping.delay()  # type: ignore[attr-defined]
        assert result.queue.endswith(f"/queues/{queue}")
    finally:
        container.unwire()
        container.shutdown_resources()


def test_a_dead_letter_queue_is_created_paused_and_kept_paused(
    project: str,
    tmp_path: Path,
    cloudtasks_emulator: EmulatorProcess,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = cloudtasks_emulator.tasks_client()
    kitchen = f"projects/{project}/locations/{LOCATION}/queues/kitchen-orders"
    graveyard = f"projects/{project}/locations/{LOCATION}/queues/graveyard"
    (tmp_path / "base.yaml").write_text(
        """
queues:
  kitchen: {id: kitchen-orders, dead_letter: dead, retry: {max_attempts: 3}}
  dead: {id: graveyard}
"""
    )
    paused, running = tasks_v2.Queue.State.PAUSED, tasks_v2.Queue.State.RUNNING

    assert main(["queues", "sync", "--dry-run"]) == 0
    assert re.search(rf"would create\s+{graveyard}\n\s+state: PAUSED\n", capsys.readouterr().out)
    assert main(["queues", "sync"]) == 0
    assert client.get_queue(name=graveyard).state == paused
    assert client.get_queue(name=kitchen).state == running
    capsys.readouterr()

    client.resume_queue(name=graveyard)
    assert main(["queues", "sync"]) == 0
    out = capsys.readouterr().out
    assert re.search(rf"updated\s+{graveyard}\n\s+state: RUNNING -> PAUSED\n", out)
    assert re.search(rf"unchanged\s+{kitchen}", out)
    assert client.get_queue(name=graveyard).state == paused

    client.resume_queue(name=graveyard)
    (tmp_path / "base.yaml").write_text(
        (tmp_path / "base.yaml")
        .read_text()
        .replace("{id: graveyard}", "{id: graveyard, retry: {max_attempts: 1}}")
    )
    assert main(["queues", "sync"]) == 0
    out = capsys.readouterr().out
    assert re.search(
        rf"updated\s+{graveyard}\n\s+retry_config.max_attempts: 100 -> 1\n"
        r"\s+state: RUNNING -> PAUSED\n",
        out,
    )
    updated = client.get_queue(name=graveyard)
    assert (updated.state, updated.retry_config.max_attempts) == (paused, 1)

    assert main(["queues", "sync"]) == 0
    assert "0 create, 0 update, 0 delete, 2 unchanged" in capsys.readouterr().out
