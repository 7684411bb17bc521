"""sqlite_store.py -- SqliteStore: executions that survive restarts and span processes.

Tables (one file may also hold SqliteRunner's ``tasks``):

- ``executions(key, name UNIQUE, version, header JSON)`` -- small: rewritten by every commit
- ``definitions(key, definition JSON)`` -- the spec and inputs, written once (kept out of
  ``executions`` because SQLite rewrites a whole row on update)
- ``steps(key, step_id, record JSON)`` -- one row per step that has changed
- ``state(key, name, value JSON)`` -- one row per state key
- ``unsent(key, step_id, run_id, claimed_at)`` -- claimed jobs not yet confirmed sent
- ``history(key, version, idx, event JSON)`` -- the event log, one row per event
- ``listing(key, name, status, started)`` -- what ``list_executions`` reads, indexed by
  (status, started), (started) and (name); a commit updates ``status`` only when it changed

Known limit: a database file made before ``history`` and ``listing`` existed
gets the tables, but its older executions are not listed and have no history.

``commit`` is one IMMEDIATE transaction whose first statement is the version
check (``UPDATE executions ... WHERE version = ?``), so any number of
processes can apply transitions to one execution without losing updates.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..engine.records import Commit, ExecutionDefinition, ExecutionHeader, StepRecord
from ..errors import ConflictError, ExecutionExistsError, ExecutionNotFoundError
from ..history import event_id, position
from ..listing import ExecutionSummary, ListPage, ListQuery, decode_cursor, encode_cursor, start_time
from ..payloads import decode, encode
from ..status import WorkflowStatus
from .sqlite_base import SqliteConnections
from .store import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS executions (
    key TEXT PRIMARY KEY, name TEXT UNIQUE, version INTEGER NOT NULL, header TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS definitions (key TEXT PRIMARY KEY, definition TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS steps (
    key TEXT NOT NULL, step_id TEXT NOT NULL, record TEXT NOT NULL,
    PRIMARY KEY (key, step_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS state (
    key TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (key, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS unsent (
    key TEXT NOT NULL, step_id TEXT NOT NULL, run_id INTEGER NOT NULL, claimed_at REAL NOT NULL,
    PRIMARY KEY (key, step_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS history (
    key TEXT NOT NULL, version INTEGER NOT NULL, idx INTEGER NOT NULL, event TEXT NOT NULL,
    PRIMARY KEY (key, version, idx)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS listing (
    key TEXT PRIMARY KEY, name TEXT, status TEXT NOT NULL, started TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS listing_by_status ON listing (status, started, key);
CREATE INDEX IF NOT EXISTS listing_by_start ON listing (started, key);
CREATE INDEX IF NOT EXISTS listing_by_name ON listing (name, key) WHERE name IS NOT NULL;
"""

_CHUNK = 500  # host parameters per IN (...) query


class SqliteStore(Store):
    def __init__(self, db_path: str):
        self._db = SqliteConnections(db_path, SCHEMA)
        self.db_path = db_path

    def create(self, definition: ExecutionDefinition, header: ExecutionHeader) -> None:
        key = definition.key
        with self._db.write() as conn:
            row = conn.execute("SELECT key FROM executions WHERE key = ? OR (name IS NOT NULL AND name = ?)",
                               (key, definition.name)).fetchone()
            if row is not None:
                what = f"execution {key}" if row[0] == key else f"name {definition.name!r}"
                raise ExecutionExistsError(f"{what} already exists", existing_key=row[0])
            head = header.to_dict()
            head.pop("unsent")
            conn.execute("INSERT INTO executions (key, name, version, header) VALUES (?, ?, ?, ?)",
                         (key, definition.name, header.version, encode(head)))
            conn.execute("INSERT INTO definitions (key, definition) VALUES (?, ?)",
                         (key, encode(definition.to_dict())))
            conn.execute("INSERT INTO listing (key, name, status, started) VALUES (?, ?, ?, ?)",
                         (key, definition.name, str(header.status), start_time(definition.created_at)))

    def find_by_name(self, name: str) -> str | None:
        row = self._db.get().execute("SELECT key FROM executions WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None

    def load_definition(self, key: str) -> ExecutionDefinition:
        row = self._db.get().execute("SELECT definition FROM definitions WHERE key = ?", (key,)).fetchone()
        if row is None:
            raise ExecutionNotFoundError(f"no execution {key}")
        return ExecutionDefinition.from_dict(decode(row[0]))

    def load_header(self, key: str) -> ExecutionHeader:
        conn = self._db.get()
        row = conn.execute("SELECT header, version FROM executions WHERE key = ?", (key,)).fetchone()
        if row is None:
            raise ExecutionNotFoundError(f"no execution {key}")
        d = decode(row[0])
        d["version"] = row[1]
        d["unsent"] = {sid: [run, at] for sid, run, at in
                       conn.execute("SELECT step_id, run_id, claimed_at FROM unsent WHERE key = ?", (key,))}
        return ExecutionHeader.from_dict(d)

    def _exists(self, key: str) -> None:
        if self._db.get().execute("SELECT 1 FROM executions WHERE key = ?", (key,)).fetchone() is None:
            raise ExecutionNotFoundError(f"no execution {key}")

    def _select(self, key: str, columns: str, table: str, column: str, names: Iterable[str] | None) -> list[Any]:
        """Rows of ``table`` for ``key`` (all, or those whose ``column`` is in ``names``, in chunks)."""
        conn = self._db.get()
        if names is None:
            self._exists(key)
            return conn.execute(f"SELECT {columns} FROM {table} WHERE key = ?", (key,)).fetchall()
        wanted, rows = list(names), []
        for i in range(0, len(wanted), _CHUNK):
            part = wanted[i:i + _CHUNK]
            rows += conn.execute(f"SELECT {columns} FROM {table} WHERE key = ? AND {column} IN "
                                 f"({','.join('?' * len(part))})", (key, *part)).fetchall()
        if not rows:
            self._exists(key)  # nothing found: tell "no such rows" from "no such execution"
        return rows

    def load_steps(self, key: str, step_ids: Iterable[str] | None = None) -> dict[str, StepRecord]:
        records = (StepRecord.from_dict(decode(r[0])) for r in self._select(key, "record", "steps", "step_id",
                                                                                step_ids))
        return {r.step_id: r for r in records}

    def load_state(self, key: str, keys: Iterable[str] | None = None) -> dict[str, Any]:
        return {name: decode(value) for name, value in self._select(key, "name, value", "state", "name", keys)}

    def commit(self, key: str, commit: Commit) -> None:
        head = commit.header.to_dict()
        head.pop("unsent")
        head.pop("version")
        with self._db.write() as conn:
            updated = conn.execute(
                "UPDATE executions SET header = ?, version = ? WHERE key = ? AND version = ?",
                (encode(head), commit.expected_version + 1, key, commit.expected_version)).rowcount
            if updated == 0:
                self._exists(key)
                raise ConflictError(f"execution {key}: changed since version {commit.expected_version}")
            if commit.steps:
                conn.executemany("INSERT OR REPLACE INTO steps (key, step_id, record) VALUES (?, ?, ?)",
                                 [(key, sid, encode(r.to_dict())) for sid, r in commit.steps.items()])
            if commit.state:
                conn.executemany("INSERT OR REPLACE INTO state (key, name, value) VALUES (?, ?, ?)",
                                 [(key, k, encode(v)) for k, v in commit.state.items()])
            if commit.unsent_remove:
                conn.executemany("DELETE FROM unsent WHERE key = ? AND step_id = ?",
                                 [(key, sid) for sid in commit.unsent_remove])
            if commit.unsent_add:
                conn.executemany(
                    "INSERT OR REPLACE INTO unsent (key, step_id, run_id, claimed_at) VALUES (?, ?, ?, ?)",
                    [(key, sid, int(run), at) for sid, (run, at) in commit.unsent_add.items()])
            if commit.events:
                conn.executemany("INSERT INTO history (key, version, idx, event) VALUES (?, ?, ?, ?)",
                                 [(key, *position(e), encode({k: v for k, v in e.items() if k != "id"}))
                                  for e in commit.events])
            status = str(commit.header.status)
            conn.execute("UPDATE listing SET status = ? WHERE key = ? AND status != ?", (status, key, status))

    def mark_sent(self, key: str, sent: Mapping[str, int]) -> None:
        with self._db.write() as conn:
            conn.executemany("DELETE FROM unsent WHERE key = ? AND step_id = ? AND run_id = ?",
                             [(key, sid, run) for sid, run in sent.items()])

    # -- history and listing ----------------------------------------------------

    def load_history(self, key: str, after: tuple[int, int] | None = None,
                     limit: int = 1000) -> list[dict[str, Any]]:
        self._exists(key)
        version, idx = after if after is not None else (-1, -1)
        rows = self._db.get().execute(
            "SELECT version, idx, event FROM history WHERE key = ? AND (version > ? OR (version = ? AND idx > ?)) "
            "ORDER BY version, idx LIMIT ?", (key, version, version, idx, limit)).fetchall()
        return [{"id": event_id(v, i), **decode(text)} for v, i, text in rows]

    def list_executions(self, query: ListQuery) -> ListPage:
        by_name = query.by_name
        where: list[str] = []
        args: list[Any] = []
        if query.status is not None:
            where.append("status = ?")
            args.append(str(query.status))
        if query.name_prefix is not None:
            where.append("name IS NOT NULL AND substr(name, 1, ?) = ?")
            args += [len(query.name_prefix), query.name_prefix]
        if query.since is not None:
            where.append("started >= ?")
            args.append(query.since)
        if query.until is not None:
            where.append("started < ?")
            args.append(query.until)
        if query.cursor is not None:
            first, second = decode_cursor(query.cursor)
            where.append("(name, key) > (?, ?)" if by_name else "(started, key) < (?, ?)")
            args += [first, second]
        order = "name, key" if by_name else "started DESC, key DESC"
        sql = (f"SELECT key, name, status, started FROM listing {'WHERE ' + ' AND '.join(where) if where else ''} "
               f"ORDER BY {order} LIMIT ?")
        rows = self._db.get().execute(sql, (*args, query.limit + 1)).fetchall()
        found = [ExecutionSummary(k, n, WorkflowStatus(st), started) for k, n, st, started in rows]
        page = found[:query.limit]
        if len(found) <= query.limit or not page:
            return ListPage(page)
        last = page[-1]
        return ListPage(page, encode_cursor([last.name, last.execution] if by_name
                                            else [last.created_at, last.execution]))

