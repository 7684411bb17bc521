"""Code written for the runfox library keeps working where the README says it does."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

import runfox_core as rfx
from runfox_core.backend import InProcessRunner, SqliteRunner, SqliteStore
from runfox_core.backend.sqlite_base import LegacyDatabaseError
from tests.unit.conftest import BackendFactory

SPEC = {"steps": [{"op": "a", "input": {"n": {"var": "input.n"}}},
                  {"op": "b", "depends_on": ["a"], "input": {"n": {"var": "steps.a.output.n"}}}],
        "outputs": {"n": {"var": "steps.b.output.n"}}}


def test_gathered_results_unpack_as_op_output_pairs_and_keep_their_run_id(make_backend: BackendFactory) -> None:
    backend = make_backend()
    wf = rfx.Workflow.from_dict(SPEC, backend, inputs={"n": 1})
    job = wf.advance().jobs[0]
    backend.dispatch(wf.id, [job])
    backend.runner.submit_work_result(rfx.StepResult(wf.id, "a", job.run_id, output={"n": 2}))
    (result,) = backend.gather(wf.id)
    op, output = result
    assert (op, output) == ("a", {"n": 2})
    assert result == ("a", {"n": 2})
    assert (result.run_id, result.error, result.workflow_execution_id) == (job.run_id, None, wf.id)


def test_submit_work_result_takes_the_runfox_signature(make_backend: BackendFactory) -> None:
    backend = make_backend()
    wf = rfx.Workflow.from_dict(SPEC, backend, inputs={"n": 1})
    for expected in ("a", "b"):
        job = wf.advance().jobs[0]
        backend.dispatch(wf.id, [job])
        (taken,) = backend.take_tasks()
        assert taken.op == expected
        backend.runner.submit_work_result(wf.id, taken.op, {"n": taken.inputs["n"] + 1})
        for op_, output in backend.gather(wf.id):
            wf.on_step_result(op_, output)
    assert wf.advance() == rfx.Complete({"n": 3})


@pytest.mark.parametrize("output", [{"v": float("nan")}, {"v": object()}])
def test_a_filed_output_json_cannot_hold_is_a_failed_attempt_naming_the_step(make_backend: BackendFactory,
                                                                             output: Any) -> None:
    # Given a job taken by a worker
    backend = make_backend()
    wf = rfx.Workflow.from_dict(SPEC, backend, inputs={"n": 1})
    job = wf.advance().jobs[0]
    backend.dispatch(wf.id, [job])
    # When the worker files an output JSON has no text for
    backend.runner.submit_work_result(rfx.StepResult(wf.id, "a", job.run_id, output=output))
    for result in backend.gather(wf.id):
        ending = wf.on_step_result(result.op, result.output, run_id=result.run_id, error=result.error)
    # Then that attempt failed on its output, whichever runner carried it
    assert isinstance(ending, rfx.Failed) and (ending.error.step, ending.error.type) == ("a", "PayloadError")
    assert "step 'a' output is not JSON-serialisable" in ending.error.message


def test_a_step_result_and_loose_fields_together_are_a_type_error() -> None:
    runner = InProcessRunner()
    with pytest.raises(TypeError, match="StepResult alone"):
        runner.submit_work_result(rfx.StepResult("x", "a", 0, output={}), "a", {})


class RunfoxSqlWorker:
    """A worker exactly as the runfox library documents its SQLite protocol (plain sqlite3, no runfox_core)."""

    def __init__(self, db: str, execute: Any):
        self.db = db
        self.execute = execute

    def run(self, workflow_execution_id: str | None = None) -> None:
        conn = sqlite3.connect(self.db)
        conn.row_factory = sqlite3.Row
        with conn:
            rows = conn.execute("SELECT * FROM tasks WHERE status = 'PENDING' LIMIT 1").fetchall()
        for row in rows:
            with conn:
                conn.execute("UPDATE tasks SET status = 'STARTED', updated_at = ? WHERE task_key = ? AND status = "
                             "'PENDING'", ["now", row["task_key"]])
            try:
                output, status = self.execute(row["op"], json.loads(row["inputs"])), "COMPLETE"
            except Exception as exc:  # runfox's ERROR row: the text rides in output
                output, status = str(exc), "ERROR"
            with conn:
                conn.execute(f"UPDATE tasks SET status='{status}', output=? WHERE workflow_execution_id=? AND op=? "
                             "AND status='STARTED'", [json.dumps(output), row["workflow_execution_id"], row["op"]])
        conn.close()


def test_a_worker_speaking_runfoxs_sqlite_protocol_drives_an_execution(tmp_path: Path) -> None:
    db = str(tmp_path / "wf.db")
    backend = rfx.Backend(store=SqliteStore(db), runner=SqliteRunner(db, poll_interval=0.001))
    wf = rfx.Workflow.from_dict(SPEC, backend, inputs={"n": 1})
    worker = RunfoxSqlWorker(db, lambda op, inputs: {"n": inputs["n"] * 10})
    assert wf.run(worker=worker, timeout=10) == rfx.Complete({"n": 100})


def test_a_runfox_worker_error_row_is_a_failed_attempt(tmp_path: Path) -> None:
    db = str(tmp_path / "wf.db")
    backend = rfx.Backend(store=SqliteStore(db), runner=SqliteRunner(db, poll_interval=0.001))
    wf = rfx.Workflow.from_dict({"steps": [{"op": "a"}]}, backend)

    def boom(op: str, inputs: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("model down")

    result = wf.run(worker=RunfoxSqlWorker(db, boom), timeout=10)
    assert result == rfx.Failed(rfx.StepError(step="a", run_id=0, type="Error", message="model down"))


def test_a_worker_writing_output_that_is_not_json_fails_the_attempt_instead_of_gather(tmp_path: Path) -> None:
    db = str(tmp_path / "wf.db")
    backend = rfx.Backend(store=SqliteStore(db), runner=SqliteRunner(db))
    wf = rfx.Workflow.from_dict({"steps": [{"op": "a"}]}, backend)
    backend.dispatch(wf.id, wf.advance().jobs)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE tasks SET status='COMPLETE', output='{not json' WHERE op='a'")
    (result,) = backend.gather(wf.id)
    assert result.error is not None and result.error["type"] == "PayloadError"
    assert isinstance(wf.on_step_result(result.op, result.output, run_id=result.run_id, error=result.error),
                      rfx.Failed)


def _runfox_file(path: Path) -> str:
    """The tables runfox 0.0.7's SqliteStore and SqliteRunner create."""
    db = str(path / "runfox-era.db")
    with sqlite3.connect(db) as conn:
        conn.executescript("""
            CREATE TABLE workflows (id TEXT PRIMARY KEY, workflow_id TEXT NOT NULL, execution_id TEXT NOT NULL,
                spec TEXT NOT NULL, inputs TEXT NOT NULL, state TEXT NOT NULL, steps TEXT NOT NULL,
                status TEXT NOT NULL, outcome TEXT);
            CREATE TABLE tasks (task_key TEXT PRIMARY KEY, workflow_execution_id TEXT NOT NULL, op TEXT NOT NULL,
                inputs TEXT NOT NULL, output TEXT, status TEXT NOT NULL DEFAULT 'PENDING',
                created_at TEXT NOT NULL, updated_at TEXT);
        """)
    return db


@pytest.mark.parametrize("part", [SqliteStore, SqliteRunner])
def test_opening_a_runfox_era_file_is_an_error_naming_the_migration(tmp_path: Path, part: Any) -> None:
    db = _runfox_file(tmp_path)
    with pytest.raises(LegacyDatabaseError, match="written by the runfox library.*Migrate by finishing"):
        part(db)
    with sqlite3.connect(db) as conn:  # nothing was created in it
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables == {"workflows", "tasks"}


def test_a_tasks_table_from_an_earlier_runfox_core_gains_the_runfox_columns(tmp_path: Path) -> None:
    db = str(tmp_path / "old.db")
    with sqlite3.connect(db) as conn:
        conn.executescript("""
            CREATE TABLE tasks (task_key TEXT PRIMARY KEY, execution TEXT NOT NULL, step TEXT NOT NULL,
                token TEXT NOT NULL, run_id INTEGER NOT NULL, inputs TEXT NOT NULL, timeout_seconds REAL,
                status TEXT NOT NULL DEFAULT 'PENDING', output TEXT, error TEXT, worker TEXT,
                created_at TEXT NOT NULL, updated_at TEXT);
            INSERT INTO tasks (task_key, execution, step, token, run_id, inputs, created_at)
                VALUES ('w#e#a#0', 'w#e', 'a', 'a', 0, '{}', 'then');
        """)
    runner = SqliteRunner(db)
    (job,) = runner.list_pending_jobs()
    assert (job.workflow_execution_id, job.op) == ("w#e", "a")
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT workflow_execution_id, op FROM tasks").fetchall() == [("w#e", "a")]


def test_a_foreign_tasks_table_is_refused_without_blaming_runfox(tmp_path: Path) -> None:
    db = str(tmp_path / "other-app.db")
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE tasks (id INTEGER PRIMARY KEY, title TEXT)")
    with pytest.raises(LegacyDatabaseError, match="'tasks' is not a SqliteRunner tasks table"):
        SqliteRunner(db)


def test_the_runfox_names_of_the_execution_key_and_step_id_still_build_and_read_results() -> None:
    result = rfx.StepResult(workflow_execution_id="wf#1", op="a", run_id=2, output={"n": 1})
    assert result == rfx.StepResult("wf#1", "a", 2, output={"n": 1})
    assert (result.execution_key, result.step) == (result.workflow_execution_id, result.op) == ("wf#1", "a")
    job = rfx.DispatchJob("wf#1", "a", {}, 0)
    assert (job.workflow_execution_id, job.op, job.token) == ("wf#1", "a", "a")


def test_a_result_without_an_execution_key_or_step_is_refused_by_name() -> None:
    with pytest.raises(TypeError, match="needs execution_key and step"):
        rfx.StepResult(op="a")
