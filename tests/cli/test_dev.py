"""``cloudtasks-kit dev``: the whole local loop from one command, stopped whole by Ctrl-C."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cloudtasks_kit.cli._dev import STATE_DIR, _prepare_state
from tests.support import wait_until

ROOT = Path(__file__).resolve().parents[2]


class Output:
    """The dev command's merged output, line by line; tests wait on it, never sleep."""

    def __init__(self, stream: object) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self.reader = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.reader.start()

    def _read(self, stream: object) -> None:
        with stream:  # type: ignore[attr-defined]
            for line in stream:  # type: ignore[attr-defined]
                with self._changed:
                    self.lines.append(line.rstrip("\n"))
                    self._changed.notify_all()

    def wait_for(self, text: str, timeout: float = 90.0) -> str:
        with self._changed:
            found = self._changed.wait_for(
                lambda: any(text in line for line in self.lines), timeout
            )
            assert found, f"no line with {text!r} within {timeout}s:\n" + "\n".join(self.lines)
            return next(line for line in self.lines if text in line)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: set[int] = set()
    pending = [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            found.add(child)
            pending.append(child)
    return found


def _running(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has stopped; only its parent's wait is missing


@contextlib.contextmanager
def _dev_command(
    app: str, cwd: Path, state: Path
) -> Iterator[tuple[subprocess.Popen[str], Output, int]]:
    """``cloudtasks-kit dev APP`` run from ``cwd``, its output read line by line; stopped (and
    its children with it) if the test leaves it running."""
    port = _free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDTASKS_")}
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "cloudtasks_kit.cli", "dev", app),
            *("--port", str(port), "--emulator-port", "0"),
            *("--data", str(state / "emulator.sqlite")),
        ],
        cwd=cwd,
        env={**environment, "PYTHONUNBUFFERED": "1"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = Output(process.stdout)
    try:
        yield process, output, port
    finally:
        if process.poll() is None:  # the test failed half-way: let it stop its children
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        output.reader.join(timeout=30)  # it closes the pipe at its end


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Output, int]]:
    # The README's way: from the clone, with its config/.
    with _dev_command("examples.simple.app:app", ROOT, tmp_path / "state") as running:
        yield running


def test_one_command_runs_a_protected_task_and_ctrl_c_stops_everything(
    dev: tuple[subprocess.Popen[str], Output, int],
) -> None:
    process, output, port = dev
    base = f"http://127.0.0.1:{port}"
    output.wait_for("[dev] ready")
    emulator = output.wait_for("[dev] emulator ")

    triggered = httpx.get(f"{base}/trigger", trust_env=False, timeout=30)
    anonymous = httpx.post(f"{base}/tasks/hello", trust_env=False, timeout=30)

    assert triggered.status_code == 200
    assert "/queues/default/tasks/" in triggered.json()["task"]
    # The task ran through verify_task_caller: a call without the emulator's token cannot.
    output.wait_for("hello ran with payload: Triggered task")
    assert anonymous.status_code == 401
    assert any("queues sync: created" in line for line in output.lines)
    assert any("jobs sync: created" in line and "/jobs/home-cook" in line for line in output.lines)
    assert f"[dev] app       {base}" in "\n".join(output.lines)
    assert "OIDC issuer" in emulator
    console = output.wait_for("[dev] console ").split()[-1]
    page = httpx.get(console, trust_env=False, timeout=30)
    assert page.status_code == 200
    assert "/queues/default" in page.text  # the queue the dev command synced, in the console

    children = _descendants(process.pid)
    assert len(children) >= 2  # the emulator, uvicorn (and its worker)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 0
    output.wait_for("[dev] stopped")
    wait_until(lambda: not any(_running(pid) for pid in children), timeout=30)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base}/trigger", trust_env=False, timeout=5)


def test_the_state_folder_ignores_itself_in_git(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    _prepare_state(STATE_DIR / "emulator.sqlite")
    _prepare_state(STATE_DIR / "emulator.sqlite")  # again: left as it is

    ignore = tmp_path / ".cloudtasks" / ".gitignore"
    assert ignore.read_text().splitlines()[-1] == "*"
    git = subprocess.run(
        ["git", "check-ignore", "-q", ".cloudtasks/emulator.sqlite"],
        cwd=tmp_path,
        check=False,
        capture_output=True,
    )
    if git.returncode == 128:  # not a repository: make it one, as a project would be
        subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
        git = subprocess.run(
            ["git", "check-ignore", "-q", ".cloudtasks/emulator.sqlite"], cwd=tmp_path, check=False
        )
    assert git.returncode == 0


_JOB = """

@jobs.post("/{name}")
@scheduled(name="{name}", schedule="{schedule}")
async def {name}() -> None:
    pass
"""
_APP = """
from fastapi import APIRouter, FastAPI

from cloudtasks_kit import Container, ScheduledRoute, scheduled

jobs = APIRouter(route_class=ScheduledRoute, prefix="/jobs")
{jobs}

app = FastAPI()
app.include_router(jobs)
container = Container()
container.bind_app(app)
"""


def test_a_job_added_while_it_runs_is_synced_on_save(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "nightly").mkdir(parents=True)
    (project / "nightly" / "__init__.py").write_text("")
    module = project / "nightly" / "app.py"
    first = _JOB.format(name="first", schedule="0 7 * * *")
    module.write_text(_APP.format(jobs=first))

    with _dev_command("nightly.app:app", project, tmp_path / "state") as (process, output, _):
        output.wait_for("[dev] ready")
        assert any("jobs sync: created" in line and "/jobs/first" in line for line in output.lines)

        second = _JOB.format(name="second", schedule="*/5 * * * *")
        module.write_text(_APP.format(jobs=first + second))

        output.wait_for("[dev] files changed: syncing queues and schedules again")
        created = output.wait_for("/jobs/second")
        assert "jobs sync: created" in created
        output.wait_for("schedule: '*/5 * * * *'")
        # Only what changed is said: the first job is neither re-created nor listed again.
        after = output.lines[output.lines.index(created) - 1 :]
        assert not any("/jobs/first" in line for line in after)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
