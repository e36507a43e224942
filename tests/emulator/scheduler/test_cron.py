"""When a job is next due, in its time zone, across daylight saving time changes."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from cloudtasks_kit.emulator.scheduler._cron import (
    ScheduleError,
    check_schedule,
    latest_run,
    next_run,
    time_zone,
)

NEW_YORK = ZoneInfo("America/New_York")


def at(
    year: int,
    month: int,
    day: int,
    hour: int = 0,
    minute: int = 0,
    *,
    zone: ZoneInfo | None = NEW_YORK,
    fold: int = 0,
) -> float:
    """Epoch seconds of a wall-clock time in ``zone`` (None: UTC)."""
    return datetime(year, month, day, hour, minute, tzinfo=zone or UTC, fold=fold).timestamp()


def runs(schedule: str, zone: ZoneInfo, after: float, count: int) -> list[str]:
    """The next ``count`` due times, as local ISO strings with their UTC offsets."""
    found = []
    for _ in range(count):
        due = next_run(schedule, zone, after)
        assert due is not None
        found.append(datetime.fromtimestamp(due, zone).isoformat())
        after = due
    return found


def test_daily_job_in_the_spring_forward_gap_runs_when_the_gap_ends() -> None:
    # 2026-03-08 02:30 does not exist in New York: clocks go from 02:00 EST to 03:00 EDT.
    assert runs("30 2 * * *", NEW_YORK, at(2026, 3, 7, 12), 3) == [
        "2026-03-08T03:00:00-04:00",  # the day is not skipped
        "2026-03-09T02:30:00-04:00",
        "2026-03-10T02:30:00-04:00",
    ]


def test_daily_job_in_the_repeated_fall_back_hour_runs_once() -> None:
    # 2026-11-01 01:30 happens twice in New York: EDT, then EST an hour later.
    assert runs("30 1 * * *", NEW_YORK, at(2026, 10, 31, 12), 3) == [
        "2026-11-01T01:30:00-04:00",
        "2026-11-02T01:30:00-05:00",  # not 2026-11-01T01:30:00-05:00
        "2026-11-03T01:30:00-05:00",
    ]


def test_from_inside_the_repeated_hour_the_first_copy_is_past() -> None:
    # 01:10 EST on the fall-back day: today's 01:30 already ran (at 01:30 EDT).
    after = at(2026, 11, 1, 1, 10, fold=1)
    assert runs("30 1 * * *", NEW_YORK, after, 1) == ["2026-11-02T01:30:00-05:00"]


def test_interval_schedules_follow_real_time_across_both_changes() -> None:
    assert runs("*/30 * * * *", NEW_YORK, at(2026, 11, 1, 0, 50), 5) == [
        "2026-11-01T01:00:00-04:00",
        "2026-11-01T01:30:00-04:00",
        "2026-11-01T01:00:00-05:00",
        "2026-11-01T01:30:00-05:00",
        "2026-11-01T02:00:00-05:00",
    ]
    assert runs("*/30 * * * *", NEW_YORK, at(2026, 3, 8, 1, 10), 3) == [
        "2026-03-08T01:30:00-05:00",
        "2026-03-08T03:00:00-04:00",
        "2026-03-08T03:30:00-04:00",
    ]


def test_schedule_is_evaluated_in_the_time_zone() -> None:
    kolkata = ZoneInfo("Asia/Kolkata")
    due = next_run("0 7 * * *", kolkata, at(2026, 6, 1, 12, zone=None))
    assert due == at(2026, 6, 2, 1, 30, zone=None)  # 07:00 IST is 01:30 UTC
    assert next_run("0 7 * * *", UTC, at(2026, 6, 1, 12, zone=None)) == at(2026, 6, 2, 7, zone=None)


def test_next_run_is_strictly_after() -> None:
    nine = at(2026, 6, 1, 9, zone=None)
    assert next_run("0 9 * * *", UTC, nine) == nine + 86400
    assert next_run("0 9 * * *", UTC, nine - 0.5) == nine


def test_latest_run_picks_the_last_missed_time_only() -> None:
    start = at(2026, 6, 1, 9, zone=None)
    year_later = start + 365 * 86400 + 120.5
    # A per-minute job a year behind: the latest minute, without walking the whole year.
    assert latest_run("* * * * *", UTC, start, year_later) == year_later - 0.5
    assert latest_run("0 9 * * *", UTC, start - 1, start + 3 * 86400 + 5) == start + 3 * 86400
    assert latest_run("0 9 * * *", UTC, start, start + 3600) is None
    # The repeated hour: the daily 01:30 ran once, at 01:30 EDT.
    fall_back = latest_run("30 1 * * *", NEW_YORK, at(2026, 10, 31, 12), at(2026, 11, 1, 3))
    assert fall_back == at(2026, 11, 1, 1, 30, fold=0)


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ("* * * *", "needs 5 fields"),
        ("0 0 0 * * *", "needs 5 fields"),
        ("every 5 minutes", "needs 5 fields"),
        ("@daily", "needs 5 fields"),
        ("61 * * * *", "Bad minute"),
        ("0 24 * * *", "Bad hour"),
        ("0 0 30 2 *", "Bad day-of-month"),
        ("0 0 * 13 *", "Bad month"),
        ("0 0 * * 8", "Bad day-of-week"),
        ("*/0 * * * *", "Bad minute"),
        ("0 0 L * *", "'L'"),
        ("0 0 * * 5L", "'L'"),
        ("0 0 * * 1#2", "'#'"),
        ("0 0 15W * *", "'W'"),
    ],
)
def test_invalid_schedules(schedule: str, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        check_schedule(schedule)


@pytest.mark.parametrize(
    "schedule",
    [
        "* * * * *",
        "0 9 * * 1-5",
        "*/15 9-17 * * MON-FRI",
        "0 0 * JUL SUN",
        "0 0 29 2 *",
        "0 0 * * 7",
    ],
)
def test_valid_schedules(schedule: str) -> None:
    check_schedule(schedule)


def test_time_zones() -> None:
    assert time_zone("") is UTC
    assert time_zone("utc") is UTC  # Google: 'For UTC use the string "utc"'
    assert time_zone("Etc/UTC") == ZoneInfo("Etc/UTC")
    assert time_zone("America/New_York") == NEW_YORK
    for bad in ("Mars/Olympus", "america/new_york", "../../etc/passwd", "EST+5"):
        with pytest.raises(ScheduleError, match="tz database"):
            time_zone(bad)
