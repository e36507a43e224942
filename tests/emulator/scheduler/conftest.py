from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from google.api_core import exceptions
from google.cloud import scheduler_v1

from cloudtasks_kit.testing import EmulatorProcess
from tests.emulator.clients import TRANSPORTS, Transport

PARENT = "projects/test-project/locations/us-central1"
# A schedule that does not come due while the tests run (unless a test advances the clock).
YEARLY = "0 0 1 1 *"
# Attempt deadlines below Google's 15 s floor keep deadline tests fast.
EMULATOR_ARGS = ["--min-attempt-deadline", "0.5", "--log-level", "INFO"]


def scheduler_client(emulator: EmulatorProcess, transport: Transport = "grpc") -> Any:
    """The official client, with no credentials: gRPC on an insecure channel, or REST."""
    return emulator.scheduler_client(transport)


def http_job(
    url: str,
    *,
    name: str = "",
    schedule: str = YEARLY,
    time_zone: str = "",
    method: str = "POST",
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    retry_count: int = 0,
    min_backoff: float | None = None,
    max_backoff: float | None = None,
    max_doublings: int = 0,
    attempt_deadline: float | None = None,
    oidc: scheduler_v1.OidcToken | None = None,
) -> scheduler_v1.Job:
    job = scheduler_v1.Job(
        name=name,
        schedule=schedule,
        time_zone=time_zone,
        http_target=scheduler_v1.HttpTarget(
            uri=url, http_method=method, body=body, headers=headers or {}, oidc_token=oidc
        ),
        retry_config=scheduler_v1.RetryConfig(
            retry_count=retry_count,
            max_doublings=max_doublings,
            min_backoff_duration=_duration(min_backoff),
            max_backoff_duration=_duration(max_backoff),
        ),
    )
    if attempt_deadline is not None:
        job.attempt_deadline = timedelta(seconds=attempt_deadline)
    return job


def _duration(seconds: float | None) -> timedelta | None:
    return None if seconds is None else timedelta(seconds=seconds)


def job_id() -> str:
    return f"job-{uuid.uuid4().hex[:12]}"


def schedule_header(seconds: float) -> str:
    """X-CloudScheduler-ScheduleTime for a whole-second time: RFC 3339, UTC, 'Z'."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def emulator_now(emulator: EmulatorProcess) -> float:
    now: float = httpx.get(f"{emulator.http_url}/admin/clock", timeout=10).json()["now"]
    return now


def advance_to(emulator: EmulatorProcess, when: float) -> None:
    """Move the emulator's clock to ``when`` (epoch seconds), if it is not there yet."""
    seconds = when - emulator_now(emulator)
    if seconds > 0:
        response = httpx.post(
            f"{emulator.http_url}/admin/clock/advance", json={"seconds": seconds}, timeout=10
        )
        response.raise_for_status()


JobFactory = Callable[..., Any]


def _job_factory(client: Any, parent: str = PARENT) -> Iterator[JobFactory]:
    created: list[str] = []

    def make(url: str, *, paused: bool = False, **options: Any) -> Any:
        options.setdefault("name", f"{parent}/jobs/{job_id()}")
        job = client.create_job(parent=parent, job=http_job(url, **options))
        created.append(job.name)
        if paused:
            job = client.pause_job(name=job.name)
        return job

    yield make
    for name in created:
        with contextlib.suppress(exceptions.NotFound):
            client.delete_job(name=name)


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmulatorProcess]:
    with EmulatorProcess(args=EMULATOR_ARGS) as process:
        yield process


@pytest.fixture(scope="session", params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> Transport:
    """Each test that uses the client runs over gRPC and over REST."""
    name: Transport = request.param
    return name


@pytest.fixture(scope="session")
def client(emulator: EmulatorProcess, transport: Transport) -> Any:
    return scheduler_client(emulator, transport)


@pytest.fixture
def make_job(client: Any) -> Iterator[JobFactory]:
    yield from _job_factory(client)


@pytest.fixture(scope="module")
def clock_emulator() -> Iterator[EmulatorProcess]:
    """An emulator of the module's own: advancing its clock makes every job in it due."""
    with EmulatorProcess(args=EMULATOR_ARGS) as process:
        yield process


@pytest.fixture(scope="module")
def clock_client(clock_emulator: EmulatorProcess, transport: Transport) -> Any:
    return scheduler_client(clock_emulator, transport)


@pytest.fixture
def make_clock_job(clock_client: Any) -> Iterator[JobFactory]:
    yield from _job_factory(clock_client)
