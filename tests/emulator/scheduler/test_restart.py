"""Jobs live in the SQLite file: kill -9 and a restart lose none and fire no run twice."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from google.api_core import exceptions
from google.cloud import scheduler_v1

from cloudtasks_kit.testing import EmulatorProcess
from tests.emulator.scheduler.conftest import (
    PARENT,
    advance_to,
    http_job,
    job_id,
    schedule_header,
    scheduler_client,
)
from tests.support import RecordingWorker, Reply, wait_until

HOUR, DAY = 3600.0, 86400.0


def _due(job: Any) -> float:
    return float(job.schedule_time.timestamp())


def _ran(client: Any, name: str) -> bool:
    job = client.get_job(name=name)
    return "status" in job and job.status.code == 0


def test_kill_9_and_restart_keep_jobs_and_fire_no_run_twice(
    tmp_path: Path, recorder: RecordingWorker, url: str, path: str
) -> None:
    data = tmp_path / "state.sqlite"
    hang = threading.Event()
    recorder.script(f"{path}-daily", Reply(gate=hang))  # killed while this run is in flight
    daily = f"{PARENT}/jobs/daily-{job_id()}"
    later = f"{PARENT}/jobs/later-{job_id()}"
    paused = f"{PARENT}/jobs/paused-{job_id()}"

    first = EmulatorProcess(data=data).start()
    try:
        client = scheduler_client(first)
        job = client.create_job(
            parent=PARENT,
            job=http_job(url + "-daily", name=daily, schedule="0 9 * * *", body=b"kept"),
        )
        fired_at = _due(job)
        advance_to(first, fired_at + 1)
        [run] = recorder.wait_for(path + "-daily", 1)
        assert run.headers["x-cloudscheduler-scheduletime"] == schedule_header(fired_at)
        wait_until(lambda: bool(client.get_job(name=daily).last_attempt_time))
        # Created after the run, so it is next due an hour after the daily job ran.
        created = client.create_job(
            parent=PARENT, job=http_job(url + "-later", name=later, schedule="0 10 * * *")
        )
        assert _due(created) == fired_at + HOUR
        client.create_job(parent=PARENT, job=http_job(url + "-paused", name=paused))
        client.pause_job(name=paused)
        before_kill = client.get_job(name=daily)
    finally:
        first.kill()
        hang.set()

    # The clock offset is not kept: the new process starts at real time, before every due time.
    second = EmulatorProcess(data=data).start()
    try:
        client = scheduler_client(second)
        kept = client.get_job(name=daily)
        assert kept == before_kill
        assert _due(kept) == fired_at + DAY
        assert kept.http_target.body == b"kept"
        assert client.get_job(name=paused).state == scheduler_v1.Job.State.PAUSED
        assert {j.name for j in client.list_jobs(parent=PARENT)} == {daily, later, paused}

        # Two days and two hours on: both jobs missed runs while the emulator was down or
        # behind. Each fires once, for its latest time; the run that was in flight at the kill
        # is not fired again (at most once per schedule time).
        advance_to(second, fired_at + 2 * DAY + 2 * HOUR)
        runs = recorder.wait_for(path + "-daily", 2)
        assert runs[1].headers["x-cloudscheduler-scheduletime"] == schedule_header(
            fired_at + 2 * DAY
        )
        [late] = recorder.wait_for(path + "-later", 1)
        assert late.headers["x-cloudscheduler-scheduletime"] == schedule_header(
            fired_at + 2 * DAY + HOUR
        )
        wait_until(lambda: _ran(client, later))
        wait_until(lambda: client.get_job(name=daily).last_attempt_time != kept.last_attempt_time)
        wait_until(lambda: _ran(client, daily))
        assert _due(client.get_job(name=daily)) == fired_at + 3 * DAY
        assert _due(client.get_job(name=later)) == fired_at + 3 * DAY + HOUR
        assert recorder.count(path + "-daily") == 2
        assert recorder.count(path + "-later") == 1
        assert recorder.count(path + "-paused") == 0

        # Without --min-attempt-deadline, Google's 15 s floor applies.
        with pytest.raises(exceptions.InvalidArgument, match="attempt_deadline"):
            client.create_job(parent=PARENT, job=http_job(url, attempt_deadline=14))
        job = client.create_job(parent=PARENT, job=http_job(url, attempt_deadline=15))
        assert job.attempt_deadline == timedelta(seconds=15)
    finally:
        assert second.stop() == 0
