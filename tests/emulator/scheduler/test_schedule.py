"""Jobs fire on their schedule, in their time zone, on the emulator's clock.

All tests here share one emulator whose clock they advance (``POST /admin/clock/advance``),
so a daily job fires without waiting a day. The clock only moves forward: the DST test, which
jumps to 2027, comes last.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from cloudtasks_kit.testing import EmulatorProcess
from tests.emulator.scheduler.conftest import (
    JobFactory,
    advance_to,
    emulator_now,
    schedule_header,
)
from tests.support import RecordingWorker, Reply, wait_until

HOUR, DAY = 3600.0, 86400.0


def _due(job: Any) -> float:
    return float(job.schedule_time.timestamp())


def _ran(client: Any, name: str) -> bool:
    """The job's first run has ended well (``status`` is written when an attempt ends)."""
    job = client.get_job(name=name)
    return bool(job.last_attempt_time) and "status" in job and job.status.code == 0


def test_job_fires_at_the_next_minute(
    clock_emulator: EmulatorProcess,
    clock_client: Any,
    make_clock_job: JobFactory,
    recorder: RecordingWorker,
    url: str,
    path: str,
) -> None:
    job = make_clock_job(url, schedule="* * * * *", body=b"tick")
    due = _due(job)
    assert due % 60 == 0
    assert 0 < due - emulator_now(clock_emulator) <= 60
    advance_to(clock_emulator, due)
    received = recorder.wait_for(path, 1)[0]
    assert received.body == b"tick"
    assert received.headers["x-cloudscheduler"] == "true"
    assert received.headers["x-cloudscheduler-jobname"] == job.name.rsplit("/", 1)[1]
    assert received.headers["x-cloudscheduler-scheduletime"] == schedule_header(due)


def test_daily_job_fires_once_and_moves_to_the_next_day(
    clock_emulator: EmulatorProcess,
    clock_client: Any,
    make_clock_job: JobFactory,
    recorder: RecordingWorker,
    url: str,
    path: str,
) -> None:
    job = make_clock_job(url, schedule="0 9 * * *")
    due = _due(job)
    advance_to(clock_emulator, due + 1)
    [received] = recorder.wait_for(path, 1)
    assert received.headers["x-cloudscheduler-scheduletime"] == schedule_header(due)
    wait_until(lambda: _ran(clock_client, job.name))
    after = clock_client.get_job(name=job.name)
    assert after.last_attempt_time.timestamp() >= due
    assert _due(after) == due + DAY
    assert recorder.count(path) == 1


def test_missed_runs_fire_once_for_the_latest_time(
    clock_emulator: EmulatorProcess,
    clock_client: Any,
    make_clock_job: JobFactory,
    recorder: RecordingWorker,
    url: str,
    path: str,
) -> None:
    job = make_clock_job(url, schedule="0 */6 * * *")
    due = _due(job)
    # Twelve runs come due; Cloud Scheduler does not backfill: one run, for the latest.
    advance_to(clock_emulator, due + 3 * DAY + HOUR)
    [received] = recorder.wait_for(path, 1)
    assert received.headers["x-cloudscheduler-scheduletime"] == schedule_header(due + 3 * DAY)
    wait_until(lambda: _ran(clock_client, job.name))
    assert _due(clock_client.get_job(name=job.name)) == due + 3 * DAY + 6 * HOUR
    # The next time fires as usual, and nothing fired in between.
    advance_to(clock_emulator, due + 3 * DAY + 6 * HOUR)
    second = recorder.wait_for(path, 2)[1]
    assert second.headers["x-cloudscheduler-scheduletime"] == schedule_header(
        due + 3 * DAY + 6 * HOUR
    )
    assert recorder.count(path) == 2


def test_paused_job_does_not_fire_and_resuming_does_not_backfill(
    clock_emulator: EmulatorProcess,
    clock_client: Any,
    make_clock_job: JobFactory,
    recorder: RecordingWorker,
    url: str,
    path: str,
) -> None:
    paused = make_clock_job(url + "-paused", schedule="0 9 * * *", paused=True)
    enabled = make_clock_job(url + "-enabled", schedule="0 9 * * *")
    assert _due(paused) == _due(enabled)
    advance_to(clock_emulator, _due(enabled) + 1)
    # Both were due in the same instant; the enabled one fired, the paused one did not.
    recorder.wait_for(path + "-enabled", 1)
    wait_until(lambda: _ran(clock_client, enabled.name))
    assert recorder.count(path + "-paused") == 0
    resumed = clock_client.resume_job(name=paused.name)
    assert _due(resumed) == _due(enabled) + DAY  # the run missed while paused is not made up
    advance_to(clock_emulator, _due(resumed))
    [received] = recorder.wait_for(path + "-paused", 1)
    assert received.headers["x-cloudscheduler-scheduletime"] == schedule_header(_due(resumed))


def test_schedule_is_evaluated_in_the_jobs_time_zone(
    clock_emulator: EmulatorProcess,
    clock_client: Any,
    make_clock_job: JobFactory,
    recorder: RecordingWorker,
    url: str,
    path: str,
) -> None:
    job = make_clock_job(url, schedule="0 7 * * *", time_zone="Asia/Kolkata")
    due = datetime.fromtimestamp(_due(job), UTC)
    assert (due.hour, due.minute) == (1, 30)  # 07:00 IST
    advance_to(clock_emulator, _due(job))
    [received] = recorder.wait_for(path, 1)
    assert received.headers["x-cloudscheduler-scheduletime"] == due.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_due_run_waits_for_the_previous_one_and_run_job_does_not(
    clock_emulator: EmulatorProcess,
    clock_client: Any,
    make_clock_job: JobFactory,
    recorder: RecordingWorker,
    url: str,
    path: str,
) -> None:
    gate = threading.Event()
    recorder.script(path, Reply(gate=gate))
    job = make_clock_job(url, schedule="0 * * * *")
    first_due = _due(job)
    try:
        advance_to(clock_emulator, first_due)
        recorder.wait_for(path, 1)  # hangs until the gate opens
        advance_to(clock_emulator, first_due + 2 * HOUR + 60)  # two more runs come due
        # RunJob dispatches "even if the job is already running".
        clock_client.run_job(name=job.name)
        forced = recorder.wait_for(path, 2)[1]
        assert forced.headers["x-cloudscheduler-scheduletime"] != schedule_header(
            first_due + 2 * HOUR
        )
        assert recorder.count(path) == 2
    finally:
        gate.set()
    # The first run ends; then the latest due time fires, once.
    third = recorder.wait_for(path, 3)[2]
    assert third.headers["x-cloudscheduler-scheduletime"] == schedule_header(first_due + 2 * HOUR)
    wait_until(lambda: _due(clock_client.get_job(name=job.name)) == first_due + 3 * HOUR)
    assert recorder.count(path) == 3


def _at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp()


def test_daylight_saving_time_changes_in_new_york(
    clock_emulator: EmulatorProcess,
    clock_client: Any,
    make_clock_job: JobFactory,
    recorder: RecordingWorker,
    url: str,
    path: str,
) -> None:
    # Spring forward, 2027-03-14: 02:30 does not exist; the daily run comes at 03:00 EDT.
    advance_to(clock_emulator, _at(2027, 3, 13, 12))
    spring = make_clock_job(url + "-spring", schedule="30 2 * * *", time_zone="America/New_York")
    assert _due(spring) == _at(2027, 3, 14, 7)  # 03:00 EDT
    advance_to(clock_emulator, _at(2027, 3, 14, 7))
    [received] = recorder.wait_for(path + "-spring", 1)
    assert received.headers["x-cloudscheduler-scheduletime"] == "2027-03-14T07:00:00Z"
    wait_until(lambda: _due(clock_client.get_job(name=spring.name)) == _at(2027, 3, 15, 6, 30))
    clock_client.delete_job(name=spring.name)

    # Fall back, 2027-11-07: 01:30 happens twice; the daily run comes once, at 01:30 EDT.
    advance_to(clock_emulator, _at(2027, 11, 6, 12))
    fall = make_clock_job(url + "-fall", schedule="30 1 * * *", time_zone="America/New_York")
    assert _due(fall) == _at(2027, 11, 7, 5, 30)  # 01:30 EDT
    advance_to(clock_emulator, _at(2027, 11, 7, 6, 31))  # past 01:30 EST as well
    [received] = recorder.wait_for(path + "-fall", 1)
    assert received.headers["x-cloudscheduler-scheduletime"] == "2027-11-07T05:30:00Z"
    wait_until(lambda: _ran(clock_client, fall.name))
    assert _due(clock_client.get_job(name=fall.name)) == _at(2027, 11, 8, 6, 30)  # 01:30 EST
    assert recorder.count(path + "-fall") == 1
