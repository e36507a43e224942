"""SQLite state of the emulator: queues, tasks with their attempt counters, tombstones, jobs.

Every write is committed before the API answers, so a task the client was told exists
survives ``kill -9``. WAL with ``synchronous=NORMAL`` makes each commit a buffered append:
safe against the process dying (not against the machine losing power, which a development
emulator need not survive) and cheap enough for thousands of creates a second.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["AttemptOutcome", "DuplicateName", "Store", "TaskRow"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS queues (name TEXT PRIMARY KEY, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS queue_tombstones (name TEXT PRIMARY KEY, expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (
    name TEXT PRIMARY KEY,
    queue TEXT NOT NULL,
    due REAL NOT NULL,
    body BLOB NOT NULL,
    named INTEGER NOT NULL,
    dispatch_count INTEGER NOT NULL DEFAULT 0,
    response_count INTEGER NOT NULL DEFAULT 0,
    execution_count INTEGER NOT NULL DEFAULT 0,
    first_dispatch REAL,
    last_dispatch REAL,
    last_response REAL,
    last_status INTEGER
);
CREATE TABLE IF NOT EXISTS task_tombstones (
    name TEXT PRIMARY KEY, expires REAL NOT NULL, reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (name TEXT PRIMARY KEY, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS job_runs (name TEXT PRIMARY KEY, last_fired REAL NOT NULL);
"""

_TASK_COLUMNS = (
    "name, queue, due, body, named, dispatch_count, response_count, execution_count, "
    "first_dispatch, last_dispatch, last_response, last_status"
)


class DuplicateName(Exception):
    """A task (or job) with that name is stored already."""


@dataclass(slots=True)
class TaskRow:
    """A stored task. ``body`` is the serialized Task as created; counters live in columns
    so that recording an attempt is one small UPDATE, not a re-serialization."""

    name: str
    queue: str
    due: float
    body: bytes
    named: bool
    dispatch_count: int = 0
    response_count: int = 0
    execution_count: int = 0
    first_dispatch: float | None = None
    last_dispatch: float | None = None
    last_response: float | None = None
    # HTTP status of the last attempt (a gateway code when it got no response).
    last_status: int | None = None


@dataclass(frozen=True, slots=True)
class AttemptOutcome:
    status: int
    responded_at: float | None  # None: no response (deadline, refused, not HTTP)

    @property
    def responded(self) -> bool:
        return self.responded_at is not None

    @property
    def executed(self) -> bool:
        # Cloud Tasks counts an execution for any response but a 5xx.
        return self.responded and not 500 <= self.status <= 599


class Store:
    def __init__(self, path: str | Path | None) -> None:
        self.path = str(path) if path is not None else ":memory:"
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        if path is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    # -- meta -----------------------------------------------------------------------------

    def get_meta(self, key: str) -> bytes | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def set_meta(self, key: str, value: bytes) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # -- queues ---------------------------------------------------------------------------

    def queues(self) -> list[tuple[str, bytes]]:
        return [
            (name, bytes(body))
            for name, body in self._db.execute("SELECT name, body FROM queues ORDER BY name")
        ]

    def put_queue(self, name: str, body: bytes) -> None:
        self._db.execute("INSERT OR REPLACE INTO queues (name, body) VALUES (?, ?)", (name, body))

    def queue_tombstone(self, name: str, now: float) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM queue_tombstones WHERE name = ? AND expires > ?", (name, now)
        ).fetchone()
        return row is not None

    def delete_queue(self, name: str, tombstone_until: float) -> None:
        with self._transaction():
            self._db.execute("DELETE FROM queues WHERE name = ?", (name,))
            self._db.execute("DELETE FROM tasks WHERE queue = ?", (name,))
            self._db.execute(
                "INSERT OR REPLACE INTO queue_tombstones (name, expires) VALUES (?, ?)",
                (name, tombstone_until),
            )

    # -- tasks ----------------------------------------------------------------------------

    def insert_task(self, row: TaskRow) -> None:
        try:
            self._db.execute(
                "INSERT INTO tasks (name, queue, due, body, named) VALUES (?, ?, ?, ?, ?)",
                (row.name, row.queue, row.due, row.body, int(row.named)),
            )
        except sqlite3.IntegrityError as exc:
            raise DuplicateName(row.name) from exc

    def task(self, name: str) -> TaskRow | None:
        found = self._db.execute(
            f"SELECT {_TASK_COLUMNS} FROM tasks WHERE name = ?", (name,)
        ).fetchone()
        return None if found is None else _task_row(found)

    def tasks(self, queue: str, after: str, limit: int) -> list[TaskRow]:
        # Task names extend their queue's name, so the primary key orders them by queue.
        prefix = queue + "/tasks/"
        rows = self._db.execute(
            f"SELECT {_TASK_COLUMNS} FROM tasks WHERE name > ? AND name < ? ORDER BY name LIMIT ?",
            (max(after, prefix), prefix + "\uffff", limit),
        )
        return [_task_row(found) for found in rows]

    def pending(self) -> Iterator[tuple[str, str, float]]:
        """(queue, name, due) of every stored task, to rebuild the dispatch schedule."""
        yield from self._db.execute("SELECT queue, name, due FROM tasks")

    def tombstone_reason(self, name: str, now: float) -> str | None:
        row = self._db.execute(
            "SELECT reason FROM task_tombstones WHERE name = ? AND expires > ?", (name, now)
        ).fetchone()
        return None if row is None else str(row[0])

    def reschedule(self, name: str, due: float) -> bool:
        cursor = self._db.execute("UPDATE tasks SET due = ? WHERE name = ?", (due, name))
        return cursor.rowcount == 1

    def start_attempt(self, name: str, now: float) -> None:
        self._db.execute(
            "UPDATE tasks SET dispatch_count = dispatch_count + 1, "
            "first_dispatch = COALESCE(first_dispatch, ?), last_dispatch = ?, "
            "last_response = NULL, last_status = NULL WHERE name = ?",
            (now, now, name),
        )

    def fail_attempt(self, name: str, outcome: AttemptOutcome, retry_at: float) -> bool:
        """Record a failed attempt and the time of the retry. False if the task is gone."""
        cursor = self._db.execute(
            "UPDATE tasks SET due = ?, last_status = ?, last_response = ?, "
            "response_count = response_count + ?, execution_count = execution_count + ? "
            "WHERE name = ?",
            (
                retry_at,
                outcome.status,
                outcome.responded_at,
                int(outcome.responded),
                int(outcome.executed),
                name,
            ),
        )
        return cursor.rowcount == 1

    def remove_task(self, name: str, tombstone_until: float | None, reason: str) -> bool:
        """Delete a task (done, given up or deleted); a tombstone keeps its name taken."""
        with self._transaction():
            cursor = self._db.execute("DELETE FROM tasks WHERE name = ?", (name,))
            if cursor.rowcount == 1 and tombstone_until is not None:
                self._db.execute(
                    "INSERT OR REPLACE INTO task_tombstones (name, expires, reason) "
                    "VALUES (?, ?, ?)",
                    (name, tombstone_until, reason),
                )
        return cursor.rowcount == 1

    def purge(self, queue: str) -> int:
        return self._db.execute("DELETE FROM tasks WHERE queue = ?", (queue,)).rowcount

    def expire_tombstones(self, now: float) -> None:
        self._db.execute("DELETE FROM task_tombstones WHERE expires <= ?", (now,))
        self._db.execute("DELETE FROM queue_tombstones WHERE expires <= ?", (now,))

    # -- jobs (Cloud Scheduler) -----------------------------------------------------------
    # ``body`` is the serialized Job with its output fields; ``job_runs`` remembers the
    # schedule time of the last run fired, so that no scheduled time ever fires twice.

    def jobs(self) -> list[tuple[str, bytes]]:
        return [
            (name, bytes(body))
            for name, body in self._db.execute("SELECT name, body FROM jobs ORDER BY name")
        ]

    def job(self, name: str) -> bytes | None:
        row = self._db.execute("SELECT body FROM jobs WHERE name = ?", (name,)).fetchone()
        return None if row is None else bytes(row[0])

    def put_job(self, name: str, body: bytes) -> None:
        self._db.execute("INSERT OR REPLACE INTO jobs (name, body) VALUES (?, ?)", (name, body))

    def insert_job(self, name: str, body: bytes) -> None:
        try:
            self._db.execute("INSERT INTO jobs (name, body) VALUES (?, ?)", (name, body))
        except sqlite3.IntegrityError as exc:
            raise DuplicateName(name) from exc

    def delete_job(self, name: str) -> bool:
        with self._transaction():
            cursor = self._db.execute("DELETE FROM jobs WHERE name = ?", (name,))
            self._db.execute("DELETE FROM job_runs WHERE name = ?", (name,))
        return cursor.rowcount == 1

    def last_fired(self, name: str) -> float | None:
        row = self._db.execute("SELECT last_fired FROM job_runs WHERE name = ?", (name,)).fetchone()
        return None if row is None else float(row[0])

    def fire_job(self, name: str, body: bytes, schedule_time: float) -> None:
        """Record, in one commit, that the run due at ``schedule_time`` starts now and the
        job's next ``schedule_time`` (inside ``body``): a crash after this never repeats it."""
        with self._transaction():
            self._db.execute("UPDATE jobs SET body = ? WHERE name = ?", (body, name))
            self._db.execute(
                "INSERT OR REPLACE INTO job_runs (name, last_fired) VALUES (?, ?)",
                (name, schedule_time),
            )

    # -- helpers --------------------------------------------------------------------------

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")


def _task_row(found: Any) -> TaskRow:
    # Columns come back in _TASK_COLUMNS order, which is TaskRow's field order.
    name, queue, due, body, named, *counters = found
    return TaskRow(name, queue, due, body, bool(named), *counters)
