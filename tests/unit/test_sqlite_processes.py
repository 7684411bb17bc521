"""SQLite: an execution outlives its process, and worker processes never share a task."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import runfox_core as rfx
from runfox_core.backend import InProcessWorker, SqliteRunner, SqliteStore

SPEC = {"steps": [{"op": "a", "input": {"n": {"var": "input.n"}}},
                  {"op": "b", "depends_on": ["a"], "input": {"n": {"var": "steps.a.output.n"}}}],
        "outputs": {"n": {"var": "steps.b.output.n"}}}


def test_an_execution_created_in_one_process_is_finished_by_another(tmp_path: Path) -> None:
    db = str(tmp_path / "wf.db")
    backend = rfx.Backend(store=SqliteStore(db), runner=SqliteRunner(db))
    wf = rfx.Workflow.from_dict(SPEC, backend, inputs={"n": 1})
    del backend  # this "process" is gone; only the file remains
    script = textwrap.dedent(f"""
        import runfox_core as rfx
        from runfox_core.backend import SqliteStore, SqliteRunner
        backend = rfx.Backend(executor=lambda op, i: {{"n": i["n"] * 10}},
                              store=SqliteStore({db!r}), runner=SqliteRunner({db!r}))
        print(rfx.Workflow.resume({wf.id!r}, backend).run(timeout=30).outcome)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "{'n': 100}"
    reopened = rfx.Backend(store=SqliteStore(db), runner=SqliteRunner(db))
    assert rfx.Workflow.resume(wf.id, reopened).outcome == {"n": 100}


def _take_all(db: str, out: Any) -> None:
    runner = SqliteRunner(db)
    taken = []
    while True:
        jobs = runner.take_pending_jobs(limit=3)
        if not jobs and not runner.list_pending_jobs():
            break
        taken += [(j.execution_key, j.step, j.run_id) for j in jobs]
    out.put(taken)


def test_two_worker_processes_never_claim_the_same_task(tmp_path: Path) -> None:
    db = str(tmp_path / "tasks.db")
    backend = rfx.Backend(store=SqliteStore(db), runner=SqliteRunner(db))
    spec = {"steps": [{"id": f"s{i}", "fn": "work"} for i in range(300)]}
    wf = rfx.Workflow.from_dict(spec, backend)
    backend.dispatch(wf.id, wf.advance().jobs)
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    workers = [ctx.Process(target=_take_all, args=(db, out)) for _ in range(2)]
    for w in workers:
        w.start()
    taken = out.get(timeout=60) + out.get(timeout=60)
    for w in workers:
        w.join(timeout=60)
    assert len(taken) == 300
    assert len(set(taken)) == 300


def test_an_external_worker_loop_drives_the_execution(tmp_path: Path) -> None:
    db = str(tmp_path / "wf.db")
    backend = rfx.Backend(store=SqliteStore(db), runner=SqliteRunner(db))
    wf = rfx.Workflow.from_dict(SPEC, backend, inputs={"n": 2})
    worker = InProcessWorker(SqliteRunner(db), lambda op, i: {"n": i["n"] + 1})  # "another process"
    assert wf.run(worker=worker, timeout=30).outcome == {"n": 4}
