"""A token bucket: ``max_dispatches_per_second`` refills it, ``max_burst_size`` bounds it."""

from __future__ import annotations

__all__ = ["TokenBucket"]


class TokenBucket:
    def __init__(self, rate: float, capacity: int, now: float) -> None:
        self.rate = rate
        self.capacity = max(1, capacity)
        self._tokens = float(self.capacity)
        self._stamp = now

    def reconfigure(self, rate: float, capacity: int, now: float) -> None:
        """New limits from ``now`` on: the time before ``now`` refilled at the old rate."""
        self._refill(now)
        self.rate = rate
        self.capacity = max(1, capacity)
        self._tokens = min(self._tokens, float(self.capacity))

    def take(self, now: float) -> float:
        """Take one token if there is one and return 0, else return seconds until there is one."""
        self._refill(now)
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self.rate

    def _refill(self, now: float) -> None:
        if now > self._stamp:
            self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now

    def refund(self) -> None:
        self._tokens = min(float(self.capacity), self._tokens + 1.0)
