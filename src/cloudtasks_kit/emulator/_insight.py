"""What the stores know beyond the APIs, for the console and ``/metrics``: every attempt of a
task or a job (the API keeps only the first and the last, as Google defines them), and how
many of a queue's tasks wait, run or wait to be retried."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ._http_attempt import HttpOutcome

__all__ = ["ATTEMPTS_KEPT", "ATTEMPT_COLUMNS", "Attempt", "QueueCounts", "attempts_of"]

#: Attempts kept per task or job, the latest: a task retried for days keeps a bounded history.
ATTEMPTS_KEPT = 20


@dataclass(frozen=True, slots=True)
class Attempt:
    #: 1 for the first attempt of a task (its dispatch count), or of a job's run.
    number: int
    #: When it was sent, in the emulator's clock (epoch seconds).
    dispatched_at: float
    #: Seconds until the answer, or until it was given up (deadline, refused).
    latency: float
    #: The HTTP status; when no response came, the gateway code recorded for it (503, 504).
    status: int
    responded: bool
    #: The start of the response body, or why no response came.
    excerpt: str

    @property
    def succeeded(self) -> bool:
        return self.responded and 200 <= self.status <= 299

    @classmethod
    def of(cls, number: int, outcome: HttpOutcome, finished_at: float) -> Attempt:
        return cls(
            number=number,
            dispatched_at=finished_at - outcome.latency,
            latency=outcome.latency,
            status=outcome.status,
            responded=outcome.responded,
            excerpt=outcome.excerpt if outcome.responded else (outcome.error or ""),
        )


@dataclass(frozen=True, slots=True)
class QueueCounts:
    """A queue's stored tasks by where they are; kept in memory, so reading is free."""

    #: Every stored task: not yet attempted, in flight, or waiting for a retry.
    tasks: int = 0
    #: Stored tasks attempted at least once (those in flight among them).
    attempted: int = 0
    #: In flight now.
    running: int = 0

    @property
    def waiting(self) -> int:
        """Never attempted yet (due later, or due and waiting for a rate-limit token)."""
        return max(0, self.tasks - self.attempted)

    @property
    def retrying(self) -> int:
        """Attempted, failed, and waiting for the retry."""
        return max(0, self.attempted - self.running)


#: The columns both halves keep an attempt in (``task_attempts``, ``job_attempts``), in order.
ATTEMPT_COLUMNS = "number, at, latency, status, responded, excerpt"


def attempts_of(rows: Iterable[Any]) -> list[Attempt]:
    """Attempts from rows of :data:`ATTEMPT_COLUMNS`."""
    return [
        Attempt(number, at, latency, status, bool(responded), excerpt)
        for number, at, latency, status, responded, excerpt in rows
    ]
