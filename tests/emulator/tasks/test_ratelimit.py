from __future__ import annotations

from cloudtasks_kit.emulator.tasks._ratelimit import TokenBucket


def test_burst_then_rate() -> None:
    bucket = TokenBucket(rate=2.0, capacity=3, now=0.0)
    assert [bucket.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(0.0) == 0.5
    assert bucket.take(0.5) == 0.0
    assert bucket.take(0.5) == 0.5


def test_refill_never_exceeds_capacity() -> None:
    bucket = TokenBucket(rate=100.0, capacity=2, now=0.0)
    assert bucket.take(1000.0) == 0.0
    assert bucket.take(1000.0) == 0.0
    assert bucket.take(1000.0) > 0.0


def test_refund_returns_a_token() -> None:
    bucket = TokenBucket(rate=1.0, capacity=1, now=0.0)
    assert bucket.take(0.0) == 0.0
    bucket.refund()
    assert bucket.take(0.0) == 0.0
