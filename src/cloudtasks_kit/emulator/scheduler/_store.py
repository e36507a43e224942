"""Cloud Scheduler's tables on the shared database.

``jobs.body`` is the serialized Job with its output fields; ``job_runs`` remembers the
schedule time of the last run fired, so that no scheduled time ever fires twice.
"""

from __future__ import annotations

from .._store import Database

__all__ = ["JobStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (name TEXT PRIMARY KEY, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS job_runs (name TEXT PRIMARY KEY, last_fired REAL NOT NULL);
"""


class JobStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        db.create_tables(_SCHEMA)

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
        self._db.insert_new("INSERT INTO jobs (name, body) VALUES (?, ?)", (name, body), name)

    def delete_job(self, name: str) -> bool:
        with self._db.transaction():
            cursor = self._db.execute("DELETE FROM jobs WHERE name = ?", (name,))
            self._db.execute("DELETE FROM job_runs WHERE name = ?", (name,))
        return cursor.rowcount == 1

    def reset(self) -> None:
        """Delete every job and what is remembered of its runs."""
        with self._db.transaction():
            self._db.execute("DELETE FROM jobs")
            self._db.execute("DELETE FROM job_runs")

    def last_fired(self, name: str) -> float | None:
        row = self._db.execute("SELECT last_fired FROM job_runs WHERE name = ?", (name,)).fetchone()
        return None if row is None else float(row[0])

    def fire_job(self, name: str, body: bytes, schedule_time: float) -> None:
        """Record, in one commit, that the run due at ``schedule_time`` starts now and the
        job's next ``schedule_time`` (inside ``body``): a crash after this never repeats it."""
        with self._db.transaction():
            self._db.execute("UPDATE jobs SET body = ? WHERE name = ?", (body, name))
            self._db.execute(
                "INSERT OR REPLACE INTO job_runs (name, last_fired) VALUES (?, ?)",
                (name, schedule_time),
            )
