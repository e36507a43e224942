"""CloudScheduler CRUD through the official client: what is stored, returned and refused."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from google.api_core import exceptions
from google.cloud import scheduler_v1
from google.protobuf import field_mask_pb2

from tests.emulator.clients import api_error, refused
from tests.emulator.scheduler.conftest import PARENT, YEARLY, JobFactory, http_job, job_id

State = scheduler_v1.Job.State


def test_create_fills_in_what_google_fills_in(client: Any, url: str) -> None:
    name = f"{PARENT}/jobs/{job_id()}"
    before = time.time()
    job = client.create_job(
        parent=PARENT,
        job=scheduler_v1.Job(
            name=name,
            description="cook",
            schedule="0 7 * * *",
            time_zone="Asia/Kolkata",
            http_target=scheduler_v1.HttpTarget(uri=url, body=b"{}"),
        ),
    )
    try:
        assert job.name == name
        assert job.state == State.ENABLED
        assert job.user_update_time.timestamp() >= before - 1
        due = job.schedule_time.astimezone(UTC)
        assert (due.hour, due.minute) == (1, 30)  # 07:00 in Kolkata
        assert due.timestamp() > before
        assert job.http_target.http_method == scheduler_v1.HttpMethod.POST
        assert job.http_target.headers == {
            "User-Agent": "Google-Cloud-Scheduler",
            "Content-Type": "application/octet-stream",
        }
        assert job.attempt_deadline == timedelta(minutes=3)
        retry = job.retry_config
        assert retry.retry_count == 0
        assert retry.min_backoff_duration == timedelta(seconds=5)
        assert retry.max_backoff_duration == timedelta(hours=1)
        assert retry.max_doublings == 5
        assert retry.max_retry_duration == timedelta(0)
        assert not job.last_attempt_time
        assert client.get_job(name=name) == job
    finally:
        client.delete_job(name=name)


def test_create_without_a_name_generates_one(client: Any, url: str) -> None:
    job = client.create_job(parent=PARENT, job=http_job(url))
    try:
        assert job.name.startswith(f"{PARENT}/jobs/")
        assert client.get_job(name=job.name).name == job.name
    finally:
        client.delete_job(name=job.name)


def test_output_only_fields_of_the_request_are_ignored(client: Any, url: str) -> None:
    job = http_job(url, name=f"{PARENT}/jobs/{job_id()}")
    job.state = State(State.PAUSED)
    job.schedule_time = datetime(2001, 1, 1, tzinfo=UTC)
    created = client.create_job(parent=PARENT, job=job)
    try:
        assert created.state == State.ENABLED
        assert created.schedule_time.year > 2001
    finally:
        client.delete_job(name=created.name)


def test_already_exists_and_not_found(client: Any, make_job: JobFactory, url: str) -> None:
    job = make_job(url)
    with api_error(exceptions.AlreadyExists, match=job.name):
        client.create_job(parent=PARENT, job=http_job(url, name=job.name))
    client.delete_job(name=job.name)
    missing = job.name
    for call in (client.get_job, client.delete_job, client.pause_job, client.resume_job):
        with api_error(exceptions.NotFound, match="does not exist"):
            call(name=missing)
    with api_error(exceptions.NotFound):
        client.run_job(name=missing)
    with api_error(exceptions.NotFound):
        client.update_job(job=http_job(url, name=missing))
    # The name is free again at once (Cloud Scheduler keeps no tombstones).
    client.create_job(parent=PARENT, job=http_job(url, name=missing))
    client.delete_job(name=missing)


def test_pause_and_resume_change_state_and_check_it(
    client: Any, make_job: JobFactory, url: str
) -> None:
    job = make_job(url)
    paused = client.pause_job(name=job.name)
    assert paused.state == State.PAUSED
    assert client.get_job(name=job.name).state == State.PAUSED
    with api_error(exceptions.FailedPrecondition, match="PAUSED"):
        client.pause_job(name=job.name)
    resumed = client.resume_job(name=job.name)
    assert resumed.state == State.ENABLED
    assert resumed.schedule_time == job.schedule_time
    with api_error(exceptions.FailedPrecondition, match="ENABLED"):
        client.resume_job(name=job.name)


def test_list_jobs_pages_through_one_location(client: Any, transport: str, url: str) -> None:
    parent = f"projects/test-project/locations/paging-{uuid.uuid4().hex[:8]}"
    names = sorted(f"{parent}/jobs/j-{index}" for index in range(7))
    for name in names:
        client.create_job(parent=parent, job=http_job(url, name=name))
    client.create_job(parent=PARENT, job=http_job(url, name=f"{PARENT}/jobs/{job_id()}"))
    try:
        pager = client.list_jobs(request={"parent": parent, "page_size": 3})
        pages = [[job.name for job in page.jobs] for page in pager.pages]
        assert pages == [names[:3], names[3:6], names[6:]]
        assert [job.name for job in client.list_jobs(parent=parent)] == names
        first = client.list_jobs(request={"parent": parent, "page_size": 2})
        assert first.next_page_token
        with api_error(exceptions.InvalidArgument, match="page_token"):
            list(client.list_jobs(request={"parent": parent, "page_token": "not a token!"}))
        with api_error(exceptions.InvalidArgument, match="page_size"):
            list(client.list_jobs(request={"parent": parent, "page_size": -1}))
        with refused(transport, exceptions.InvalidArgument, "parent", fits_the_url=False):
            list(client.list_jobs(parent="projects/test-project"))
    finally:
        for name in names:
            client.delete_job(name=name)


# -- UpdateJob --------------------------------------------------------------------------


def _mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


def test_update_with_a_mask_changes_only_the_masked_fields(
    client: Any, make_job: JobFactory, url: str
) -> None:
    job = make_job(url, body=b"kept", headers={"X-Kept": "1"})
    change = scheduler_v1.Job(
        name=job.name,
        description="new",
        schedule="*/5 * * * *",  # not in the mask: ignored
        http_target=scheduler_v1.HttpTarget(uri=url + "/moved"),
    )
    updated = client.update_job(job=change, update_mask=_mask("description", "http_target.uri"))
    assert updated.name == job.name
    assert updated.description == "new"
    assert updated.schedule == YEARLY
    assert updated.schedule_time == job.schedule_time
    assert updated.http_target.uri == url + "/moved"
    assert updated.http_target.body == b"kept"
    assert updated.http_target.headers["X-Kept"] == "1"
    assert updated.state == State.ENABLED
    assert updated.user_update_time >= job.user_update_time
    assert client.get_job(name=job.name) == updated


def test_update_of_the_schedule_moves_the_next_run(
    client: Any, make_job: JobFactory, url: str
) -> None:
    job = make_job(url)
    change = scheduler_v1.Job(name=job.name, schedule="0 7 * * *", time_zone="Asia/Kolkata")
    updated = client.update_job(job=change, update_mask=_mask("schedule", "time_zone"))
    due = updated.schedule_time.astimezone(UTC)
    assert (due.hour, due.minute) == (1, 30)
    assert updated.schedule_time < job.schedule_time


def test_update_without_a_mask_sets_the_fields_the_request_sets(
    client: Any, make_job: JobFactory, url: str
) -> None:
    job = make_job(url, body=b"kept", retry_count=1)
    change = scheduler_v1.Job(
        name=job.name,
        description="only this and the retry config",
        retry_config=scheduler_v1.RetryConfig(retry_count=4),
    )
    updated = client.update_job(job=change)
    assert updated.description == "only this and the retry config"
    assert updated.retry_config.retry_count == 4
    # A replaced message gets Google's defaults for what it leaves unset.
    assert updated.retry_config.min_backoff_duration == timedelta(seconds=5)
    assert updated.schedule == YEARLY
    assert updated.http_target.body == b"kept"


def test_update_keeps_a_paused_job_paused(client: Any, make_job: JobFactory, url: str) -> None:
    job = make_job(url, paused=True)
    updated = client.update_job(
        job=scheduler_v1.Job(name=job.name, description="d"), update_mask=_mask("description")
    )
    assert updated.state == State.PAUSED


def test_update_ignores_output_only_paths_and_refuses_unknown_ones(
    client: Any, make_job: JobFactory, url: str
) -> None:
    job = make_job(url)
    change = scheduler_v1.Job(name=job.name, state=State.PAUSED, description="x")
    assert client.update_job(job=change, update_mask=_mask("state")).state == State.ENABLED
    with api_error(exceptions.InvalidArgument, match="update_mask: 'colour'"):
        client.update_job(job=change, update_mask=_mask("colour"))


def test_rejected_update_leaves_the_job_as_it_was(
    client: Any, make_job: JobFactory, url: str
) -> None:
    job = make_job(url)
    for change, mask, message in [
        (scheduler_v1.Job(name=job.name, schedule="61 * * * *"), "schedule", "job.schedule"),
        (scheduler_v1.Job(name=job.name, time_zone="Mars/Olympus"), "time_zone", "time_zone"),
        (scheduler_v1.Job(name=job.name), "http_target", "job.http_target: required"),
        (
            scheduler_v1.Job(name=job.name, retry_config={"retry_count": 9}),
            "retry_config",
            "retry_count",
        ),
    ]:
        with api_error(exceptions.InvalidArgument, match=message):
            client.update_job(job=change, update_mask=_mask(mask))
    assert client.get_job(name=job.name) == job


def test_update_in_place_never_leaves_a_moment_without_the_job(
    client: Any, make_job: JobFactory, url: str
) -> None:
    job = make_job(url)
    stop = threading.Event()
    seen: list[str] = []
    missing: list[BaseException] = []

    def watch() -> None:
        while not stop.is_set():
            try:
                seen.append(client.get_job(name=job.name).description)
            except exceptions.NotFound as exc:
                missing.append(exc)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        for index in range(40):
            change = scheduler_v1.Job(
                name=job.name,
                description=f"v{index}",
                schedule=f"{index % 60} 3 * * *",
                http_target=scheduler_v1.HttpTarget(uri=f"{url}/{index}"),
            )
            updated = client.update_job(
                job=change, update_mask=_mask("description", "schedule", "http_target")
            )
            assert updated.name == job.name
    finally:
        stop.set()
        watcher.join()
    assert missing == []
    assert seen
    final = client.get_job(name=job.name)
    assert (final.description, final.schedule) == ("v39", "39 3 * * *")
    assert [j.name for j in client.list_jobs(parent=PARENT)].count(job.name) == 1


# -- validation ---------------------------------------------------------------------------


_NOWHERE = "http://127.0.0.1:9/never"


def _job(url: str = _NOWHERE, **options: Any) -> scheduler_v1.Job:
    return http_job(url, name=f"{PARENT}/jobs/{job_id()}", **options)


def _without(field: str) -> scheduler_v1.Job:
    job = _job()
    setattr(job, field, "")
    return job


def _with(**fields: Any) -> scheduler_v1.Job:
    job = scheduler_v1.Job(name=f"{PARENT}/jobs/{job_id()}", schedule=YEARLY)
    for field, value in fields.items():
        setattr(job, field, value)
    return job


def _described(description: str) -> scheduler_v1.Job:
    job = _job()
    job.description = description
    return job


@pytest.mark.parametrize(
    ("job", "message"),
    [
        pytest.param(_job(schedule="* * * *"), "job.schedule: .* needs 5 fields", id="cron-fields"),
        pytest.param(_job(schedule="0 25 * * *"), "job.schedule: .*Bad hour", id="cron-value"),
        pytest.param(_job(schedule="0 0 L * *"), "job.schedule: .*not supported", id="cron-L"),
        pytest.param(_job(schedule="every 5 minutes"), "job.schedule", id="english"),
        pytest.param(_without("schedule"), "job.schedule: required", id="no-schedule"),
        pytest.param(
            _job(time_zone="Europe/Atlantis"), "job.time_zone: 'Europe/Atlantis'", id="time-zone"
        ),
        pytest.param(
            _job(attempt_deadline=0.1), "job.attempt_deadline: 0.1s is outside", id="deadline-low"
        ),
        pytest.param(
            _job(attempt_deadline=1801), "job.attempt_deadline: 1801s", id="deadline-high"
        ),
        pytest.param(_job(retry_count=6), "job.retry_config.retry_count: .*got 6", id="retries-6"),
        pytest.param(
            _job(retry_count=-1), "job.retry_config.retry_count: .*got -1", id="retries-negative"
        ),
        pytest.param(
            _job(min_backoff=10, max_backoff=5),
            "job.retry_config: min_backoff_duration is greater",
            id="backoffs",
        ),
        pytest.param(_with(), "job.http_target: required", id="no-target"),
        pytest.param(
            _with(app_engine_http_target=scheduler_v1.AppEngineHttpTarget(relative_uri="/x")),
            "job.app_engine_http_target: not emulated",
            id="app-engine",
        ),
        pytest.param(
            _with(pubsub_target=scheduler_v1.PubsubTarget(topic_name="projects/p/topics/t")),
            "job.pubsub_target: not emulated",
            id="pubsub",
        ),
        pytest.param(_job("ftp://example.com/x"), "job.http_target.uri", id="uri-scheme"),
        pytest.param(_job("/relative"), "job.http_target.uri", id="uri-relative"),
        pytest.param(_job(method="GET", body=b"x"), "job.http_target.body", id="body-on-get"),
        pytest.param(
            _job(headers={"Bad Header": "x"}), "job.http_target.headers", id="header-name"
        ),
        pytest.param(_described("d" * 501), "job.description", id="description"),
        pytest.param(
            _job(oidc=scheduler_v1.OidcToken(audience="x")),
            "job.http_target.oidc_token.service_account_email",
            id="oidc-email",
        ),
    ],
)
def test_invalid_job_is_refused_with_a_message_naming_the_field(
    client: Any, job: scheduler_v1.Job, message: str
) -> None:
    with api_error(exceptions.InvalidArgument, match=message):
        client.create_job(parent=PARENT, job=job)
    with api_error(exceptions.NotFound):
        client.get_job(name=job.name)


@pytest.mark.parametrize(
    ("name", "fits_the_url"),
    [
        (f"{PARENT}/jobs/has space", True),
        (f"{PARENT}/jobs/has.dot", True),
        (f"{PARENT}/jobs/" + "x" * 501, True),
        (f"{PARENT}/queues/q", False),
        (f"{PARENT}/jobs/", False),
        ("jobs/x", False),
    ],
)
def test_bad_job_names(
    client: Any, transport: str, url: str, name: str, fits_the_url: bool
) -> None:
    with api_error(exceptions.InvalidArgument, match=r"job.name: .* is not a job name"):
        client.create_job(parent=PARENT, job=http_job(url, name=name))
    with refused(
        transport,
        exceptions.InvalidArgument,
        r"name: .* is not a job name",
        fits_the_url=fits_the_url,
    ):
        client.get_job(name=name)


def test_longest_job_id_and_allowed_characters(client: Any, url: str) -> None:
    for name in (f"{PARENT}/jobs/" + "x" * 500, f"{PARENT}/jobs/A_b-9"):
        assert client.create_job(parent=PARENT, job=http_job(url, name=name)).name == name
        client.delete_job(name=name)


def test_name_must_be_in_the_parent_location(client: Any, transport: str, url: str) -> None:
    other = f"projects/test-project/locations/europe-west1/jobs/{job_id()}"
    with api_error(exceptions.InvalidArgument, match="not in the parent location"):
        client.create_job(parent=PARENT, job=http_job(url, name=other))
    with refused(transport, exceptions.InvalidArgument, "parent: ", fits_the_url=False):
        client.create_job(parent="projects/test-project", job=http_job(url))


def test_deadline_and_retry_bounds_are_inclusive(
    client: Any, make_job: JobFactory, url: str
) -> None:
    assert make_job(url, attempt_deadline=1800).attempt_deadline == timedelta(minutes=30)
    assert make_job(url, attempt_deadline=0.5, retry_count=5).retry_config.retry_count == 5


def test_reserved_headers_are_replaced(client: Any, make_job: JobFactory, url: str) -> None:
    job = make_job(
        url,
        body=b"{}",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "mine",
            "X-CloudScheduler-JobName": "spoof",
            "X-Google-Thing": "x",
            "X-Custom": "kept",
        },
    )
    assert job.http_target.headers == {
        "Content-Type": "application/json",
        "User-Agent": "Google-Cloud-Scheduler",
        "X-Custom": "kept",
    }


def test_other_methods_are_unimplemented(client: Any) -> None:
    with api_error(exceptions.MethodNotImplemented):
        client.list_locations(request={"name": "projects/test-project"})
