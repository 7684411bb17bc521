"""redrive.py -- transitions that bring an execution back: redrive, rerun from a step, seed a copy.

Pure functions over a ``Txn``, like ``transitions.py``; ``operations.py``
decides when they apply (which statuses) and ``Workflow`` commits them.

- ``reopen(txn, now, from_step)``: every step not complete (and, for a rerun,
  ``from_step`` and everything downstream of it) goes back to READY with a
  new run_id and a fresh attempt budget; complete steps keep their records
  and outputs; the schedule (ready set, join counters, remaining) is rebuilt
  from the records, so it is right whatever the ending left in the header.
  On a running execution a rerun is the set-branch ``reset`` (only that step
  and its downstream move). Results of the old runs are fenced off by run_id.
- ``seed(txn, now, records, state, source, from_step)``: a new execution
  starts from copies of another's complete step records and its state, then
  schedules like ``reopen``.

Both read every step record (an operator's action, O(steps) once), and
write one commit: the records they change and the header.
"""

from __future__ import annotations

from typing import Any

from ..history import EventType as Ev
from ..status import TERMINAL_WORKFLOW_STATUSES, StepStatus, WorkflowStatus
from . import transitions as tx
from . import wait
from .records import StepRecord
from .txn import Txn


def downstream(plan: Any, step: str) -> list[str]:
    """``step`` and every step that depends on it, transitively (spec order)."""
    group = {step}
    frontier = [step]
    while frontier:
        for dep in plan.steps[frontier.pop()].dependents:
            if dep not in group:
                group.add(dep)
                frontier.append(dep)
    return [sid for sid in plan.steps if sid in group]


def reopen(txn: Txn, now: float, from_step: str | None = None) -> list[str]:
    """Send the open steps (and ``from_step``'s downstream) back to READY; return those given a new run."""
    h = txn.header
    was = h.status
    if from_step is not None and was not in TERMINAL_WORKFLOW_STATUSES:
        steps = tx.reset(txn, [from_step], now)
        txn.event(Ev.REDRIVEN, now, steps=steps, from_step=from_step, was=str(was))
        return steps
    group = set(downstream(txn.plan, from_step)) if from_step is not None else set()
    txn.prefetch(list(txn.plan.steps), [])
    rerun = []
    for sid in txn.plan.steps:
        rec = txn.step(sid)
        if rec.status == StepStatus.COMPLETE and sid not in group:
            continue
        base = max(rec.run_id, int(h.reruns.get(sid, [0])[0]))
        if rec.status == StepStatus.READY and base == 0 and rec.start_time is None:
            continue  # never ran: it starts at run 0 as it would have
        txn.put_step(rec.evolve(status=StepStatus.READY, run_id=base + 1, attempt=0, inputs=None, output=None,
                                error=None, start_time=None, end_time=None, missing_paths=None))
        h.reruns[sid] = [base + 1, 0]
        rerun.append(sid)
    _schedule(txn, now)
    txn.event(Ev.REDRIVEN, now, steps=rerun, from_step=from_step, was=str(was))
    if h.remaining == 0:  # every step complete (the outputs had failed): resolve them again
        tx.complete_workflow(txn, next(reversed(txn.plan.steps)), now)
    return rerun


def seed(txn: Txn, now: float, records: dict[str, StepRecord], state: dict[str, Any], source: str,
         from_step: str | None) -> None:
    """Start a fresh execution from ``records`` (complete steps of ``source``, kept as they are, less the
    history events they keep: those are the source's, ``history.py``) and ``state``."""
    txn.prefetch(list(txn.plan.steps), [])  # (before the copies: what each replaces is known, none)
    for rec in records.values():
        txn.put_step(rec.evolve(own_events=None) if rec.own_events else rec)
    txn.header.kept = wait.kept_counts(records)  # the copied mailboxes of early events (engine/wait.py)
    txn.merge_state(state)
    _schedule(txn, now)
    txn.event(Ev.REDRIVEN, now, steps=[sid for sid in txn.plan.steps if sid not in records], from_step=from_step,
              copied_from=source, copied=list(records))


def _schedule(txn: Txn, now: float) -> None:
    """Rebuild the header's schedule from the step records: what remains, what is ready, what waits."""
    h, plan = txn.header, txn.plan
    open_steps = [sid for sid in plan.steps if txn.step(sid).status != StepStatus.COMPLETE]
    h.remaining = len(open_steps)
    h.ready.clear()
    h.joins.clear()
    h.deadlines.clear()
    kept = set(open_steps)
    for sid in [s for s in h.reruns if s not in kept]:  # a complete step keeps no run counter
        h.reruns.discard(sid)
    for sid in open_steps:
        deps = plan.steps[sid].deps
        waiting = sum(1 for d in deps if txn.step(d).status != StepStatus.COMPLETE)
        if waiting == 0:
            h.ready[sid] = 0.0
        elif len(deps) >= 2:
            h.joins[sid] = waiting
    txn.unsent_remove.extend(h.unsent)  # old claims are owed nothing: their runs are fenced off
    h.unsent.clear()
    h.status = WorkflowStatus.IN_PROGRESS if h.remaining else h.status
    h.outcome, h.error, h.updated_at = None, None, tx.iso(now)
