"""Cloud Tasks' tables on the shared database: queues, tasks with their attempt counters,
and the tombstones that keep deleted names taken for a while."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from .._store import Database

__all__ = ["AttemptOutcome", "TaskRow", "TaskStore"]

_SCHEMA = """
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
"""

_TASK_COLUMNS = (
    "name, queue, due, body, named, dispatch_count, response_count, execution_count, "
    "first_dispatch, last_dispatch, last_response, last_status"
)


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


class TaskStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        db.create_tables(_SCHEMA)

    def transaction(self) -> AbstractContextManager[None]:
        """Several writes committed together (a batch); the writes that open their own
        transaction nest inside it."""
        return self._db.transaction()

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
        with self._db.transaction():
            self._db.execute("DELETE FROM queues WHERE name = ?", (name,))
            self._db.execute("DELETE FROM tasks WHERE queue = ?", (name,))
            self._db.execute(
                "INSERT OR REPLACE INTO queue_tombstones (name, expires) VALUES (?, ?)",
                (name, tombstone_until),
            )

    # -- tasks ----------------------------------------------------------------------------

    def insert_task(self, row: TaskRow) -> None:
        self._db.insert_new(
            "INSERT INTO tasks (name, queue, due, body, named) VALUES (?, ?, ?, ?, ?)",
            (row.name, row.queue, row.due, row.body, int(row.named)),
            row.name,
        )

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
        with self._db.transaction():
            cursor = self._db.execute("DELETE FROM tasks WHERE name = ?", (name,))
            if cursor.rowcount == 1 and tombstone_until is not None:
                self._db.execute(
                    "INSERT OR REPLACE INTO task_tombstones (name, expires, reason) "
                    "VALUES (?, ?, ?)",
                    (name, tombstone_until, reason),
                )
        return cursor.rowcount == 1

    def purge(self, queue: str, tombstone_until: float) -> int:
        """Delete every task of ``queue``; like deleted tasks, their names stay taken until
        ``tombstone_until``."""
        with self._db.transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO task_tombstones (name, expires, reason) "
                "SELECT name, ?, 'purged' FROM tasks WHERE queue = ?",
                (tombstone_until, queue),
            )
            return self._db.execute("DELETE FROM tasks WHERE queue = ?", (queue,)).rowcount

    def reset_queue(self, queue: str) -> int:
        """Delete every task of ``queue`` and release every name its tasks left taken."""
        prefix = queue + "/tasks/"
        with self._db.transaction():
            self._db.execute(
                "DELETE FROM task_tombstones WHERE name > ? AND name < ?",
                (prefix, prefix + "\uffff"),
            )
            return self._db.execute("DELETE FROM tasks WHERE queue = ?", (queue,)).rowcount

    def reset(self) -> None:
        """Delete every queue, task and tombstone."""
        with self._db.transaction():
            for table in ("queues", "queue_tombstones", "tasks", "task_tombstones"):
                self._db.execute(f"DELETE FROM {table}")

    def expire_tombstones(self, now: float) -> None:
        self._db.execute("DELETE FROM task_tombstones WHERE expires <= ?", (now,))
        self._db.execute("DELETE FROM queue_tombstones WHERE expires <= ?", (now,))


def _task_row(found: Any) -> TaskRow:
    # Columns come back in _TASK_COLUMNS order, which is TaskRow's field order.
    name, queue, due, body, named, *counters = found
    return TaskRow(name, queue, due, body, bool(named), *counters)
