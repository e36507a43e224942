from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudtasks_kit.emulator._backoff import retry_delay, retry_duration_spent


def test_documented_example() -> None:
    # Google's example: 10 s min, 300 s max, 3 doublings.
    delays = [retry_delay(i, min_backoff=10, max_backoff=300, max_doublings=3) for i in range(8)]
    assert delays == [10, 20, 40, 80, 160, 240, 300, 300]


@pytest.mark.parametrize("doublings", [0, 1, 5, 16])
def test_never_decreases_and_never_exceeds_max(doublings: int) -> None:
    delays = [
        retry_delay(i, min_backoff=0.1, max_backoff=3600, max_doublings=doublings)
        for i in range(40)
    ]
    assert delays == sorted(delays)
    assert max(delays) <= 3600
    assert delays[0] == 0.1


def test_retry_after_can_only_push_the_retry_later() -> None:
    def delay(retry_index: int, retry_after: float | None) -> float:
        return retry_delay(
            retry_index, min_backoff=10, max_backoff=300, max_doublings=3, retry_after=retry_after
        )

    assert delay(0, retry_after=45.0) == 45.0
    assert delay(0, retry_after=2.0) == 10.0
    # Past max_backoff as well: the target asked for it.
    assert delay(9, retry_after=900.0) == 900.0
    assert delay(9, retry_after=None) == 300.0


def _reference(
    retry_index: int, min_backoff: float, max_backoff: float, max_doublings: int
) -> float:
    """The curve as SEMANTICS.md words it, one retry at a time."""
    interval = min_backoff
    for done in range(retry_index):
        interval += interval if done < max_doublings else min_backoff * 2**max_doublings
    return min(interval, max_backoff)


@settings(max_examples=100)
@given(
    retry_index=st.integers(min_value=0, max_value=60),
    min_backoff=st.floats(min_value=0.01, max_value=100.0),
    spread=st.floats(min_value=1.0, max_value=1000.0),
    max_doublings=st.integers(min_value=0, max_value=16),
    retry_after=st.none() | st.floats(min_value=0.0, max_value=7200.0),
)
def test_matches_the_documented_curve(
    retry_index: int,
    min_backoff: float,
    spread: float,
    max_doublings: int,
    retry_after: float | None,
) -> None:
    max_backoff = min_backoff * spread
    delay = retry_delay(
        retry_index,
        min_backoff=min_backoff,
        max_backoff=max_backoff,
        max_doublings=max_doublings,
        retry_after=retry_after,
    )
    expected = _reference(retry_index, min_backoff, max_backoff, max_doublings)
    if retry_after is not None:
        expected = max(expected, retry_after)
    assert delay == pytest.approx(expected, rel=1e-9)


def test_zero_duration_leaves_the_count_to_decide() -> None:
    assert retry_duration_spent(0, first_attempt=100.0, now=100.0) is True


@pytest.mark.parametrize(
    ("max_retry_duration", "now", "spent"),
    [
        (1.0, 1000.5, False),
        (10.0, 1009.9, False),
        (10.0, 1010.0, True),  # "once it has passed": the moment it has counts
        (10.0, 1500.0, True),
    ],
)
def test_duration_counts_from_the_first_attempt(
    max_retry_duration: float, now: float, spent: bool
) -> None:
    assert retry_duration_spent(max_retry_duration, first_attempt=1000.0, now=now) is spent


@pytest.mark.parametrize(
    ("retry_index", "doublings"),
    [(5000, 2**31 - 1), (5000, 2000), (2**31 - 1, 16), (2**31 - 1, 2**31 - 1)],
)
def test_any_attempt_count_and_doubling_count_gives_a_delay(
    retry_index: int, doublings: int
) -> None:
    # A queue with max_attempts -1 retries for ever and max_doublings is any int32: the delay
    # is max_backoff, never an OverflowError that leaves the task between two attempts.
    for min_backoff, max_backoff in [(0.1, 3600.0), (3e11, 3.15e11)]:
        delay = retry_delay(
            retry_index, min_backoff=min_backoff, max_backoff=max_backoff, max_doublings=doublings
        )
        assert delay == max_backoff
