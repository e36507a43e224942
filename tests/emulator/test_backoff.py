from __future__ import annotations

import pytest

from cloudtasks_kit.emulator._backoff import retry_delay


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
