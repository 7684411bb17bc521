"""sqlite_base.py -- one SQLite connection per thread, with the pragmas both SQLite parts need.

WAL lets readers run beside one writer; ``synchronous=NORMAL`` in WAL mode
survives a process crash (a power cut may lose the last commits);
``busy_timeout`` makes concurrent writers from several processes wait for
each other instead of failing. Transactions use ``BEGIN IMMEDIATE`` so a
read-then-write cannot interleave with another process's write.

Opening a file the runfox library wrote (its ``workflows`` table holds whole
records; its ``tasks`` table has no ``run_id``) raises ``LegacyDatabaseError``
naming the migration, before anything is created in it.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ..errors import RunfoxError

BUSY_TIMEOUT_MS = 30_000

MIGRATION = (
    "runfox_core keeps an execution as a versioned header, one row per step and one per state key, "
    "and cannot read runfox's whole-record rows. Migrate by finishing (or abandoning) the runfox "
    "executions with runfox itself, then start them again with runfox_core on a new file "
    "(README: 'How runfox_core differs from the runfox library')"
)


class LegacyDatabaseError(RunfoxError):
    """Raised when a SQLite file was written by the runfox library, whose tables runfox_core cannot use."""


def columns(conn: sqlite3.Connection, table: str) -> set[str]:
    """Column names of ``table`` (generated ones included); empty when there is no such table."""
    return {row[1] for row in conn.execute(f"PRAGMA table_xinfo({table})")}


def refuse_runfox_file(conn: sqlite3.Connection, db_path: str) -> None:
    workflows, tasks = columns(conn, "workflows"), columns(conn, "tasks")
    legacy = []
    if {"steps", "state", "spec"} <= workflows:
        legacy.append("table 'workflows' holds runfox's whole workflow records")
    if tasks and "run_id" not in tasks:
        if not {"workflow_execution_id", "op"} <= tasks:
            raise LegacyDatabaseError(f"{db_path}: table 'tasks' is not a SqliteRunner tasks table (no run_id, "
                                      "no workflow_execution_id or op column); use another file")
        legacy.append("table 'tasks' has no run_id column")
    if legacy:
        raise LegacyDatabaseError(f"{db_path} was written by the runfox library ({'; '.join(legacy)}). {MIGRATION}")


class SqliteConnections:
    def __init__(self, db_path: str, schema: str,
                 upgrade: Callable[[sqlite3.Connection], None] | None = None):
        """Open ``db_path``, refuse a runfox-era file, run ``upgrade`` (for files an earlier
        runfox_core version wrote) and then ``schema`` (idempotent ``CREATE ... IF NOT EXISTS``)."""
        self.db_path = db_path
        self._local = threading.local()
        conn = self.get()
        refuse_runfox_file(conn, db_path)
        if upgrade is not None:
            upgrade(conn)
        conn.executescript(schema)  # commits itself

    def get(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.db_path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            self._local.conn = conn
        return conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """An IMMEDIATE transaction: committed on success, rolled back on any exception."""
        conn = self.get()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
