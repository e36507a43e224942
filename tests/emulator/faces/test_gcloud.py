"""gcloud, a REST client nobody here wrote, against the emulator: ``gcloud tasks`` and
``gcloud scheduler`` with nothing but the endpoint overrides and a fake token, each command
checked by its ``--format=json`` output, and dispatches by what a real worker received.

gcloud takes a second or two to start, so each resource kind is one compact sequence, and
states gcloud prints nothing for (pause, resume) are read back with the Python client.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from google.api_core import exceptions

from cloudtasks_kit.testing import EmulatorProcess
from tests.support import RecordingWorker, emulator_rpcs

GCLOUD = shutil.which("gcloud")
pytestmark = pytest.mark.skipif(GCLOUD is None, reason="gcloud is not installed")

PROJECT = "test-project"
LOCATION = "us-central1"
PARENT = f"projects/{PROJECT}/locations/{LOCATION}"
ACCOUNT = "tasks@test-project.iam.gserviceaccount.com"


class Gcloud:
    """Runs gcloud against the emulator, in a configuration directory of its own."""

    def __init__(self, emulator: EmulatorProcess, config: Path) -> None:
        endpoint = f"{emulator.http_url}/"
        self.environment = {
            **os.environ,
            "CLOUDSDK_CONFIG": str(config),
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDTASKS": endpoint,
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDSCHEDULER": endpoint,
            "CLOUDSDK_AUTH_ACCESS_TOKEN": "fake",
            "CLOUDSDK_CORE_PROJECT": PROJECT,
            "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
            "CLOUDSDK_CORE_DISABLE_USAGE_REPORTING": "1",
            "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "1",
            "CLOUDSDK_SURVEY_DISABLE_PROMPTS": "1",
        }

    def run(self, *arguments: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        assert GCLOUD is not None
        done = subprocess.run(
            [GCLOUD, *arguments, f"--location={LOCATION}", "--format=json"],
            env=self.environment,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if check:
            assert done.returncode == 0, f"gcloud {' '.join(arguments)}: {done.stderr}"
        return done

    def json(self, *arguments: str) -> Any:
        return json.loads(self.run(*arguments).stdout)


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorProcess]:
    with EmulatorProcess() as process:
        yield process


@pytest.fixture(scope="module")
def gcloud(emulator: EmulatorProcess, tmp_path_factory: pytest.TempPathFactory) -> Gcloud:
    return Gcloud(emulator, tmp_path_factory.mktemp("gcloud-config"))


def _claims(emulator: EmulatorProcess, authorization: str, audience: str) -> dict[str, Any]:
    scheme, token = authorization.split(" ", 1)
    assert scheme == "Bearer"
    keys = jwt.PyJWKClient(f"{emulator.http_url}/oauth2/v3/certs")
    key = keys.get_signing_key_from_jwt(token).key
    claims: dict[str, Any] = jwt.decode(
        token, key, algorithms=["RS256"], audience=audience, issuer=emulator.http_url
    )
    return claims


def _rfc3339(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_gcloud_tasks(
    gcloud: Gcloud, emulator: EmulatorProcess, recorder: RecordingWorker, url: str, path: str
) -> None:
    client = emulator.tasks_client()
    before = emulator_rpcs(emulator.http_url)
    queue_id = f"gq-{uuid.uuid4().hex[:8]}"
    queue = f"{PARENT}/queues/{queue_id}"

    created = gcloud.json("tasks", "queues", "create", queue_id, "--max-attempts=7")
    assert (created["name"], created["state"], created["retryConfig"]["maxAttempts"]) == (
        queue,
        "RUNNING",
        7,
    )
    assert gcloud.json("tasks", "queues", "describe", queue_id) == created
    assert queue in [each["name"] for each in gcloud.json("tasks", "queues", "list")]
    updated = gcloud.json(
        "tasks",
        "queues",
        "update",
        queue_id,
        "--max-dispatches-per-second=5",
        "--min-backoff=0.5s",
    )
    assert updated["rateLimits"]["maxDispatchesPerSecond"] == 5
    assert updated["retryConfig"]["minBackoff"] == "0.500s"
    assert updated["retryConfig"]["maxAttempts"] == 7  # not in the update: kept
    gcloud.run("tasks", "queues", "pause", queue_id)
    assert client.get_queue(name=queue).state.name == "PAUSED"
    gcloud.run("tasks", "queues", "resume", queue_id)
    assert client.get_queue(name=queue).state.name == "RUNNING"

    due = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    task = gcloud.json(
        "tasks",
        "create-http-task",
        "dinner",
        f"--queue={queue_id}",
        f"--url={url}",
        "--method=PUT",
        "--header=X-Dish:dal",
        "--body-content=hello",
        f"--schedule-time={_rfc3339(due)}",
        f"--oidc-service-account-email={ACCOUNT}",
    )
    name = f"{queue}/tasks/dinner"
    assert task["name"] == name
    assert task["scheduleTime"] == _rfc3339(due)
    assert task["httpRequest"]["httpMethod"] == "PUT"
    assert task["httpRequest"]["headers"]["X-Dish"] == "dal"
    assert base64.b64decode(task["httpRequest"]["body"]) == b"hello"
    assert task["httpRequest"]["oidcToken"]["serviceAccountEmail"] == ACCOUNT

    spare = client.create_task(
        parent=queue,
        task={"name": f"{queue}/tasks/spare", "http_request": {"url": url}, "schedule_time": due},
    )
    listed = gcloud.json("tasks", "list", f"--queue={queue_id}")
    assert sorted(each["name"] for each in listed) == [name, spare.name]
    described = gcloud.json("tasks", "describe", "dinner", f"--queue={queue_id}")
    assert (described["view"], described["scheduleTime"]) == ("BASIC", _rfc3339(due))
    full = gcloud.json("tasks", "describe", "dinner", f"--queue={queue_id}", "--response-view=full")
    assert full["view"] == "FULL"

    gcloud.run("tasks", "run", "dinner", f"--queue={queue_id}")
    [received] = recorder.wait_for(path, 1)
    assert (received.method, received.body) == ("PUT", b"hello")
    assert received.headers["x-dish"] == "dal"
    assert received.headers["x-cloudtasks-taskname"] == "dinner"
    assert received.headers["x-cloudtasks-queuename"] == queue_id
    assert _claims(emulator, received.headers["authorization"], url)["email"] == ACCOUNT

    gcloud.run("tasks", "delete", "spare", f"--queue={queue_id}")
    with pytest.raises(exceptions.NotFound, match="deleted recently"):
        client.get_task(name=spare.name)

    client.pause_queue(name=queue)
    client.create_task(parent=queue, task={"http_request": {"url": url}})
    gcloud.run("tasks", "queues", "purge", queue_id)
    assert list(client.list_tasks(parent=queue)) == []
    assert client.get_queue(name=queue).purge_time

    gcloud.run("tasks", "queues", "delete", queue_id)
    missing = gcloud.run("tasks", "queues", "describe", queue_id, check=False)
    assert missing.returncode != 0
    assert f"NOT_FOUND: queue {queue} does not exist" in missing.stderr
    # Only the task run above was sent: the purged task never reached the worker.
    assert recorder.count(path) == 1
    # gcloud's calls are the emulator's RPCs, counted under the same names as gRPC's.
    after = emulator_rpcs(emulator.http_url)
    assert after["RunTask"] - before.get("RunTask", 0) == 1
    assert after["PurgeQueue"] - before.get("PurgeQueue", 0) == 1


def test_gcloud_scheduler_jobs(
    gcloud: Gcloud, emulator: EmulatorProcess, recorder: RecordingWorker, url: str, path: str
) -> None:
    client = emulator.scheduler_client()
    job_id = f"gj-{uuid.uuid4().hex[:8]}"
    name = f"{PARENT}/jobs/{job_id}"

    created = gcloud.json(
        "scheduler",
        "jobs",
        "create",
        "http",
        job_id,
        "--schedule=0 7 * * *",
        "--time-zone=Asia/Kolkata",
        f"--uri={url}",
        "--http-method=PUT",
        "--headers=X-Meal=breakfast",
        "--message-body=cereal",
        "--max-retry-attempts=2",
        f"--oidc-service-account-email={ACCOUNT}",
    )
    assert (created["name"], created["state"], created["schedule"]) == (
        name,
        "ENABLED",
        "0 7 * * *",
    )
    assert created["timeZone"] == "Asia/Kolkata"
    assert created["httpTarget"]["httpMethod"] == "PUT"
    assert created["httpTarget"]["headers"]["X-Meal"] == "breakfast"
    assert base64.b64decode(created["httpTarget"]["body"]) == b"cereal"
    assert created["retryConfig"]["retryCount"] == 2
    # The next 07:00 in Kolkata (01:30 UTC).
    assert created["scheduleTime"].endswith("T01:30:00Z")
    assert gcloud.json("scheduler", "jobs", "describe", job_id) == created
    assert name in [each["name"] for each in gcloud.json("scheduler", "jobs", "list")]

    updated = gcloud.json(
        "scheduler",
        "jobs",
        "update",
        "http",
        job_id,
        "--schedule=30 12 * * *",
        "--description=lunch",
    )
    assert (updated["schedule"], updated["description"]) == ("30 12 * * *", "lunch")
    assert updated["scheduleTime"].endswith("T07:00:00Z")
    assert updated["httpTarget"] == created["httpTarget"]  # not in the update: kept

    gcloud.run("scheduler", "jobs", "pause", job_id)
    assert client.get_job(name=name).state.name == "PAUSED"
    gcloud.run("scheduler", "jobs", "resume", job_id)
    assert client.get_job(name=name).state.name == "ENABLED"

    gcloud.run("scheduler", "jobs", "run", job_id)
    [received] = recorder.wait_for(path, 1)
    assert (received.method, received.body) == ("PUT", b"cereal")
    assert received.headers["x-meal"] == "breakfast"
    assert received.headers["x-cloudscheduler"] == "true"
    assert received.headers["x-cloudscheduler-jobname"] == job_id
    assert _claims(emulator, received.headers["authorization"], url)["email"] == ACCOUNT

    gcloud.run("scheduler", "jobs", "delete", job_id)
    missing = gcloud.run("scheduler", "jobs", "describe", job_id, check=False)
    assert missing.returncode != 0
    assert f"NOT_FOUND: job {name} does not exist" in missing.stderr
