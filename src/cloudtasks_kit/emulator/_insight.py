"""What the stores know beyond the APIs, for the console and ``/metrics``: every attempt of a
task or a job (the API keeps only the first and the last, as Google defines them), and how
many of a queue's tasks wait, run or wait to be retried."""

from __future__ import annotations

from dataclasses import dataclass

from ._http_attempt import HttpOutcome
from ._store import Database

__all__ = [
    "ATTEMPTS_KEPT",
    "Attempt",
    "QueueCounts",
    "attempts_table",
    "keep_attempt",
    "read_attempts",
]

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


def attempts_table(table: str) -> str:
    """The schema of a half's attempts table (``task_attempts``, ``job_attempts``): the same
    columns for a task's attempts and a job's."""
    return f"""
CREATE TABLE IF NOT EXISTS {table} (
    name TEXT NOT NULL,
    number INTEGER NOT NULL,
    at REAL NOT NULL,
    latency REAL NOT NULL,
    status INTEGER NOT NULL,
    responded INTEGER NOT NULL,
    excerpt TEXT NOT NULL,
    PRIMARY KEY (name, number)
) WITHOUT ROWID;
"""


def read_attempts(db: Database, table: str, name: str) -> list[Attempt]:
    """The latest attempts of task or job ``name`` in ``table``, the newest first."""
    rows = db.execute(
        f"SELECT number, at, latency, status, responded, excerpt FROM {table} "
        "WHERE name = ? ORDER BY number DESC",
        (name,),
    )
    return [
        Attempt(number, at, latency, status, bool(responded), excerpt)
        for number, at, latency, status, responded, excerpt in rows
    ]


def keep_attempt(db: Database, table: str, name: str, number: int, attempt: Attempt) -> None:
    """Keep ``attempt`` of ``name`` in ``table`` as attempt ``number`` (replacing one kept under
    that number) and drop what is older than the last :data:`ATTEMPTS_KEPT`."""
    db.execute(
        f"INSERT OR REPLACE INTO {table} "
        "(name, number, at, latency, status, responded, excerpt) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            name,
            number,
            attempt.dispatched_at,
            attempt.latency,
            attempt.status,
            int(attempt.responded),
            attempt.excerpt,
        ),
    )
    if number > ATTEMPTS_KEPT:
        db.execute(
            f"DELETE FROM {table} WHERE name = ? AND number <= ?", (name, number - ATTEMPTS_KEPT)
        )
