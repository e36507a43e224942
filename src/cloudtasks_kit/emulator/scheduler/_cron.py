"""When a Cloud Scheduler job is next due: unix-cron in the job's time zone, via cronsim.

Daylight saving time. Google documents only that Cloud Scheduler "runs on wall clock time"
and that jobs scheduled in a skipped or repeated hour "may observe execution anomalies". The
emulator picks one rule and keeps it, the rule of Vixie/Debian cron (the cron that unix-cron
syntax comes from, which cronsim implements):

- A schedule whose minute and hour fields do not start with ``*`` (``30 2 * * *``,
  ``0,30 9-17 * * *``) is a wall-clock appointment, once per matching local time. If that
  local time does not exist (spring forward, e.g. America/New_York 2026-03-08 02:30), the
  run happens at the first instant after the gap (03:00 EDT): the day is not skipped,
  because a daily job that silently loses a day is the worse surprise. If that local time
  happens twice (fall back, 2026-11-01 01:30), the run happens at the first occurrence
  (01:30 EDT) only: a daily job runs once a day.
- A schedule whose minute or hour field starts with ``*`` (``*/15 * * * *``,
  ``0 */2 * * *``) is an interval: it matches real instants whose local time matches, so it
  runs in both copies of a repeated hour and not at all in a skipped one, and its real
  spacing stays what the expression says.

Only the five-field unix-cron syntax Cloud Scheduler documents is accepted: no seconds field,
no ``L``, ``W`` or ``#`` (cronsim knows them, Cloud Scheduler does not), no ``@daily``
macros and no English-like App Engine schedules.
"""

from __future__ import annotations

import functools
import zoneinfo
from collections.abc import Iterator
from datetime import UTC, datetime, tzinfo

from cronsim import CronSim, CronSimError

__all__ = ["ScheduleError", "check_schedule", "latest_run", "next_run", "time_zone"]

# cronsim's extensions that Cloud Scheduler rejects, per field (day-of-month, day-of-week).
_UNSUPPORTED = (
    (2, "L", "'L' (last day of the month)"),
    (2, "W", "'W' (nearest weekday)"),
    (4, "L", "'L' (last weekday of the month)"),
    (4, "#", "'#' (nth weekday of the month)"),
)
# latest_run's first look-back, in seconds.
_FIRST_WINDOW = 3600.0


class ScheduleError(ValueError):
    """A schedule or time zone Cloud Scheduler would reject; the message says why."""


def check_schedule(expression: str) -> None:
    """Raise :class:`ScheduleError` unless ``expression`` is five-field unix-cron that
    matches at least one future time."""
    fields = expression.split()
    if len(fields) != 5:
        raise ScheduleError(
            f"{expression!r} is not a unix-cron schedule: it needs 5 fields "
            "(minute hour day-of-month month day-of-week), it has "
            f"{len(fields)}"
        )
    for index, symbol, what in _UNSUPPORTED:
        if symbol in fields[index].upper():
            raise ScheduleError(f"{expression!r}: {what} is not supported by Cloud Scheduler")
    try:
        CronSim(expression, datetime.now(UTC))
    except CronSimError as exc:
        raise ScheduleError(f"{expression!r} is not a valid unix-cron schedule: {exc}") from None
    if next_run(expression, UTC, datetime.now(UTC).timestamp()) is None:
        raise ScheduleError(f"{expression!r} never matches a date")


def time_zone(name: str) -> tzinfo:
    """The zone of a job's ``time_zone``: a tz database name, or empty for UTC."""
    if not name or name.lower() == "utc":  # Google: "For UTC use the string 'utc'"
        return UTC
    if name not in _tz_names():
        raise ScheduleError(f"{name!r} is not a time zone of the tz database")
    return zoneinfo.ZoneInfo(name)


def next_run(expression: str, zone: tzinfo, after: float) -> float | None:
    """The first due time strictly after ``after`` (epoch seconds), or None if there is none."""
    for due in _runs(expression, zone, after):
        return due
    return None


def latest_run(expression: str, zone: tzinfo, after: float, not_after: float) -> float | None:
    """The last due time in ``(after, not_after]``, or None if there is none.

    Looks back over a window that doubles until it holds a due time, so a clock advanced by a
    year costs a few dozen steps for a per-minute job, not half a million.
    """
    window = _FIRST_WINDOW
    while True:
        start = max(after, not_after - window)
        latest = None
        for due in _runs(expression, zone, start):
            if due > not_after:
                break
            latest = due
        if latest is not None or start <= after:
            return latest
        window *= 2


def _runs(expression: str, zone: tzinfo, after: float) -> Iterator[float]:
    """Due times after ``after``, in order; the rules are those of the module docstring."""
    # cronsim stops iterating when it finds no match within 50 years.
    for local in CronSim(expression, datetime.fromtimestamp(after, zone)):
        due = local.timestamp()
        # cronsim walks fixed-time schedules in naive local time: from inside the second
        # copy of a repeated hour it can answer the first copy, which is already past.
        if due > after:
            yield due


@functools.cache
def _tz_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())
