"""operations.py -- the operations on an execution: start, advance, describe, cancel.

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

- ``send_event(backend, key, name, payload, event_id)`` and
  ``complete_callback(backend, token, output | error | heartbeat)``: answer a
  ``wait`` step (``events.py``), send what that made ready, and arm the next
  timer; a refused event or token raises ``EventRefusedError`` and changes
  nothing.

Every operation raises ``ExecutionNotFoundError`` for an unknown key.

Known limits: a claim committed *before* the cancel belongs to an advance
already under way; that process may still send its job after ``cancel``
returns, and the job's result is then ignored. Nothing claimed after the
cancel exists: every claim commits under the header version the cancel bumped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import events
from .backend.base import Backend
from .errors import ExecutionEndedError, ExecutionExistsError
from .inspector import Description
from .inspector import describe as _describe
from .payloads import encode_json
from .results import Cancelled, Complete, Dispatch, DispatchJob, Failed, Halt, Pending
from .spec import compile_start
from .status import WorkflowStatus
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
    # A safety timer before anything is claimed: if this process dies between the
    # claim and the send, the wake re-drives advance() once the claim is stale.
    schedule = getattr(backend.runner, "schedule_wake", None)
    safety = None
    if schedule is not None:
        safety = backend.clock() + backend.unsent_grace_seconds
        schedule(wf.id, safety)
    advanced = advance(backend, wf.id, wf, woken_at=safety)
    advanced.created = True
    return advanced


def _existing(backend: Backend, key: str, spec: dict[str, Any], inputs: dict[str, Any] | None,
              name: str) -> Advanced:
    """The execution already started under ``name``, if it was started with this spec and these inputs."""
    _, inputs = compile_start(spec, inputs, backend.op_defaults)  # compared as stored: defaults applied
    stored = backend.load_definition(key)
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
