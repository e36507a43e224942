"""Cloud Scheduler's tables on the shared database.

``jobs.body`` is the serialized Job with its output fields; ``job_runs`` remembers the
schedule time of the last run fired, so that no scheduled time ever fires twice;
``job_attempts`` keeps a job's latest attempts for the console (the API has only the last).
"""

from __future__ import annotations

from .._insight import Attempt, attempts_table, keep_attempt, read_attempts
from .._store import Database

__all__ = ["JobStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (name TEXT PRIMARY KEY, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS job_runs (name TEXT PRIMARY KEY, last_fired REAL NOT NULL);
""" + attempts_table("job_attempts")


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
            self._db.execute("DELETE FROM job_attempts WHERE name = ?", (name,))
        return cursor.rowcount == 1

    def reset(self) -> None:
        """Delete every job and what is remembered of its runs and attempts."""
        with self._db.transaction():
            for table in ("jobs", "job_runs", "job_attempts"):
                self._db.execute(f"DELETE FROM {table}")

    def attempts(self, name: str) -> list[Attempt]:
        """The job's latest attempts over all its runs, the newest first."""
        return read_attempts(self._db, "job_attempts", name)

    def record_attempt(self, name: str, attempt: Attempt) -> None:
        """Keep ``attempt`` (its ``number`` is ignored: a job's attempts are numbered over all
        its runs) and drop what is older than the last :data:`ATTEMPTS_KEPT`."""
        with self._db.transaction():
            (number,) = self._db.execute(
                "SELECT COALESCE(MAX(number), 0) + 1 FROM job_attempts WHERE name = ?", (name,)
            ).fetchone()
            keep_attempt(self._db, "job_attempts", name, number, attempt)

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
