"""Retry delays as Cloud Tasks and Cloud Scheduler compute them (doubling, then linear)."""

from __future__ import annotations

__all__ = ["retry_delay"]


def retry_delay(
    retry_index: int, *, min_backoff: float, max_backoff: float, max_doublings: int
) -> float:
    """Seconds to wait before retry number ``retry_index`` (0 for the first retry).

    The interval doubles ``max_doublings`` times, then grows linearly by
    ``2**max_doublings * min_backoff`` per retry, capped at ``max_backoff``: with
    10 s / 300 s / 3 doublings that is 10, 20, 40, 80, 160, 240, 300, 300 s.
    """
    if retry_index <= max_doublings:
        delay = min_backoff * float(2**retry_index)
    else:
        step = min_backoff * float(2**max_doublings)
        delay = step * (1 + retry_index - max_doublings)
    return min(delay, max_backoff)
