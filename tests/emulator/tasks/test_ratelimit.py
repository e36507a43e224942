from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudtasks_kit.emulator.tasks._ratelimit import TokenBucket


def test_burst_then_rate() -> None:
    bucket = TokenBucket(rate=2.0, capacity=3, now=0.0)
    assert [bucket.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(0.0) == 0.5
    assert bucket.take(0.5) == 0.0
    assert bucket.take(0.5) == 0.5


def test_a_bucket_of_one_lets_one_through() -> None:
    bucket = TokenBucket(rate=1.0, capacity=1, now=0.0)
    assert bucket.take(0.0) == 0.0
    assert bucket.take(0.0) == 1.0


def test_a_burst_size_of_zero_still_dispatches_one_at_a_time() -> None:
    bucket = TokenBucket(rate=1.0, capacity=0, now=0.0)
    assert bucket.capacity == 1
    assert bucket.take(0.0) == 0.0
    assert bucket.take(0.0) == 1.0


def test_refill_never_exceeds_capacity() -> None:
    bucket = TokenBucket(rate=100.0, capacity=2, now=0.0)
    assert bucket.take(1000.0) == 0.0
    assert bucket.take(1000.0) == 0.0
    assert bucket.take(1000.0) > 0.0


def test_refill_counts_from_the_last_take_not_from_zero() -> None:
    bucket = TokenBucket(rate=1.0, capacity=3, now=1000.0)
    assert [bucket.take(1000.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(1000.5) == 0.5
    assert bucket.take(1001.0) == 0.0


def test_the_wait_counts_the_part_of_a_token_already_there() -> None:
    bucket = TokenBucket(rate=2.0, capacity=1, now=0.0)
    assert bucket.take(0.0) == 0.0
    assert bucket.take(0.25) == 0.25  # half a token refilled, half to go at 2/s


def test_refund_returns_a_token() -> None:
    bucket = TokenBucket(rate=1.0, capacity=1, now=0.0)
    assert bucket.take(0.0) == 0.0
    bucket.refund()
    assert bucket.take(0.0) == 0.0


def test_refund_returns_one_token_only() -> None:
    bucket = TokenBucket(rate=1.0, capacity=3, now=0.0)
    assert [bucket.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    bucket.refund()
    assert bucket.take(0.0) == 0.0
    assert bucket.take(0.0) == 1.0


def test_refund_never_exceeds_capacity() -> None:
    bucket = TokenBucket(rate=1.0, capacity=2, now=0.0)
    bucket.refund()
    assert [bucket.take(0.0) for _ in range(3)] == [0.0, 0.0, 1.0]


def test_reconfigure_sets_the_new_rate_and_burst() -> None:
    bucket = TokenBucket(rate=1.0, capacity=1, now=0.0)
    bucket.reconfigure(4.0, 3, 0.0)
    assert (bucket.rate, bucket.capacity) == (4.0, 3)
    # The tokens it had stay (one); the larger bucket fills at the new rate.
    assert bucket.take(0.0) == 0.0
    assert bucket.take(0.0) == 0.25
    assert [bucket.take(1.0) for _ in range(4)] == [0.0, 0.0, 0.0, 0.25]


def test_reconfigure_to_a_smaller_burst_drops_the_tokens_above_it() -> None:
    bucket = TokenBucket(rate=1.0, capacity=5, now=0.0)
    bucket.reconfigure(1.0, 2, 0.0)
    assert [bucket.take(0.0) for _ in range(3)] == [0.0, 0.0, 1.0]
    bucket.reconfigure(1.0, 0, 0.0)
    assert bucket.capacity == 1


def test_reconfigure_refills_the_time_before_at_the_old_rate() -> None:
    # Emptied at 0, idle at 1/s until 10: full again. A rate lowered at 10 does not reach back.
    bucket = TokenBucket(rate=1.0, capacity=5, now=0.0)
    assert [bucket.take(0.0) for _ in range(5)] == [0.0] * 5
    bucket.reconfigure(0.01, 5, 10.0)
    assert [bucket.take(10.0) for _ in range(5)] == [0.0] * 5
    assert bucket.take(10.0) == pytest.approx(100.0)
    # Nor does a rate raised now: the idle time before it refilled at 0.01/s.
    bucket.reconfigure(1000.0, 5, 20.0)
    assert bucket.take(20.0) == pytest.approx((1.0 - 0.1) / 1000.0)


# A run of takes at increasing times: (seconds since the previous take, refund after it).
_steps = st.lists(
    st.tuples(st.floats(min_value=0.0, max_value=5.0), st.booleans()), min_size=1, max_size=40
)


@settings(max_examples=100)
@given(
    rate=st.floats(min_value=0.1, max_value=50.0),
    capacity=st.integers(min_value=0, max_value=10),
    steps=_steps,
)
def test_never_more_than_the_burst_plus_the_rate_allows(
    rate: float, capacity: int, steps: list[tuple[float, bool]]
) -> None:
    bucket = TokenBucket(rate, capacity, now=0.0)
    now, granted = 0.0, 0
    for gap, refund in steps:
        now += gap
        wait = bucket.take(now)
        assert wait >= 0.0
        if wait == 0.0:
            granted += 0 if refund else 1
            if refund:
                bucket.refund()
        else:
            # The wait is exact: a token is there once it has passed, not before (unless the
            # wait is a rounding error's hair, shorter than the clock can tell apart).
            if wait > 1e-9:
                assert bucket.take(now + wait * 0.99) > 0.0
            now += wait
            late = bucket.take(now)
            assert late <= 1e-9  # rounding may leave a hair of a token to wait for
            granted += late == 0.0
        assert granted <= max(1, capacity) + rate * now + 1e-6
