"""Checks of field values both APIs share: timestamps and durations inside the range protobuf
defines for them, numbers that are finite.

A value outside these cannot be converted, compared, stored or sent back to a client, so it is
refused where it comes in, as INVALID_ARGUMENT naming the field, and never becomes an INTERNAL
later. What the emulator writes into a Timestamp is clamped into the range the same way.
"""

from __future__ import annotations

import math
from typing import Any

from ._errors import invalid_argument

__all__ = [
    "MAX_TIMESTAMP",
    "MIN_TIMESTAMP",
    "check_duration",
    "check_finite",
    "check_timestamp",
    "set_timestamp",
]

#: google.protobuf.Timestamp: "from 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z".
MIN_TIMESTAMP = -62_135_596_800
MAX_TIMESTAMP = 253_402_300_799
#: google.protobuf.Duration: "from -315,576,000,000 to +315,576,000,000 inclusive" seconds
#: (10,000 years), nanos of the same sign below one second.
MAX_DURATION = 315_576_000_000
_NANOS = 1_000_000_000


def check_timestamp(stamp: Any, field: str) -> float:
    """Epoch seconds of a ``Timestamp``; INVALID_ARGUMENT naming ``field`` if it is not one."""
    seconds, nanos = int(stamp.seconds), int(stamp.nanos)
    if not (MIN_TIMESTAMP <= seconds <= MAX_TIMESTAMP and 0 <= nanos < _NANOS):
        raise invalid_argument(
            f"{field}: seconds={seconds} nanos={nanos} is not a valid timestamp "
            "(0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z, nanos 0 to 999999999)"
        )
    return seconds + nanos / _NANOS


def check_duration(duration: Any, field: str, *, negative: bool = False) -> float:
    """Seconds of a ``Duration``; INVALID_ARGUMENT naming ``field`` if it is not a valid one,
    or if it is negative and ``negative`` is false."""
    seconds, nanos = int(duration.seconds), int(duration.nanos)
    valid = (
        -MAX_DURATION <= seconds <= MAX_DURATION
        and -_NANOS < nanos < _NANOS
        and not (seconds > 0 > nanos or seconds < 0 < nanos)
    )
    if not valid:
        raise invalid_argument(
            f"{field}: seconds={seconds} nanos={nanos} is not a valid duration "
            "(at most 10,000 years, nanos of the same sign)"
        )
    value = seconds + nanos / _NANOS
    if value < 0 and not negative:
        raise invalid_argument(f"{field}: must not be negative")
    return value


def check_finite(value: float, field: str) -> float:
    if not math.isfinite(value):
        raise invalid_argument(f"{field}: {value} is not a finite number")
    return value


def set_timestamp(stamp: Any, seconds: float) -> None:
    """Write epoch ``seconds`` into ``stamp``, clamped into the range of a Timestamp."""
    if MIN_TIMESTAMP < seconds < MAX_TIMESTAMP:  # "now" and nearly every other time
        stamp.FromNanoseconds(round(seconds * _NANOS))
        return
    nanos = round(min(max(seconds, MIN_TIMESTAMP), MAX_TIMESTAMP + 0.999_999) * _NANOS)
    nanos = min(max(nanos, MIN_TIMESTAMP * _NANOS), MAX_TIMESTAMP * _NANOS + _NANOS - 1)
    stamp.FromNanoseconds(nanos)
