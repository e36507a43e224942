"""Cloud Scheduler under hostile input: its own header rules (``HttpTarget.headers``), and
every malformed job refused at create time with INVALID_ARGUMENT naming the field."""

from __future__ import annotations

from typing import Any

import pytest
from google.api_core import exceptions
from google.cloud import scheduler_v1
from google.protobuf import duration_pb2

from cloudtasks_kit.testing import EmulatorProcess
from tests.emulator.clients import api_error, invalid_argument
from tests.emulator.scheduler.conftest import PARENT, YEARLY, JobFactory, job_id
from tests.emulator.tasks.test_oidc import _verify
from tests.support import RecordingWorker

JobPb = scheduler_v1.Job.pb()
TargetPb = scheduler_v1.HttpTarget.pb()
URL = "http://127.0.0.1:9/never"


def test_headers_the_service_sets_or_reserves_never_come_from_the_caller(
    emulator: EmulatorProcess,
    client: Any,
    make_job: JobFactory,
    recorder: RecordingWorker,
    url: str,
    path: str,
) -> None:
    # HttpTarget.headers: Host, Content-Length and User-Agent are computed or set, X-Google-*
    # and X-AppEngine-* are Google's, X-CloudScheduler* are the service's; a token is the
    # Authorization header. In any case of the names, and never twice.
    job = make_job(
        url,
        body=b"{}",
        headers={
            "content-type": "application/json",
            "x-cloudscheduler": "false",
            "X-CLOUDSCHEDULER-JOBNAME": "forged",
            "x-cloudscheduler-scheduletime": "1970-01-01T00:00:00Z",
            "x-google-thing": "forged",
            "X-AppEngine-Country": "forged",
            "host": "forged.example",
            "Content-Length": "999",
            "authorization": "Bearer caller-token",
            "X-Kept": "kept",
        },
        oidc=scheduler_v1.OidcToken(service_account_email="jobs@p.iam.gserviceaccount.com"),
    )
    client.run_job(name=job.name)

    [received] = recorder.wait_for(path, 1)
    for name, value in [
        ("X-CloudScheduler", "true"),
        ("X-CloudScheduler-JobName", job.name.rsplit("/", 1)[1]),
        ("Content-Type", "application/json"),
        ("Content-Length", "2"),
        ("User-Agent", "Google-Cloud-Scheduler"),
        ("Host", url.split("/")[2]),
        ("X-Kept", "kept"),
    ]:
        assert received.header_lines(name) == [value], name
    [stamp] = received.header_lines("X-CloudScheduler-ScheduleTime")
    assert not stamp.startswith("1970")
    assert received.header_lines("X-Google-Thing") == []
    assert received.header_lines("X-AppEngine-Country") == []
    [authorization] = received.header_lines("Authorization")
    assert authorization != "Bearer caller-token"
    _verify(emulator, authorization.removeprefix("Bearer "), url)


def _job(target: Any = None, **fields: Any) -> Any:
    fields.setdefault("name", f"{PARENT}/jobs/{job_id()}")
    fields.setdefault("schedule", YEARLY)
    return JobPb(http_target=target if target is not None else TargetPb(uri=URL), **fields)


@pytest.mark.parametrize(
    ("job", "field"),
    [
        pytest.param(_job(TargetPb(uri="http://[::1/x")), "job.http_target.uri", id="ipv6"),
        pytest.param(_job(TargetPb(uri="http://127.0.0.1:70000/")), "port", id="port-high"),
        pytest.param(_job(TargetPb(uri="http://127.0.0.1:0/")), "port", id="port-zero"),
        pytest.param(_job(TargetPb(uri=f"{URL}\r\nX: 1")), "job.http_target.uri", id="crlf-uri"),
        pytest.param(
            _job(TargetPb(uri=URL, headers={"X-A": "a\x00b"})), "NUL", id="nul-header-value"
        ),
        pytest.param(
            _job(TargetPb(uri=URL, headers={"X-A": "a\r\nX-B: b"})), "CR", id="crlf-header-value"
        ),
        pytest.param(
            _job(TargetPb(uri=URL, headers={"X-Big": "a" * 90 * 1024})), "80 KB", id="90-kb"
        ),
        pytest.param(
            _job(TargetPb(uri=URL, headers={"X-A": "1", "x-a": "2"})),
            "case-insensitive",
            id="one-header-twice",
        ),
        pytest.param(
            _job(attempt_deadline=duration_pb2.Duration(seconds=10**15)),
            "job.attempt_deadline",
            id="deadline-beyond-a-duration",
        ),
        pytest.param(
            _job(
                retry_config=scheduler_v1.RetryConfig.pb()(
                    max_backoff_duration=duration_pb2.Duration(seconds=10**15)
                )
            ),
            "job.retry_config.max_backoff_duration",
            id="backoff-beyond-a-duration",
        ),
        pytest.param(
            _job(
                retry_config=scheduler_v1.RetryConfig.pb()(
                    min_backoff_duration=duration_pb2.Duration(seconds=1, nanos=-1)
                )
            ),
            "job.retry_config.min_backoff_duration",
            id="duration-with-mixed-signs",
        ),
    ],
)
def test_hostile_jobs_are_invalid_argument(
    client: Any, transport: str, job: Any, field: str
) -> None:
    with invalid_argument(transport) as refusal:
        client.create_job(request={"parent": PARENT, "job": job})
    assert refusal.names(field), refusal.message
    with api_error(exceptions.NotFound):
        client.get_job(name=job.name)


def test_page_tokens_the_emulator_never_issued_are_refused(client: Any) -> None:
    for token in ("YQ==", "x.y", "not a token"):
        with api_error(exceptions.InvalidArgument, match="page_token"):
            client.list_jobs(request={"parent": PARENT, "page_token": token})


def test_update_mask_naming_no_field_is_refused(
    client: Any, make_job: JobFactory, url: str
) -> None:
    job = make_job(url)
    with api_error(exceptions.InvalidArgument, match="update_mask"):
        client.update_job(
            request={"job": {"name": job.name}, "update_mask": {"paths": ["http_target.nope"]}}
        )
