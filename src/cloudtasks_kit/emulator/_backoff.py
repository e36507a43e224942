"""When a failed attempt is retried, as Cloud Tasks and Cloud Scheduler compute it: the delay
(doubling, then linear) and the time limit of the retries."""

from __future__ import annotations

__all__ = ["retry_delay", "retry_duration_spent"]

_MAX_EXPONENT = 1000


def retry_delay(
    retry_index: int,
    *,
    min_backoff: float,
    max_backoff: float,
    max_doublings: int,
    retry_after: float | None = None,
) -> float:
    """Seconds to wait before retry number ``retry_index`` (0 for the first retry).

    The interval doubles ``max_doublings`` times, then grows linearly by
    ``2**max_doublings * min_backoff`` per retry, capped at ``max_backoff``: with
    10 s / 300 s / 3 doublings that is 10, 20, 40, 80, 160, 240, 300, 300 s. A
    ``Retry-After`` the target answered with (429, 503) can only push the retry later.
    """
    # Past 2**1000 every delay is over any max_backoff a Duration can hold: the exponent is
    # capped there, so that a huge max_doublings or attempt count never overflows a float.
    if retry_index <= max_doublings:
        delay = min_backoff * 2.0 ** min(retry_index, _MAX_EXPONENT)
    else:
        step = min_backoff * 2.0 ** min(max_doublings, _MAX_EXPONENT)
        delay = step * (1 + retry_index - max_doublings)
    delay = min(delay, max_backoff)
    return delay if retry_after is None else max(delay, retry_after)


def retry_duration_spent(max_retry_duration: float, first_attempt: float, now: float) -> bool:
    """Whether ``max_retry_duration`` no longer keeps a task or job retrying.

    Retries stop once the attempt count *and* this duration are both spent; a duration of 0
    sets no time limit, so the count alone decides.
    """
    return max_retry_duration == 0 or now - first_attempt >= max_retry_duration
