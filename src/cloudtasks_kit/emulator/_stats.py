"""Counters the emulator exposes on its HTTP admin side, so tests can assert what it saw."""

from __future__ import annotations

from collections import Counter
from typing import Any

__all__ = ["Stats"]


class Stats:
    def __init__(self) -> None:
        self.rpcs: Counter[str] = Counter()
        self.attempts: Counter[str] = Counter()
        # Cloud Scheduler job attempts: succeeded, failed (to be retried), gave_up.
        self.job_attempts: Counter[str] = Counter()

    def as_dict(self) -> dict[str, Any]:
        return {
            "rpcs": dict(self.rpcs),
            "attempts": dict(self.attempts),
            "job_attempts": dict(self.job_attempts),
        }
