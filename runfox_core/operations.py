"""operations.py -- the operations on an execution: start, advance, describe, cancel, history, list,
redrive, rerun.

One function per operation, used alike by the Lambdas (``lambdas/start.py``,
``lambdas/advance.py``), the local emulator, the ``runfox`` CLI and the
event-driven ``driver``; each works with any Backend:

- ``start(backend, spec, inputs, name)``: validate, create (idempotent on
  ``name``: the same request finds the same execution, the same name with a
  different spec or inputs raises ``ExecutionExistsError``; the name is looked
  up once), arm a safety wake-up, advance.
- ``advance(backend, key)``: claim ready steps, dispatch them, apply any
  results the runner produced locally, arm a wake-up for retry backoff.
  Safe to repeat and to run concurrently.
- ``describe(backend, key)``: the execution now, from one load (``inspector.py``).
- ``cancel(backend, key, reason)``: end a running execution as ``cancelled``
  in one small commit (never one write per step); steps left open read
  ``cancelled``, results arriving later are ignored, and no advance
  dispatches anything for it again. Cancelling a cancelled execution is
  harmless; cancelling one that completed, halted or failed raises
  ``ExecutionEndedError`` and changes nothing.

- ``history(backend, key, after, limit)``: a page of the execution's event
  log, oldest first (``history.py``); ``after`` is the last event id seen.
- ``list_executions(backend, query)``: a page of executions by status, name
  prefix or start time, from the store's index (``listing.py``).
- ``redrive(backend, key, inputs)``: a failed or cancelled execution
  continues: failed and cancelled steps get a new run_id and a fresh attempt
  budget, complete steps keep their outputs; no time limit. With corrected
  ``inputs`` it continues as a new execution (the definition is immutable)
  that copies every complete step and the state, under ``name``.
- ``rerun(backend, key, step, new, inputs, name)``: ``step`` and everything
  downstream of it run again: in place (any status but pending), or as a new
  execution that copies the complete steps upstream of it and the state.
- ``send_event(backend, key, name, payload, event_id)`` and
  ``complete_callback(backend, token, output | error | heartbeat)``: answer a
  ``wait`` step (``events.py``), send what that made ready, and arm the next
  timer; a refused event or token raises ``EventRefusedError`` and changes
  nothing.

Every operation raises ``ExecutionNotFoundError`` for an unknown key, and
``ExecutionStatusError`` (nothing changed) when it does not apply: a redrive
of a completed, halted or running execution, a rerun of an unknown step.

Known limits: a copy (``rerun(new=True)``, ``redrive(inputs=...)``) is created,
then seeded in a second commit: a process that dies between the two leaves
the copy pending and never advanced (nothing runs twice); run the rerun
again under another name. A claim committed *before* the cancel belongs to an advance
already under way; that process may still send its job after ``cancel``
returns, and the job's result is then ignored. Nothing claimed after the
cancel exists: every claim commits under the header version the cancel bumped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import events
from .backend.base import Backend
from .engine import kinds, wait
from .engine.redrive import downstream
from .errors import ExecutionEndedError, ExecutionExistsError, ExecutionStatusError
from .history import HistoryPage, parse_event_id, position
from .inspector import Description
from .inspector import describe as _describe
from .listing import ListPage, ListQuery
from .payloads import encode_json
from .results import Cancelled, Complete, Dispatch, DispatchJob, Failed, Halt, Pending
from .spec import compile_start
from .status import StepStatus, WorkflowStatus
from .workflow import Workflow

_ENDED = {Complete: WorkflowStatus.COMPLETE, Halt: WorkflowStatus.HALTED, Failed: WorkflowStatus.FAILED,
          Cancelled: WorkflowStatus.CANCELLED}


@dataclass
class Advanced:
    """What one operation did: the execution's status and the jobs it dispatched."""

    execution: str
    status: WorkflowStatus
    dispatched: list[DispatchJob] = field(default_factory=list)
    result: Any = None
    created: bool = False
    event: dict[str, Any] | None = None  # send_event: what became of the event (events.EventReceipt)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "execution": self.execution,
            "status": str(self.status),
            "dispatched": [{"step": j.step, "token": j.token, "run_id": j.run_id} for j in self.dispatched],
        }
        if isinstance(self.result, Complete):
            out["outcome"] = self.result.outcome
        elif isinstance(self.result, Halt):
            out["outcome"] = self.result.result
        elif isinstance(self.result, Failed):
            out["error"] = self.result.error.to_dict()
        elif isinstance(self.result, Cancelled):
            out["reason"] = self.result.reason
        if self.event is not None:
            out["event"] = self.event
        return out


def start(backend: Backend, spec: dict[str, Any], inputs: dict[str, Any] | None = None,
          name: str | None = None) -> Advanced:
    """Create (or, for a ``name`` already used by the same request, find) an execution and advance it.

    Raises SpecError / PayloadError before anything is written, and
    ExecutionExistsError when ``name`` is taken by a different spec or inputs.
    """
    if name is not None:
        existing = backend.store.find_by_name(name)
        if existing is not None:
            return _existing(backend, existing, spec, inputs, name)
    try:
        wf = Workflow.from_dict(spec, backend, inputs=inputs, name=name)
    except ExecutionExistsError as exc:  # lost a race for the same name
        if exc.existing_key is None or name is None:
            raise
        return _existing(backend, exc.existing_key, spec, inputs, name)
    safety = _arm_safety_wake(backend, wf.id)
    advanced = advance(backend, wf.id, wf, woken_at=safety)
    advanced.created = True
    return advanced


def _arm_safety_wake(backend: Backend, key: str) -> float | None:
    """A timer before anything is claimed: if this process dies between the claim and the send,
    the wake re-drives advance() once the claim is stale. Returns its time (None: no timers here)."""
    schedule = getattr(backend.runner, "schedule_wake", None)
    if schedule is None:
        return None
    at = backend.clock() + backend.unsent_grace_seconds
    schedule(key, at)
    return at


def _existing(backend: Backend, key: str, spec: dict[str, Any], inputs: dict[str, Any] | None,
              name: str) -> Advanced:
    """The execution already started under ``name``, if it was started with this spec and these inputs."""
    _, inputs = compile_start(spec, inputs, backend.op_defaults)  # compared as stored: defaults applied
    stored = backend.load_definition(key)
    inputs, _ = backend.codec.pack(inputs, "workflow inputs", write=False)  # as stored: large fields by reference
    if encode_json(stored.spec) != encode_json(spec) or encode_json(stored.inputs) != encode_json(inputs):
        raise ExecutionExistsError(
            f"name {name!r} is already used by execution {key} with a different spec or inputs", existing_key=key)
    advanced = advance(backend, key)  # idempotent: re-drives it if it was left mid-way
    advanced.created = False
    return advanced


def advance(backend: Backend, key: str, wf: Workflow | None = None, woken_at: float | None = None) -> Advanced:
    """Claim and dispatch everything ready now; safe to repeat and to run concurrently.

    Raises ExecutionNotFoundError for an unknown key. On an ended execution it
    claims nothing and reports how it ended. ``woken_at``: a wake already armed
    for then, whose advance will arm any later timer (so two wake chains never
    run for one timer of a wait that begins at the start).
    """
    wf = wf or Workflow.resume(key, backend)
    dispatched: list[DispatchJob] = []
    while isinstance(result := wf.advance(), Dispatch):
        dispatched += result.jobs
        for r in wf.dispatch(result.jobs):  # results of jobs the runner ran locally
            wf.on_step_result(r.step, r.output, run_id=r.run_id, error=r.error, item=r.item)
    if isinstance(result, Pending) and result.wake_at is not None \
            and (woken_at is None or result.wake_at < woken_at):
        schedule = getattr(backend.runner, "schedule_wake", None)
        if schedule is not None:
            schedule(key, result.wake_at)
    # Pending after claims means in progress (an execution's roots are claimable
    # at once), so the status needs no extra read.
    status = _ENDED.get(type(result), WorkflowStatus.IN_PROGRESS)
    return Advanced(execution=key, status=status, dispatched=dispatched, result=result)


def describe(backend: Backend, key: str) -> Description:
    """The execution now: header, every step (status, run, duration, error, missing_paths), state."""
    return _describe(backend, key)


def cancel(backend: Backend, key: str, reason: str | None = None) -> Advanced:
    """Cancel a running execution; once this returns, nothing more is claimed for it.

    Raises ExecutionNotFoundError (unknown key) or ExecutionEndedError (it
    completed, halted or failed); either way nothing changed.
    """
    result = Workflow.resume(key, backend).cancel(reason)
    if not isinstance(result, Cancelled):
        status = _ENDED[type(result)]
        raise ExecutionEndedError(f"execution {key} has already ended ({status}); there is nothing to cancel",
                                  status=str(status))
    return Advanced(execution=key, status=WorkflowStatus.CANCELLED, result=result)


MAX_HISTORY_PAGE = 10_000  # events one history call returns at most
REDRIVABLE = (WorkflowStatus.FAILED, WorkflowStatus.CANCELLED)


def history(backend: Backend, key: str, after: str | None = None, limit: int = 1000) -> HistoryPage:
    """Up to ``limit`` events of ``key`` after event id ``after`` (None: from the first), oldest first.

    Raises ExecutionNotFoundError, or ValueError naming a bad ``after``/``limit``.
    """
    if not isinstance(limit, int) or not 1 <= limit <= MAX_HISTORY_PAGE:
        raise ValueError(f"limit must be an integer from 1 to {MAX_HISTORY_PAGE:,}, got {limit!r}")
    start = parse_event_id(after) if after is not None else None
    plan = backend.plan(key)
    if not any(kinds.get(p.kind).keeps_events(p.config) for p in plan.steps.values()):
        events = backend.store.load_history(key, start, limit + 1)
    else:  # the events records keep, merged into the log's (``history.py``), as of one header version
        version = backend.load_header(key).version  # read first: what is read after holds all it had
        events = [e for e in backend.store.load_history(key, start, limit + 1)
                  + kinds.kept_events(backend.store, key, plan)
                  if (start is None or position(e) > start) and position(e)[0] <= version]
        events.sort(key=position)
    page = wait.with_tokens(key, events[:limit])
    return HistoryPage(key, page, page[-1]["id"] if len(events) > limit else None)


def list_executions(backend: Backend, query: ListQuery) -> ListPage:
    """One page of executions (``listing.py`` says the order); raises ValueError naming a bad field."""
    return backend.store.list_executions(query.checked())


def redrive(backend: Backend, key: str, inputs: dict[str, Any] | None = None, name: str | None = None) -> Advanced:
    """Continue a failed or cancelled execution from where it stopped, and advance it.

    With ``inputs``, continue as a new execution with those inputs (named
    ``name``) that copies the complete steps and the state. Raises
    ExecutionNotFoundError, or ExecutionStatusError (completed, halted, still
    running); either way nothing changed.
    """
    header = backend.load_header(key)
    if header.status not in REDRIVABLE:
        raise ExecutionStatusError(_not_redrivable(key, header.status), status=str(header.status))
    if inputs is not None:
        return _copy(backend, key, None, inputs, name)
    _arm_safety_wake(backend, key)
    Workflow.resume(key, backend).reopen()
    return advance(backend, key)


def rerun(backend: Backend, key: str, step: str, *, new: bool = False, inputs: dict[str, Any] | None = None,
          name: str | None = None) -> Advanced:
    """Run ``step`` and everything downstream of it again, and advance.

    In place (``new`` False): the execution continues with those steps at a
    new run (any other step not complete runs again too if it had ended).
    ``new``: a new execution (with ``inputs``, else the same inputs, named
    ``name``) starts from copies of the complete steps upstream of ``step``
    and of the state. Raises ExecutionNotFoundError, or ExecutionStatusError
    for an unknown step or an execution not started yet; nothing changed.
    """
    header = backend.load_header(key)
    plan = backend.plan(key)
    if step not in plan.steps:
        raise ExecutionStatusError(f"execution {key} has no step {step!r} (its steps: {', '.join(plan.steps)})",
                                   status=str(header.status))
    if inputs is not None and not new:
        raise ExecutionStatusError("corrected inputs need a new execution (the definition never changes): "
                                   "pass new=True (--new)", status=str(header.status))
    if new:
        return _copy(backend, key, step, inputs, name)
    if header.status == WorkflowStatus.PENDING:
        raise ExecutionStatusError(f"execution {key} has not started; there is nothing to rerun",
                                   status=str(header.status))
    _arm_safety_wake(backend, key)
    Workflow.resume(key, backend).reopen(step)
    return advance(backend, key)


def _copy(backend: Backend, key: str, from_step: str | None, inputs: dict[str, Any] | None,
          name: str | None) -> Advanced:
    """A new execution of ``key``'s spec that starts from its complete steps (upstream of ``from_step``)."""
    definition = backend.load_definition(key)
    rerun_steps = set(downstream(backend.plan(key), from_step)) if from_step is not None else set()
    kept = {sid: rec for sid, rec in backend.store.load_steps(key, None).items()
            if rec.status == StepStatus.COMPLETE and sid not in rerun_steps}
    # the events a step run afresh took are forgotten with its runs (engine/wait.py), and the history
    # events replaced runs kept are the source's (engine/kinds.py)
    kept = {sid: rec for sid, rec in kept.items() if not sid.startswith(kinds.RAN_RECORD)
            and ((took := wait.retired_step(sid, rec)) is None or took in kept)}
    state = backend.store.load_state(key, None)
    wf = Workflow.from_dict(definition.spec, backend, inputs=definition.inputs if inputs is None else inputs,
                            name=name)
    wf.seed(kept, state, key, from_step)
    _arm_safety_wake(backend, wf.id)  # after the seed: an unseeded copy must never run from scratch
    advanced = advance(backend, wf.id, wf)
    advanced.created = True
    return advanced


def _not_redrivable(key: str, status: WorkflowStatus) -> str:
    if status == WorkflowStatus.COMPLETE:
        return f"execution {key} completed; there is nothing to redrive (rerun a step to run it again)"
    if status == WorkflowStatus.HALTED:
        return f"execution {key} halted by a branch; there is nothing to redrive (rerun a step to run it again)"
    return f"execution {key} is still running ({status}); redrive applies to failed or cancelled executions"


# ----------------------------------------------------------- wait steps (events.py)


def send_event(backend: Backend, key: str, name: str, payload: dict[str, Any] | None, event_id: str) -> Advanced:
    """Deliver event ``name`` to the step waiting for it, or keep it for a wait to come, then advance.

    Idempotent by ``event_id``. Raises EventRefusedError (nobody waits for it, no match, a bad
    payload) or ExecutionNotFoundError; either way nothing changed (``events.send``).
    """
    sent = events.send(backend, key, name, payload, event_id)
    advanced = _sent(backend, sent)
    advanced.event = sent.receipt.to_dict() if sent.receipt else None
    return advanced


def complete_callback(backend: Backend, token: str, output: Any = None, error: dict[str, Any] | None = None,
                      heartbeat: bool = False) -> Advanced:
    """Complete a wait's callback ``token`` with an output, an error or a heartbeat, then advance.
    Raises EventRefusedError (a stale or forged token) and changes nothing (``events.answer``)."""
    try:
        sent = events.answer(backend, token, output, error, heartbeat)
    except events.EventRefusedError as exc:
        if exc.execution is not None:  # a retried answer whose first try committed: finish what it began
            advance(backend, exc.execution)
        raise
    return _sent(backend, sent)


def _sent(backend: Backend, sent: events.Sent) -> Advanced:
    """Send the jobs an event or callback claimed with its commit; advance only if more is owed
    (the commit could not claim all, or the runner ran jobs here), else arm its next timer."""
    wf = sent.handle
    local = wf.dispatch(sent.jobs)
    for r in local:  # results of jobs the runner ran locally
        wf.on_step_result(r.step, r.output, run_id=r.run_id, error=r.error)
    if sent.settled and not local:
        schedule = getattr(backend.runner, "schedule_wake", None)
        if schedule is not None and sent.wake_at is not None:
            schedule(wf.id, sent.wake_at)
        status = _ENDED.get(type(sent.result), WorkflowStatus.IN_PROGRESS)
        return Advanced(execution=wf.id, status=status, dispatched=list(sent.jobs), result=sent.result)
    advanced = advance(backend, wf.id, wf)
    advanced.dispatched[:0] = sent.jobs
    return advanced
