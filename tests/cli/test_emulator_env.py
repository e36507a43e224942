"""``cloudtasks-kit emulator env``: shell lines that point the kit and gcloud at the emulator,
checked by evaluating them and calling a running emulator through each."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloudtasks_kit.cli import main
from cloudtasks_kit.testing import EmulatorProcess


def test_defaults_are_the_emulators(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["emulator", "env"]) == 0
    exports = dict(
        line.removeprefix("export ").split("=", 1)
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("export ")
    )
    assert exports == {
        "CLOUDTASKS_EMULATOR_HOST": "127.0.0.1:8123",
        "CLOUDTASKS_EMULATOR_HTTP_HOST": "127.0.0.1:8124",
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDTASKS": "http://127.0.0.1:8124/",
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDSCHEDULER": "http://127.0.0.1:8124/",
        "CLOUDSDK_AUTH_ACCESS_TOKEN": "emulator",
    }


def test_ports_of_zero_are_refused() -> None:
    with pytest.raises(SystemExit, match="not 0"):
        main(["emulator", "env", "--port", "0"])


GCLOUD = shutil.which("gcloud")
QUEUE = "projects/env-project/locations/us-central1/queues/q"
# What reads the variables: the kit over REST, and gcloud.
KIT = (
    "from cloudtasks_kit import Container;"
    "c = Container().tasks_client();"
    f"q = c.update_queue(queue={{'name': '{QUEUE}'}});"
    "print(c.transport.kind, q.name)"
)


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorProcess]:
    with EmulatorProcess() as process:
        yield process


@pytest.mark.parametrize(
    "reader",
    [
        pytest.param(f'CLOUDTASKS_TRANSPORT=rest {sys.executable} -c "{KIT}"', id="kit"),
        pytest.param(
            f"{GCLOUD} tasks queues list --location=us-central1 --format='json(name)'",
            id="gcloud",
            marks=pytest.mark.skipif(GCLOUD is None, reason="gcloud is not installed"),
        ),
    ],
)
def test_evaluated_lines_reach_a_running_emulator(
    emulator: EmulatorProcess, tmp_path: Path, reader: str
) -> None:
    env = f"{sys.executable} -m cloudtasks_kit.cli emulator env"
    script = f"""
        set -e
        eval "$({env} --port {emulator.port} --http-port {emulator.http_port})"
        {reader}
    """
    emulator.tasks_client().update_queue(queue={"name": QUEUE})
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=tmp_path,  # no .env or config/ of the repository
        env={
            "PATH": os.environ["PATH"],
            "HOME": str(tmp_path),
            "CLOUDSDK_CONFIG": str(tmp_path / "gcloud"),
            "CLOUDSDK_CORE_PROJECT": "env-project",
            "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
            "CLOUDSDK_CORE_DISABLE_USAGE_REPORTING": "1",
            "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "1",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    if reader.startswith("CLOUDTASKS_TRANSPORT"):
        assert done.stdout.split() == ["rest", QUEUE]
    else:
        assert json.loads(done.stdout) == [{"name": QUEUE}]
