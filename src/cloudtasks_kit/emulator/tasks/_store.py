"""Cloud Tasks' tables on the shared database: queues, tasks with their attempt counters,
the tombstones that keep deleted names taken for a while, and each task's latest attempts
(for the console; kept as long as the task's tombstone). A queue's counts are kept in memory,
so the console and ``/metrics`` read them for free however long the queue."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from .._insight import Attempt, attempts_table, keep_attempt, read_attempts
from .._store import Database

__all__ = ["AttemptOutcome", "TaskRow", "TaskStore"]

_SCHEMA = (
    attempts_table("task_attempts")
    + """
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
CREATE INDEX IF NOT EXISTS task_attempts_at ON task_attempts (at);
"""
)

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
    def __init__(self, db: Database, *, history_ttl: float = 3600.0) -> None:
        self._db = db
        # A finished task's attempts stay readable as long as its name stays taken.
        self._history_ttl = history_ttl
        db.create_tables(_SCHEMA)
        # queue -> stored tasks, and the names of those attempted at least once.
        self._counts: Counter[str] = Counter(
            dict(db.execute("SELECT queue, COUNT(*) FROM tasks GROUP BY queue").fetchall())
        )
        self._attempted: dict[str, set[str]] = {}
        for queue, name in db.execute("SELECT queue, name FROM tasks WHERE dispatch_count > 0"):
            self._attempted.setdefault(queue, set()).add(name)

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
            self._forget_attempts(name)
            self._db.execute(
                "INSERT OR REPLACE INTO queue_tombstones (name, expires) VALUES (?, ?)",
                (name, tombstone_until),
            )
        self._forget_counts(name)

    # -- tasks ----------------------------------------------------------------------------

    def insert_task(self, row: TaskRow) -> None:
        self._db.insert_new(
            "INSERT INTO tasks (name, queue, due, body, named) VALUES (?, ?, ?, ?, ?)",
            (row.name, row.queue, row.due, row.body, int(row.named)),
            row.name,
        )
        if row.named:  # a name used again once its tombstone expired: a history of its own
            self._db.execute("DELETE FROM task_attempts WHERE name = ?", (row.name,))
        self._counts[row.queue] += 1

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

    def browse(
        self, queue: str, *, after: str, prefix: str, attempted: bool | None, limit: int
    ) -> list[TaskRow]:
        """A page of the console's task list: ids starting with ``prefix``, after the name
        ``after``, attempted or not (``None``: both); in name order, on the primary key."""
        low = queue + "/tasks/" + prefix
        condition = {None: "", True: " AND dispatch_count > 0", False: " AND dispatch_count = 0"}
        rows = self._db.execute(
            f"SELECT {_TASK_COLUMNS} FROM tasks WHERE name >= ? AND name > ? AND name < ?"
            f"{condition[attempted]} ORDER BY name LIMIT ?",
            (low, after, low + "\uffff", limit),
        )
        return [_task_row(found) for found in rows]

    @property
    def database(self) -> Database:
        """The state file these tables are in (others keep theirs there too)."""
        return self._db

    def counts(self, queue: str) -> tuple[int, int]:
        """(stored tasks, of which attempted at least once) of ``queue``."""
        return self._counts[queue], len(self._attempted.get(queue, ()))

    def attempts(self, name: str) -> list[Attempt]:
        """The task's latest attempts, the newest first (kept after it ended, for a while)."""
        return read_attempts(self._db, "task_attempts", name)

    def record_attempt(self, name: str, attempt: Attempt) -> None:
        keep_attempt(self._db, "task_attempts", name, attempt.number, attempt)

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
        cursor = self._db.execute(
            "UPDATE tasks SET dispatch_count = dispatch_count + 1, "
            "first_dispatch = COALESCE(first_dispatch, ?), last_dispatch = ?, "
            "last_response = NULL, last_status = NULL WHERE name = ?",
            (now, now, name),
        )
        if cursor.rowcount == 1:
            self._attempted.setdefault(_queue_of(name), set()).add(name)

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
        if cursor.rowcount == 1:
            queue = _queue_of(name)
            self._counts[queue] -= 1
            self._attempted.get(queue, set()).discard(name)
        return cursor.rowcount == 1

    def purge(self, queue: str, tombstone_until: float) -> int:
        """Delete every task of ``queue`` and its attempt history; like deleted tasks, their
        names stay taken until ``tombstone_until``."""
        with self._db.transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO task_tombstones (name, expires, reason) "
                "SELECT name, ?, 'purged' FROM tasks WHERE queue = ?",
                (tombstone_until, queue),
            )
            purged = self._db.execute("DELETE FROM tasks WHERE queue = ?", (queue,)).rowcount
            self._forget_attempts(queue)
        self._forget_counts(queue)
        return purged

    def reset_queue(self, queue: str) -> int:
        """Delete every task of ``queue`` and its attempt history, and release every name its
        tasks left taken."""
        prefix = queue + "/tasks/"
        with self._db.transaction():
            self._db.execute(
                "DELETE FROM task_tombstones WHERE name > ? AND name < ?",
                (prefix, prefix + "\uffff"),
            )
            removed = self._db.execute("DELETE FROM tasks WHERE queue = ?", (queue,)).rowcount
            self._forget_attempts(queue)
        self._forget_counts(queue)
        return removed

    def reset(self) -> None:
        """Delete every queue, task, attempt history and tombstone."""
        with self._db.transaction():
            for table in (
                "queues",
                "queue_tombstones",
                "tasks",
                "task_tombstones",
                "task_attempts",
            ):
                self._db.execute(f"DELETE FROM {table}")
        self._counts.clear()
        self._attempted.clear()

    def _forget_counts(self, queue: str) -> None:
        self._counts.pop(queue, None)
        self._attempted.pop(queue, None)

    def expire_tombstones(self, now: float) -> None:
        self._db.execute("DELETE FROM task_tombstones WHERE expires <= ?", (now,))
        self._db.execute("DELETE FROM queue_tombstones WHERE expires <= ?", (now,))
        # The attempts of tasks that ended (or were deleted) longer ago than a tombstone lasts.
        self._db.execute(
            "DELETE FROM task_attempts WHERE at <= ? AND name NOT IN (SELECT name FROM tasks)",
            (now - self._history_ttl,),
        )

    def _forget_attempts(self, queue: str) -> None:
        prefix = queue + "/tasks/"
        self._db.execute(
            "DELETE FROM task_attempts WHERE name > ? AND name < ?", (prefix, prefix + "\uffff")
        )


_TABLES = ("queues", "queue_tombstones", "tasks", "task_tombstones", "task_attempts")


def _queue_of(task: str) -> str:
    return task.rpartition("/tasks/")[0]


def _task_row(found: Any) -> TaskRow:
    # Columns come back in _TASK_COLUMNS order, which is TaskRow's field order.
    name, queue, due, body, named, *counters = found
    return TaskRow(name, queue, due, body, bool(named), *counters)
