"""Every code block of the README runs, so the documentation cannot rot."""

from __future__ import annotations

import re
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from google.cloud import tasks_v2

from cloudtasks_kit import load_settings
from cloudtasks_kit.testing import EmulatorProcess

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"```(?P<lang>\w+)\n(?P<code>.*?)```", re.DOTALL)
PROJECT, LOCATION = "readme-project", "us-central1"


def _blocks(lang: str) -> list[str]:
    # A shell block's commands are run elsewhere (make demo / make test by CI, the CLI by
    # tests/ops/test_queues.py and tests/ops/test_schedules.py).
    return [m["code"] for m in BLOCK.finditer(README.read_text()) if m["lang"] == lang]


def test_the_first_lines_are_the_two_commands() -> None:
    first = _blocks("bash")[0].splitlines()
    assert first[0].startswith("make demo")
    assert first[1].startswith("make test")


def test_python_blocks_run_in_order_against_the_emulator(
    cloudtasks_emulator: EmulatorProcess,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    for name, value in {
        "CLOUDTASKS_PROJECT": PROJECT,
        "CLOUDTASKS_LOCATION": LOCATION,
        "CLOUDTASKS_EMULATOR_HOST": cloudtasks_emulator.grpc_target,
        "CLOUDTASKS_EMULATOR_HTTP_HOST": cloudtasks_emulator.http_target,
        "CLOUDTASKS_BASE_URL": "http://127.0.0.1:9",
        "CLOUDTASKS_DEFAULT_QUEUE": "default",
        "CLOUDTASKS_CONFIG_DIR": str(tmp_path),
    }.items():
        monkeypatch.setenv(name, value)
    client = cloudtasks_emulator.tasks_client()
    queue = f"projects/{PROJECT}/locations/{LOCATION}/queues/default"
    client.update_queue(queue=tasks_v2.Queue(name=queue))

    module = types.ModuleType("readme_example")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    namespace: dict[str, Any] = module.__dict__
    try:
        for code in _blocks("python"):
            if code.startswith("# test_"):
                continue  # a pytest file: run by the test below
            exec(compile(code, str(README), "exec"), namespace)
    finally:
        if "container" in namespace:
            namespace["container"].unwire()
            namespace["container"].shutdown_resources()

    printed = capsys.readouterr().out
    assert "recipe.ingredients.0" in printed
    assert "dinner-42 already exists" in printed
    assert "['created', 'created']" in printed
    assert "create\nunchanged\n" in printed
    assert f"{queue} over REST: RUNNING" in printed
    tasks = list(client.list_tasks(parent=queue))
    assert {task.http_request.url for task in tasks} == {
        "http://127.0.0.1:9/v1/tasks/Taj/make_dinner"
    }
    assert len(tasks) == 7
    named = client.get_task(name=f"{queue}/tasks/dinner-42")
    assert named.http_request.headers["x-request-id"] == "r-2"
    assert client.get_task(name=f"{queue}/tasks/order-vada").http_request.body
    jobs = cloudtasks_emulator_scheduler(cloudtasks_emulator)
    lunch = jobs.get_job(name=f"projects/{PROJECT}/locations/{LOCATION}/jobs/lunch")
    assert lunch.http_target.uri == "http://127.0.0.1:9/cron/home_cook"
    assert lunch.time_zone == "Europe/Paris"


def cloudtasks_emulator_scheduler(emulator: EmulatorProcess) -> Any:
    import grpc
    from google.cloud import scheduler_v1
    from google.cloud.scheduler_v1.services.cloud_scheduler.transports import (
        CloudSchedulerGrpcTransport,
    )

    channel = grpc.insecure_channel(emulator.grpc_target)
    return scheduler_v1.CloudSchedulerClient(transport=CloudSchedulerGrpcTransport(channel=channel))


def test_pytest_block_passes(tmp_path: Path) -> None:
    [code] = [c for c in _blocks("python") if c.startswith("# test_")]
    test_file = tmp_path / code.splitlines()[0].removeprefix("# ").strip()
    test_file.write_text(code)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test_file)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_yaml_blocks_are_valid_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    prod, dead_letters = _blocks("yaml")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "prod.yaml").write_text(prod)
    settings = load_settings(env="prod", config_dir=tmp_path, location="us-central1")
    assert settings.queue_path("kitchen").endswith("/queues/kitchen-orders")
    assert settings.oidc is not None
    (tmp_path / "prod.yaml").write_text(dead_letters)
    settings = load_settings(env="prod", config_dir=tmp_path, location="us-central1")
    assert settings.queues["kitchen"].dead_letter == "kitchen-dead"
