"""The official Node.js clients (``@google-cloud/tasks``, ``@google-cloud/scheduler``) against
the emulator, over gRPC (grpc-js, a second gRPC implementation) and over their REST fallback:
``node/clients.cjs`` creates a queue, a task and a job, reads them back and runs the job; the
worker receives both. The packages are installed with npm into ``node/node_modules``
(git-ignored) on the first run."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloudtasks_kit.testing import EmulatorProcess
from tests.support import RecordingWorker

NODE = shutil.which("node")
NPM = shutil.which("npm")
pytestmark = pytest.mark.skipif(
    NODE is None or NPM is None, reason="node and npm are not installed"
)

HERE = Path(__file__).parent / "node"
PARENT = "projects/test-project/locations/us-central1"


@pytest.fixture(scope="module")
def node_clients() -> Path:
    """``node/`` with its packages installed (again whenever package.json changed)."""
    assert NPM is not None
    stamp = HERE / "node_modules" / ".installed"
    if not stamp.exists() or stamp.stat().st_mtime < (HERE / "package.json").stat().st_mtime:
        done = subprocess.run(
            [NPM, "install", "--no-audit", "--no-fund", "--no-package-lock"],
            cwd=HERE,
            capture_output=True,
            text=True,
            timeout=540,
        )
        assert done.returncode == 0, done.stderr
        stamp.touch()
    return HERE / "clients.cjs"


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorProcess]:
    with EmulatorProcess() as process:
        yield process


@pytest.mark.timeout(600)  # the first run installs the packages
@pytest.mark.parametrize("transport", ["grpc", "rest"])
def test_node_clients(
    node_clients: Path,
    emulator: EmulatorProcess,
    recorder: RecordingWorker,
    url: str,
    path: str,
    transport: str,
) -> None:
    assert NODE is not None
    port = emulator.port if transport == "grpc" else emulator.http_port
    suffix = uuid.uuid4().hex[:8]
    done = subprocess.run(
        [NODE, str(node_clients), transport, "127.0.0.1", str(port), PARENT, url, suffix],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    seen: dict[str, Any] = json.loads(done.stdout)

    queue = f"{PARENT}/queues/node-{suffix}"
    assert seen["created"] == "RUNNING"
    assert seen["queue"] == {"name": queue, "state": "PAUSED", "maxAttempts": 3}
    assert seen["task"] == {
        "name": f"{queue}/tasks/t-{suffix}",
        "view": "FULL",
        "httpRequest": {
            "url": f"{url}/task",
            "httpMethod": "PUT",
            "headers": {"X-Client": f"node-{transport}", "User-Agent": "Google-Cloud-Tasks"},
            "body": f"task over {transport}",
        },
    }
    assert queue in seen["queues"]
    job = f"{PARENT}/jobs/node-{suffix}"
    assert (seen["job"]["name"], seen["job"]["state"]) == (job, "ENABLED")
    # The next 07:00 in Kolkata is 01:30 UTC.
    assert int(seen["job"]["scheduleTime"]["seconds"]) % 86400 == 5400
    assert seen["job"]["httpTarget"]["body"] == f"job over {transport}"
    assert job in seen["jobs"]

    [task] = recorder.wait_for(f"{path}/task", 1)
    assert (task.method, task.body) == ("PUT", f"task over {transport}".encode())
    assert task.headers["x-client"] == f"node-{transport}"
    assert task.headers["x-cloudtasks-taskname"] == f"t-{suffix}"
    [run] = recorder.wait_for(f"{path}/job", 1)
    assert (run.method, run.body) == ("POST", f"job over {transport}".encode())
    assert run.headers["x-cloudscheduler-jobname"] == f"node-{suffix}"

    missing = seen["missing"]
    message = f"queue {PARENT}/queues/missing-{suffix} does not exist"
    if transport == "grpc":
        assert missing == {"code": 5, "message": f"5 NOT_FOUND: {message}"}
    else:
        # The REST fallback's HTTP client (gaxios) raises on the status and keeps the body.
        assert missing["code"] == 404
        assert json.loads(missing["message"])["error"] == {
            "code": 404,
            "message": message,
            "status": "NOT_FOUND",
            "details": [],
        }
