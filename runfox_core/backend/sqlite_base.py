"""sqlite_base.py -- one SQLite connection per thread, with the pragmas both SQLite parts need.

WAL lets readers run beside one writer; ``synchronous=NORMAL`` in WAL mode
survives a process crash (a power cut may lose the last commits);
``busy_timeout`` makes concurrent writers from several processes wait for
each other instead of failing. Transactions use ``BEGIN IMMEDIATE`` so a
read-then-write cannot interleave with another process's write.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager

BUSY_TIMEOUT_MS = 30_000


class SqliteConnections:
    def __init__(self, db_path: str, schema: str):
        self.db_path = db_path
        self._local = threading.local()
        self.get().executescript(schema)  # CREATE ... IF NOT EXISTS: idempotent, commits itself

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
