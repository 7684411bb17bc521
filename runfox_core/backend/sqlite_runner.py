"""sqlite_runner.py -- SqliteRunner: a tasks table that worker processes share.

Table ``tasks`` (may share a file with SqliteStore):
``task_key`` = ``{execution}#{step}#{run_id}``, execution, step, token,
run_id, inputs JSON, status, output JSON, error JSON, worker, timestamps;
``workflow_execution_id`` and ``op`` are generated copies of execution and
step, so SQL written for the runfox library's tasks table runs unchanged.

Task lifecycle: PENDING (dispatched) -> STARTED (a worker took it) -> DONE
(result submitted; the runfox library's COMPLETE and ERROR are accepted too)
-> GATHERED (the workflow took the result).

External worker protocol (any language; ``InProcessWorker(SqliteRunner(db),
execute).run()`` in a loop does exactly this):

1. Take jobs atomically::

     BEGIN IMMEDIATE;
     UPDATE tasks SET status='STARTED', worker=:me, updated_at=:now
      WHERE task_key IN (SELECT task_key FROM tasks WHERE status='PENDING'
                         ORDER BY created_at LIMIT :n)
      RETURNING *;
     COMMIT;

   ``BEGIN IMMEDIATE`` serialises takers, so two workers never get one task.
2. Call the executor with (token, inputs).
3. Report, keeping the run_id fence::

     UPDATE tasks SET status='DONE', output=:json | error=:json, updated_at=:now
      WHERE task_key=:key AND status IN ('PENDING','STARTED');

   ``error`` is ``{"type": ..., "message": ...}`` for a failed attempt.
A result for an old run lands on its own (old) task row, and the workflow
ignores it when gathered: the step has moved on to a newer run.

A worker written for the runfox library works as it is: it reads
``SELECT * FROM tasks WHERE status = 'PENDING'``, marks rows ``STARTED`` by
``task_key``, calls ``op`` (the step id, which is also the dispatch token
unless the step has an ``fn``), and reports with
``UPDATE tasks SET status='COMPLETE', output=? WHERE workflow_execution_id=?
AND op=? AND status='STARTED'`` (or ``status='ERROR'`` with the error text as
``output``, which becomes a failed attempt). Such a worker does not say which
run it answers; the run_id of the row it updated still fences the result.

Output a worker wrote that is not JSON becomes a failed attempt
(``PayloadError``) when gathered, never an exception in ``gather``.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
from datetime import UTC, datetime

from ..payloads import decode, encode
from ..results import DispatchJob, ItemRef, StepResult
from .runner import Runner
from .sqlite_base import SqliteConnections, columns

SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    task_key TEXT PRIMARY KEY, execution TEXT NOT NULL, step TEXT NOT NULL, token TEXT NOT NULL,
    run_id INTEGER NOT NULL, inputs TEXT NOT NULL, timeout_seconds REAL,
    status TEXT NOT NULL DEFAULT 'PENDING', output TEXT, error TEXT, worker TEXT,
    created_at TEXT NOT NULL, updated_at TEXT, item TEXT,
    workflow_execution_id TEXT GENERATED ALWAYS AS (execution) VIRTUAL,
    op TEXT GENERATED ALWAYS AS (step) VIRTUAL);
CREATE INDEX IF NOT EXISTS tasks_by_status ON tasks (status, created_at);
CREATE INDEX IF NOT EXISTS tasks_by_execution ON tasks (execution, status);
"""
# Statuses of a task with a result: ours and the runfox library's COMPLETE; its ERROR carries the
# error text in ``output``.
DONE = ("DONE", "COMPLETE")
RUNFOX_ERROR = "ERROR"


def _add_runfox_columns(conn: sqlite3.Connection) -> None:
    """Files written before the runfox-compatible columns existed get them (generated: no data moves)."""
    have = columns(conn, "tasks")
    if have and "item" not in have:  # the item of a map step's job (messages.py), added later still
        with contextlib.suppress(sqlite3.OperationalError):  # another process added it first
            conn.execute("ALTER TABLE tasks ADD COLUMN item TEXT")
    if not have or "workflow_execution_id" in have:
        return
    conn.execute("BEGIN IMMEDIATE")  # another process may be upgrading the same file
    try:
        if "workflow_execution_id" not in columns(conn, "tasks"):
            conn.execute("ALTER TABLE tasks ADD COLUMN workflow_execution_id TEXT"
                         " GENERATED ALWAYS AS (execution) VIRTUAL")
            conn.execute("ALTER TABLE tasks ADD COLUMN op TEXT GENERATED ALWAYS AS (step) VIRTUAL")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _task_key(execution: str, step: str, run_id: int, item: ItemRef | None) -> str:
    key = f"{execution}#{step}#{run_id}"
    return key if item is None else f"{key}#{item.index}.{item.run_id}"


def _item_text(item: ItemRef | None) -> str | None:
    return None if item is None else encode([item.index, item.run_id, item.batch])


def _item(text: str | None) -> ItemRef | None:
    if text is None:
        return None
    index, run_id, batch = decode(text)
    return ItemRef(index, run_id, batch)


def _job(row: tuple) -> DispatchJob:
    execution, step, token, run_id, inputs, timeout, item = row
    return DispatchJob(execution_key=execution, step=step, inputs=decode(inputs), run_id=run_id,
                       token=token, timeout_seconds=timeout, item=_item(item))


def _result(execution: str, step: str, run_id: int, runfox_error: bool, output: str | None,
            error: str | None, item: str | None = None) -> StepResult:
    """A gathered row as a StepResult; anything a worker wrote that cannot be read is a failed attempt."""
    result = _read_result(execution, step, run_id, runfox_error, output, error)
    result.item = _item(item)
    return result


def _read_result(execution: str, step: str, run_id: int, runfox_error: bool, output: str | None,
                 error: str | None) -> StepResult:
    try:
        value = decode(output) if output is not None else None
        problem = decode(error) if error is not None else None
    except ValueError as exc:
        return StepResult(execution, step, run_id, error={
            "type": "PayloadError", "message": f"task {execution}#{step}#{run_id}: result is not JSON: {exc}"})
    if problem is None and runfox_error:  # a runfox-style worker: the error text rides in output
        message = value if isinstance(value, str) else output or "null"  # the JSON it wrote, as text
        problem = {"type": "Error", "message": message}
    if problem is not None:
        if not isinstance(problem, dict):
            problem = {"type": "Error", "message": str(problem)}
        return StepResult(execution, step, run_id, error={"type": str(problem.get("type", "Error")),
                                                          "message": str(problem.get("message", ""))})
    return StepResult(execution, step, run_id, output=value)


def _texts(result: StepResult) -> tuple[str | None, str | None]:
    """The output and error columns of ``result``; an output JSON cannot hold is filed as a PayloadError."""
    problem = result.error
    if problem is None:
        try:
            return encode(result.output), None
        except (TypeError, ValueError, RecursionError) as exc:
            problem = {"type": "PayloadError", "message": f"step {result.step!r} output is not JSON-serialisable: {exc}"}
    return None, encode(problem)


class SqliteRunner(Runner):
    poll_interval = 0.01

    def __init__(self, db_path: str, poll_interval: float | None = None, worker_id: str | None = None):
        self._db = SqliteConnections(db_path, SCHEMA, upgrade=_add_runfox_columns)
        self.db_path = db_path
        if poll_interval is not None:
            self.poll_interval = poll_interval
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}"

    def dispatch(self, workflow_execution_id: str, jobs: list[DispatchJob]) -> list[StepResult]:
        now = _now()
        with self._db.write() as conn:  # INSERT OR IGNORE: re-dispatching a job is a no-op
            conn.executemany(
                "INSERT OR IGNORE INTO tasks (task_key, execution, step, token, run_id, inputs, timeout_seconds,"
                " created_at, item) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(_task_key(j.execution_key, j.step, j.run_id, j.item), j.execution_key, j.step,
                  j.token, j.run_id, encode(j.inputs), j.timeout_seconds, now,
                  _item_text(j.item)) for j in jobs])
        return []

    def gather(self, workflow_execution_id: str) -> list[StepResult]:
        now = _now()
        with self._db.write() as conn:  # runfox's ERROR rows apart: RETURNING gives only the new status
            done = conn.execute(
                "UPDATE tasks SET status = 'GATHERED', updated_at = ? WHERE execution = ? AND status IN (?, ?)"
                " RETURNING step, run_id, output, error, item", (now, workflow_execution_id, *DONE)).fetchall()
            failed = conn.execute(
                "UPDATE tasks SET status = 'GATHERED', updated_at = ? WHERE execution = ? AND status = ?"
                " RETURNING step, run_id, output, error, item", (now, workflow_execution_id, RUNFOX_ERROR)).fetchall()
        return ([_result(workflow_execution_id, step, run_id, False, output, error, item)
                 for step, run_id, output, error, item in done]
                + [_result(workflow_execution_id, step, run_id, True, output, error, item)
                   for step, run_id, output, error, item in failed])

    def list_pending_jobs(self) -> list[DispatchJob]:
        rows = self._db.get().execute(
            "SELECT execution, step, token, run_id, inputs, timeout_seconds, item FROM tasks"
            " WHERE status = 'PENDING' ORDER BY created_at").fetchall()
        return [_job(r) for r in rows]

    def take_pending_jobs(self, limit: int = 100) -> list[DispatchJob]:
        with self._db.write() as conn:
            rows = conn.execute(
                "UPDATE tasks SET status = 'STARTED', worker = ?, updated_at = ? WHERE task_key IN"
                " (SELECT task_key FROM tasks WHERE status = 'PENDING' ORDER BY created_at LIMIT ?)"
                " RETURNING execution, step, token, run_id, inputs, timeout_seconds, item",
                (self.worker_id, _now(), limit)).fetchall()
        return [_job(r) for r in rows]

    def file_result(self, result: StepResult) -> None:
        output, error = _texts(result)
        with self._db.write() as conn:
            if result.run_id is None:  # reference-style call without run_id: the step's latest task
                row = conn.execute("SELECT max(run_id) FROM tasks WHERE execution = ? AND step = ?",
                                   (result.execution_key, result.step)).fetchone()
                run_id = row[0] if row and row[0] is not None else 0
            else:
                run_id = result.run_id
            conn.execute(
                "UPDATE tasks SET status = 'DONE', output = ?, error = ?, updated_at = ?"
                " WHERE task_key = ? AND status IN ('PENDING', 'STARTED')",
                (output, error, _now(), _task_key(result.execution_key, result.step, run_id, result.item)))
