"""What a worker receives from a job run (RunJob), and how failed attempts are retried."""

from __future__ import annotations

import itertools
import socket
import time
from datetime import datetime
from typing import Any

import httpx
import jwt
import pytest
from google.cloud import scheduler_v1

from cloudtasks_kit.testing import EmulatorProcess
from tests.emulator.scheduler.conftest import JobFactory
from tests.support import RecordingWorker, Reply, wait_until

INTERNAL, UNAVAILABLE = 13, 14


def _status(client: Any, name: str) -> Any:
    return client.get_job(name=name).status


def _succeeded(client: Any, name: str) -> bool:
    """The last attempt ended with a 2xx (``status`` is written when an attempt ends)."""
    job = client.get_job(name=name)
    return "status" in job and job.status.code == 0


def _logged(emulator: EmulatorProcess, *parts: str) -> bool:
    return any(all(part in line for part in parts) for line in list(emulator.log_lines))


def test_worker_receives_method_headers_and_body(
    client: Any, make_job: JobFactory, recorder: RecordingWorker, url: str, path: str
) -> None:
    job = make_job(
        url + "?x=1",
        method="PUT",
        body=b'{"dish": "pav bhaji"}',
        headers={"Content-Type": "application/json", "X-Request-Id": "r-1"},
    )
    before = time.time()
    client.run_job(name=job.name)
    [received] = recorder.wait_for(path, 1)
    assert received.method == "PUT"
    assert received.query == "x=1"
    assert received.body == b'{"dish": "pav bhaji"}'
    headers = received.headers
    assert headers["content-type"] == "application/json"
    assert headers["x-request-id"] == "r-1"
    assert headers["user-agent"] == "Google-Cloud-Scheduler"
    assert headers["x-cloudscheduler"] == "true"
    assert headers["x-cloudscheduler-jobname"] == job.name.rsplit("/", 1)[1]
    stamp = headers["x-cloudscheduler-scheduletime"]
    assert stamp.endswith("Z")
    assert datetime.fromisoformat(stamp).timestamp() >= before - 1
    assert "authorization" not in headers
    wait_until(lambda: _succeeded(client, job.name))
    assert client.get_job(name=job.name).last_attempt_time.timestamp() >= before - 1


def test_body_without_content_type_is_octet_stream(
    client: Any, make_job: JobFactory, recorder: RecordingWorker, url: str, path: str
) -> None:
    client.run_job(name=make_job(url, body=b"\x00\x01").name)
    [received] = recorder.wait_for(path, 1)
    assert received.headers["content-type"] == "application/octet-stream"
    assert received.body == b"\x00\x01"


def test_run_job_runs_a_paused_job(
    client: Any, make_job: JobFactory, recorder: RecordingWorker, url: str, path: str
) -> None:
    job = make_job(url, paused=True)
    assert client.run_job(name=job.name).state == scheduler_v1.Job.State.PAUSED
    recorder.wait_for(path, 1)


def _verify(emulator: EmulatorProcess, token: str, audience: str) -> dict[str, Any]:
    discovery = httpx.get(f"{emulator.http_url}/.well-known/openid-configuration").json()
    keys = jwt.PyJWKClient(discovery["jwks_uri"])
    key = keys.get_signing_key_from_jwt(token)
    claims: dict[str, Any] = jwt.decode(
        token, key.key, algorithms=["RS256"], audience=audience, issuer=discovery["issuer"]
    )
    return claims


@pytest.mark.parametrize("audience", ["https://my-worker.example", None])
def test_oidc_token_verifies_against_served_jwks(
    emulator: EmulatorProcess,
    client: Any,
    make_job: JobFactory,
    recorder: RecordingWorker,
    url: str,
    path: str,
    audience: str | None,
) -> None:
    account = "scheduler@test-project.iam.gserviceaccount.com"
    oidc = scheduler_v1.OidcToken(service_account_email=account, audience=audience or "")
    client.run_job(name=make_job(url, oidc=oidc).name)
    [received] = recorder.wait_for(path, 1)
    scheme, token = received.headers["authorization"].split(" ", 1)
    assert scheme == "Bearer"
    claims = _verify(emulator, token, audience or url)
    assert claims["email"] == account
    assert claims["iat"] <= time.time() + 1 < claims["exp"]
    with pytest.raises(jwt.InvalidAudienceError):
        _verify(emulator, token, "https://someone-else.example")


def test_failed_attempts_are_retried_with_backoff_within_the_run(
    client: Any, make_job: JobFactory, recorder: RecordingWorker, url: str, path: str
) -> None:
    recorder.script(path, Reply(500), Reply(503), Reply(404), Reply(200))
    job = make_job(url, retry_count=3, min_backoff=0.1, max_backoff=0.25, max_doublings=5)
    client.run_job(name=job.name)
    received = recorder.wait_for(path, 4)
    # One run: every attempt carries the run's schedule time.
    assert len({r.headers["x-cloudscheduler-scheduletime"] for r in received}) == 1
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(received)]
    for gap, backoff in zip(gaps, [0.1, 0.2, 0.25], strict=True):
        assert gap >= backoff - 0.02
    wait_until(lambda: _succeeded(client, job.name))


def test_retries_stop_after_retry_count(
    emulator: EmulatorProcess,
    client: Any,
    make_job: JobFactory,
    recorder: RecordingWorker,
    url: str,
    path: str,
) -> None:
    recorder.script(path, *[Reply(500)] * 5)
    job = make_job(url, retry_count=1, min_backoff=0.05, max_backoff=0.05)
    client.run_job(name=job.name)
    recorder.wait_for(path, 2)
    wait_until(lambda: _logged(emulator, job.name, "attempt=2", "giving up"))
    assert recorder.count(path) == 2
    status = _status(client, job.name)
    assert (status.code, status.message) == (INTERNAL, "HTTP 500")


def test_no_retry_by_default(
    emulator: EmulatorProcess,
    client: Any,
    make_job: JobFactory,
    recorder: RecordingWorker,
    url: str,
    path: str,
) -> None:
    recorder.script(path, Reply(500), Reply(500))
    job = make_job(url)
    client.run_job(name=job.name)
    recorder.wait_for(path, 1)
    wait_until(lambda: _logged(emulator, job.name, "attempt=1", "giving up"))
    assert recorder.count(path) == 1


def test_attempt_deadline_cuts_a_slow_attempt_and_it_is_retried(
    emulator: EmulatorProcess,
    client: Any,
    make_job: JobFactory,
    recorder: RecordingWorker,
    url: str,
    path: str,
) -> None:
    recorder.script(path, Reply(delay=5.0), Reply(200))
    job = make_job(url, attempt_deadline=0.5, retry_count=1, min_backoff=0.05)
    client.run_job(name=job.name)
    recorder.wait_for(path, 2)
    assert _logged(emulator, job.name, "deadline exceeded", "retry in")
    wait_until(lambda: _succeeded(client, job.name))


def test_unreachable_target_is_reported_in_status(
    emulator: EmulatorProcess, client: Any, make_job: JobFactory
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    job = make_job(f"http://127.0.0.1:{port}/gone", retry_count=1, min_backoff=0.05)
    client.run_job(name=job.name)
    wait_until(lambda: _logged(emulator, job.name, "attempt=2", "giving up"))
    status = _status(client, job.name)
    assert status.code == UNAVAILABLE
    assert "no response" in status.message


@pytest.mark.parametrize("how", ["delete", "pause"])
def test_deleting_or_pausing_a_job_stops_its_retries(
    emulator: EmulatorProcess,
    client: Any,
    make_job: JobFactory,
    recorder: RecordingWorker,
    url: str,
    path: str,
    how: str,
) -> None:
    recorder.script(path, *[Reply(500)] * 5)
    job = make_job(url, retry_count=5, min_backoff=0.3, max_backoff=0.3)
    client.run_job(name=job.name)
    recorder.wait_for(path, 1)
    if how == "delete":
        client.delete_job(name=job.name)
        wait_until(lambda: _logged(emulator, job.name, "deleted, its retries stop"))
    else:
        client.pause_job(name=job.name)
        wait_until(lambda: _logged(emulator, job.name, "paused, its retries stop"))
    assert recorder.count(path) == 1
