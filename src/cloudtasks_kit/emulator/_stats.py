"""Counters the emulator exposes on its HTTP side, so tests can assert what it saw: the admin
JSON (``/admin/stats``) and, through :class:`Metrics`, ``/metrics`` for Prometheus."""

from __future__ import annotations

from collections import Counter
from typing import Any

from ._metrics import Metrics

__all__ = ["Stats"]


class Stats:
    def __init__(self) -> None:
        self.rpcs: Counter[str] = Counter()
        self.attempts: Counter[str] = Counter()
        # Cloud Scheduler job attempts: succeeded, failed (to be retried), gave_up.
        self.job_attempts: Counter[str] = Counter()
        # Everything passes Stats already: the Prometheus metrics ride along.
        self.metrics = Metrics()

    def as_dict(self) -> dict[str, Any]:
        return {
            "rpcs": dict(self.rpcs),
            "attempts": dict(self.attempts),
            "job_attempts": dict(self.job_attempts),
        }
