"""How the console writes times, durations, statuses and bodies: the templates' filters."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from markupsafe import Markup

__all__ = ["body_text", "duration", "moment", "rate", "seconds_of", "status_kind"]

_BODY_SHOWN = 64 * 1024


def seconds_of(stamp: Any) -> float | None:
    """A protobuf Timestamp as epoch seconds; ``None`` when unset."""
    nanos = stamp.ToNanoseconds()
    return None if nanos == 0 else nanos / 1e9


def moment(seconds: float | None, now: float) -> Markup:
    """``in 5 min`` / ``3 s ago``, with the absolute UTC time beside it and as the tooltip."""
    if seconds is None:
        return Markup('<span class="muted">never</span>')
    stamp = datetime.fromtimestamp(seconds, UTC)
    iso = stamp.isoformat(timespec="seconds").replace("+00:00", "Z")
    absolute = stamp.strftime("%Y-%m-%d %H:%M:%S UTC")
    delta = seconds - now
    relative = f"in {duration(delta)}" if delta > 0.5 else f"{duration(-delta)} ago"
    if abs(delta) <= 0.5:
        relative = "now"
    return Markup('<time datetime="{}" title="{}">{}</time> <span class="abs">{}</span>').format(
        iso, absolute, relative, absolute
    )


def duration(seconds: float) -> str:
    """A readable span: ``850 ms``, ``12 s``, ``5 min``, ``3 h 20 min``, ``2 d 4 h``."""
    seconds = max(0.0, seconds)
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def rate(per_second: float) -> str:
    """Dispatches per second: ``0.03`` (2 in the last minute) as readable as ``120``."""
    if per_second >= 10:
        return f"{per_second:.0f}"
    return f"{per_second:.1f}" if per_second >= 1 else f"{per_second:.2f}"


def status_kind(status: int | None, responded: bool = True) -> str:
    """The CSS class of an HTTP status: ok, client (4xx), error (5xx or no response)."""
    if status is None:
        return "muted"
    if not responded or status >= 500:
        return "error"
    if status >= 300:
        return "client"
    return "ok"


def body_text(body: bytes) -> tuple[str, str]:
    """(what to show, what it is): JSON pretty-printed, text as it is, else a byte count."""
    if not body:
        return "", "empty"
    shown = body[:_BODY_SHOWN]
    suffix = f"\n… {len(body) - _BODY_SHOWN} more bytes" if len(body) > _BODY_SHOWN else ""
    try:
        text = shown.decode("utf-8")
    except UnicodeDecodeError:
        return f"{len(body)} bytes, not UTF-8 text", "binary"
    try:
        return json.dumps(json.loads(body), indent=2, ensure_ascii=False), "JSON"
    except ValueError:
        return text + suffix, "text"
