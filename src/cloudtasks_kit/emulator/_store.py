"""The emulator's SQLite database, shared by both halves: the connection, the meta table
(the OIDC signing key), transactions. Cloud Tasks' tables are in ``tasks/_store.py``, Cloud
Scheduler's in ``scheduler/_store.py``, all on this one connection and in one file.

Every write is committed before the API answers, so a task the client was told exists
survives ``kill -9``. WAL with ``synchronous=NORMAL`` makes each commit a buffered append:
safe against the process dying (not against the machine losing power, which a development
emulator need not survive) and cheap enough for thousands of creates a second.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

__all__ = ["Database", "DuplicateName"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
"""


class DuplicateName(Exception):
    """A task (or job) with that name is stored already."""


class Database:
    def __init__(self, path: str | Path | None) -> None:
        self.path = str(path) if path is not None else ":memory:"
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        if path is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self.create_tables(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def create_tables(self, schema: str) -> None:
        """Run a half's ``CREATE TABLE IF NOT EXISTS`` statements: a state file written
        before keeps its rows."""
        self._db.executescript(schema)

    def execute(self, sql: str, parameters: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        return self._db.execute(sql, parameters)

    def insert_new(self, sql: str, parameters: tuple[Any, ...], name: str) -> None:
        """Run an INSERT keyed by ``name``; :class:`DuplicateName` if that name is stored."""
        try:
            self._db.execute(sql, parameters)
        except sqlite3.IntegrityError as exc:
            raise DuplicateName(name) from exc

    def transaction(self) -> _Transaction:
        return _Transaction(self._db)

    # -- meta -----------------------------------------------------------------------------

    def get_meta(self, key: str) -> bytes | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def set_meta(self, key: str, value: bytes) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))


class _Transaction:
    """A transaction; inside one already open, a savepoint, so that a batch (one transaction)
    can call what opens its own."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._nested = False

    def __enter__(self) -> None:
        self._nested = self._db.in_transaction
        self._db.execute("SAVEPOINT step" if self._nested else "BEGIN")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if not self._nested:
            self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")
        else:
            if exc_type is not None:
                self._db.execute("ROLLBACK TO step")
            self._db.execute("RELEASE step")
