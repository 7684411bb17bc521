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

Every operation raises ``ExecutionNotFoundError`` for an unknown key.

Known limits: a claim committed *before* the cancel belongs to an advance
already under way; that process may still send its job after ``cancel``
returns, and the job's result is then ignored. Nothing claimed after the
cancel exists: every claim commits under the header version the cancel bumped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "execution": self.execution,
            "status": str(self.status),
            "dispatched": [{"step": j.op, "token": j.token, "run_id": j.run_id} for j in self.dispatched],
        }
        if isinstance(self.result, Complete):
            out["outcome"] = self.result.outcome
        elif isinstance(self.result, Halt):
            out["outcome"] = self.result.result
        elif isinstance(self.result, Failed):
            out["error"] = self.result.error.to_dict()
        elif isinstance(self.result, Cancelled):
            out["reason"] = self.result.reason
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
    if schedule is not None:
        schedule(wf.id, backend.clock() + backend.unsent_grace_seconds)
    advanced = advance(backend, wf.id, wf)
    advanced.created = True
    return advanced


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


def advance(backend: Backend, key: str, wf: Workflow | None = None) -> Advanced:
    """Claim and dispatch everything ready now; safe to repeat and to run concurrently.

    Raises ExecutionNotFoundError for an unknown key. On an ended execution it
    claims nothing and reports how it ended.
    """
    wf = wf or Workflow.resume(key, backend)
    dispatched: list[DispatchJob] = []
    while isinstance(result := wf.advance(), Dispatch):
        dispatched += result.jobs
        for r in wf.dispatch(result.jobs):  # results of jobs the runner ran locally
            wf.on_step_result(r.op, r.output, run_id=r.run_id, error=r.error)
    if isinstance(result, Pending) and result.wake_at is not None:
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
