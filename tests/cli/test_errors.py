"""Every ``cloudtasks-kit`` failure is one line on stderr and an exit code, never a hang.

Each case runs the real command in a child process, from a project folder of its own, and
checks the line, the exit code (2: usage or configuration, 1: a failure at run time) and, where
the network is involved, that it ends within the RPC deadline plus a wide margin.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from cloudtasks_kit.testing import EmulatorProcess

# Far above any deadline used here: a busy machine must never fail these, a 10-minute retry
# loop always does.
MARGIN = 40.0
APP = "cliapp:app"
APP_SOURCE = """
from fastapi import APIRouter, FastAPI

from cloudtasks_kit import ScheduledRoute, scheduled

router = APIRouter(route_class=ScheduledRoute)


@router.post("/tick")
@scheduled(name="tick", schedule="*/5 * * * *")
async def tick() -> None: ...


app = FastAPI()
app.include_router(router, prefix="/v1")
"""


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def error(self) -> str:
        """The one line the command printed on stderr."""
        lines = self.stderr.splitlines()
        assert len(lines) == 1, self.stderr
        assert lines[0].startswith("error: "), self.stderr
        return lines[0]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder with an app and the settings of a local deployment."""
    (tmp_path / "cliapp.py").write_text(APP_SOURCE)
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "base.yaml").write_text(
        "project: cli-project\nlocation: us-central1\nbase_url: http://127.0.0.1:9\n"
        "default_queue: default\n"
    )
    (tmp_path / "config" / "dev.yaml").write_text("tracing: false\n")
    return tmp_path


def cli(project: Path, *args: str, **env: str) -> Run:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDTASKS_")}
    environment.update(env)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "cloudtasks_kit.cli", *args],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return Run(done.returncode, done.stdout, done.stderr, time.monotonic() - started)


def closed_port() -> int:
    """A loopback port nothing listens on (it was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize(
    "command",
    [
        ("schedules", "sync", APP, "--dry-run"),
        ("queues", "sync"),
        ("queues", "sync", "--dry-run"),
        ("queues", "list"),
        ("tasks", "list", "default"),
    ],
    ids=" ".join,
)
def test_an_emulator_that_is_not_running_is_named_within_the_deadline(
    project: Path, command: tuple[str, ...]
) -> None:
    host = f"127.0.0.1:{closed_port()}"

    run = cli(project, *command, CLOUDTASKS_EMULATOR_HOST=host)

    assert run.code == 1
    assert f"is `cloudtasks-kit emulator` running on {host}?" in run.error
    # The default deadline against the emulator: 5 s, where Google's client retried for 600.
    assert run.seconds < 5 + MARGIN


def test_the_deadline_comes_from_the_settings(project: Path) -> None:
    host = f"127.0.0.1:{closed_port()}"

    run = cli(project, "queues", "sync", CLOUDTASKS_EMULATOR_HOST=host, CLOUDTASKS_RPC_TIMEOUT="1")

    assert run.code == 1
    assert f"cannot reach the Cloud Tasks emulator at {host}" in run.error
    assert run.seconds < 1 + MARGIN


def test_debug_shows_the_traceback(project: Path) -> None:
    host = f"127.0.0.1:{closed_port()}"

    quick = {"CLOUDTASKS_EMULATOR_HOST": host, "CLOUDTASKS_RPC_TIMEOUT": "0.5"}
    run = cli(project, "--debug", "queues", "sync", **quick)
    after = cli(project, "queues", "sync", "-v", **quick)

    for each in (run, after):
        assert each.code == 1
        assert "Traceback (most recent call last)" in each.stderr
        assert each.stderr.rstrip().splitlines()[-1].startswith("error: cannot reach")


def test_without_credentials_google_is_not_tried(project: Path, tmp_path: Path) -> None:
    run = cli(
        project,
        "queues",
        "sync",
        "--dry-run",
        GOOGLE_APPLICATION_CREDENTIALS=str(tmp_path / "missing-key.json"),
        CLOUDSDK_CONFIG=str(tmp_path / "no-gcloud"),
        GCE_METADATA_HOST="127.0.0.1:9",
    )

    assert run.code == 2
    assert "no Google credentials for Cloud Tasks" in run.error
    assert "gcloud auth application-default login" in run.error
    assert "CLOUDTASKS_EMULATOR_HOST" in run.error


def test_an_environment_without_its_file_lists_the_files(project: Path) -> None:
    host = f"127.0.0.1:{closed_port()}"

    run = cli(project, "queues", "sync", CLOUDTASKS_ENV="staging", CLOUDTASKS_EMULATOR_HOST=host)

    assert run.code == 2
    assert "CLOUDTASKS_ENV='staging'" in run.error
    assert "config holds base.yaml, dev.yaml" in run.error
    assert "set CLOUDTASKS_ENV to one of dev or create config/staging.yaml" in run.error


def test_a_typo_in_dot_env_stops_the_command_before_any_call(project: Path) -> None:
    (project / ".env").write_text("CLOUDTASKS_PROJEKT=typo\n")
    # No emulator anywhere: only a check before any RPC can answer this fast and this way.
    host = f"127.0.0.1:{closed_port()}"

    run = cli(project, "queues", "sync", CLOUDTASKS_EMULATOR_HOST=host)

    assert run.code == 2
    assert run.stderr.startswith("error: invalid settings (1 error):\n")
    assert "projekt (from CLOUDTASKS_PROJEKT in .env): unknown key; did you mean 'project'?" in (
        run.stderr
    )
    assert "Traceback" not in run.stderr


def test_malformed_yaml_is_its_message_alone(project: Path) -> None:
    (project / "config" / "base.yaml").write_text("project: p\nqueues:\n  a: [1\n  b: 2\n")

    run = cli(project, "queues", "sync")

    assert run.code == 2
    assert run.error.startswith("error: config/base.yaml: not valid YAML at line 4, column ")


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("nowhere:app", "no module named 'nowhere' (from 'nowhere:app')"),
        ("cliapp:nothing", "module cliapp has no attribute 'nothing'"),
        ("cliapp", "expected MODULE:ATTRIBUTE"),
    ],
)
def test_an_app_that_cannot_be_loaded(project: Path, spec: str, expected: str) -> None:
    run = cli(project, "schedules", "sync", spec, "--dry-run")

    assert run.code == 2
    assert expected in run.error


def test_version_and_defaults_in_the_help(project: Path) -> None:
    version = cli(project, "--version")
    sub = cli(project, "emulator", "--version")
    helped = cli(project, "emulator", "--help")

    assert version.code == sub.code == helped.code == 0
    assert version.stdout.startswith("cloudtasks-kit ")
    assert sub.stdout == version.stdout
    assert "(default: 8123)" in helped.stdout
    assert "(default: 127.0.0.1)" in helped.stdout


def test_a_usage_error_exits_2(project: Path) -> None:
    run = cli(project, "queues", "sync", "--no-such-flag")

    assert run.code == 2
    assert "error: unrecognized arguments: --no-such-flag" in run.stderr


# --- the emulator names what failed ------------------------------------------------------------


def test_a_second_emulator_names_the_port_and_the_flag(project: Path) -> None:
    with EmulatorProcess() as first:
        taken = first.port
        grpc = cli(project, "emulator", "--port", str(taken), "--http-port", str(closed_port()))
        http = cli(project, "emulator", "--port", str(closed_port()), "--http-port", str(taken))

    assert grpc.code == http.code == 1
    assert grpc.error.startswith(
        f"error: cannot listen on 127.0.0.1:{taken} (the gRPC port, --port)"
    )
    assert http.error.startswith(
        f"error: cannot listen on 127.0.0.1:{taken} (the HTTP port, --http-port)"
    )
    assert "--port 0" in grpc.error


def test_an_unusable_data_path_names_the_path_and_the_flag(project: Path) -> None:
    blocker = project / "not-a-folder"
    blocker.write_text("")  # a file where the state's folder should be: fails even for root
    data = blocker / "state.sqlite"

    run = cli(project, "emulator", "--port", "0", "--data", str(data))

    assert run.code == 1
    assert run.error.startswith(f"error: cannot open the state file {data} (--data): ")
