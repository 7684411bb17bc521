"""driver.py -- the event-driven operations every deployment runs.

The start, advance and result-router Lambdas (and the local emulator) are
thin shells around these functions, which work with any Backend:

- ``start_execution``: validate, create (idempotent on ``name``), arm a safety
  wake-up, advance.
- ``advance_execution``: claim ready steps, dispatch them, apply any results
  the runner produced locally, arm a wake-up timer for retry backoff.
- ``ResultRouter``: apply a batch of messages (results, deadline and wake
  timers, dead-lettered jobs), then advance each execution touched, once,
  right after its last message in the batch.

Crash safety: a claim whose send was never confirmed is re-emitted by the
next advance() once it is older than the backend's ``unsent_grace_seconds``.
Something must call advance() after that: a redelivered message does (keep
the grace shorter than the queues' visibility timeout), and so does the wake
timer ``start_execution`` arms before claiming anything.

Timers are optional runner features: a runner with ``schedule_wake(key, at)``
/ ``schedule_deadline(key, step, run_id, at)`` (SQSRunner) gets them; an
in-process ``Workflow.run()`` loop waits on ``Pending.wake_at`` instead.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from . import messages
from .errors import ExecutionExistsError, ExecutionNotFoundError, MessageError
from .results import Complete, Dispatch, DispatchJob, Failed, Halt, Pending, StepResult
from .status import StepStatus, WorkflowStatus
from .workflow import Workflow

log = logging.getLogger("runfox_core")

DEAD_LETTER_ERROR = "DeadLetterError"


@dataclass
class Advanced:
    """What one advance did: the execution's status and the jobs it dispatched."""

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
        return out


def start_execution(backend: Any, spec: dict[str, Any], inputs: dict[str, Any] | None = None,
                    name: str | None = None) -> Advanced:
    """Create (or, for a ``name`` already used, find) an execution and advance it.

    Raises SpecError / PayloadError before anything is written.
    """
    if name is not None:
        existing = backend.store.find_by_name(name)
        if existing is not None:
            return _existing(backend, existing)
    try:
        wf = Workflow.from_dict(spec, backend, inputs=inputs, name=name)
    except ExecutionExistsError as exc:  # lost a race for the same name
        if exc.existing_key is None:
            raise
        return _existing(backend, exc.existing_key)
    # A safety timer before anything is claimed: if this process dies between the
    # claim and the send, the wake re-drives advance() once the claim is stale.
    schedule = getattr(backend.runner, "schedule_wake", None)
    if schedule is not None:
        schedule(wf.id, backend.clock() + backend.unsent_grace_seconds)
    advanced = advance_execution(backend, wf.id, wf)
    advanced.created = True
    return advanced


def _existing(backend: Any, key: str) -> Advanced:
    advanced = advance_execution(backend, key)  # idempotent: re-drives it if it was left mid-way
    advanced.created = False
    return advanced


def advance_execution(backend: Any, key: str, wf: Workflow | None = None) -> Advanced:
    """Claim and dispatch everything ready now; safe to repeat and to run concurrently.

    Raises ExecutionNotFoundError for an unknown key.
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
    status = {Complete: WorkflowStatus.COMPLETE, Halt: WorkflowStatus.HALTED,
              Failed: WorkflowStatus.FAILED}.get(type(result), WorkflowStatus.IN_PROGRESS)
    return Advanced(execution=key, status=status, dispatched=dispatched, result=result)


def apply_message(backend: Any, message: Any, wf: Workflow | None = None,
                  counts: Counter[str] | None = None) -> Workflow | None:
    """Apply one decoded message; return the handle of the execution to advance, or None.

    ``counts`` (optional) tallies what the message did, named as the metrics
    the Lambdas publish: StepsCompleted, StepsRetried, StepsFailed,
    WorkflowsCompleted, WorkflowsHalted, WorkflowsFailed.

    Unknown executions are logged and dropped (nothing to apply them to).
    Raises MessageError only from ``messages.decode`` (the caller decodes).
    """
    key = _execution(message)
    step = getattr(message, "op", None) or getattr(message, "step", None)
    try:
        wf = wf or Workflow.resume(key, backend, steps=[step] if step else ())
    except ExecutionNotFoundError:
        log.error("message for an unknown execution dropped", extra={"execution": key})
        return None
    outcome: Any = None
    if isinstance(message, StepResult):
        outcome = wf.on_step_result(message.op, message.output, run_id=message.run_id, error=message.error,
                                    claim_ready=True)  # the router's advance_execution() sends them
    elif isinstance(message, DispatchJob):  # from an op's dead-letter queue: never answered
        outcome = wf.on_step_result(message.op, run_id=message.run_id, claim_ready=True, error={
            "type": DEAD_LETTER_ERROR,
            "message": f"job for step {message.op!r} run {message.run_id} was dead-lettered without a result"})
    elif isinstance(message, messages.DeadlineMessage):
        pending = wf.on_step_timeout(message.step, message.run_id)
        schedule = getattr(backend.runner, "schedule_deadline", None)
        if pending is not None and schedule is not None:
            schedule(key, message.step, message.run_id, pending)
    if counts is not None and isinstance(message, (StepResult, DispatchJob)):
        _count(counts, wf.written_step(message.op), outcome)
    return wf


_STEP_METRICS = {StepStatus.COMPLETE: "StepsCompleted", StepStatus.HALTED: "StepsCompleted",
                 StepStatus.RETRY: "StepsRetried", StepStatus.READY: "StepsCompleted",
                 StepStatus.FAILED: "StepsFailed"}
_WORKFLOW_METRICS = {Complete: "WorkflowsCompleted", Halt: "WorkflowsHalted", Failed: "WorkflowsFailed"}


def _count(counts: Counter[str], written: Any, outcome: Any) -> None:
    """Tally a result this handle just applied (``written`` is None when it was ignored)."""
    if written is None:
        return
    counts[_STEP_METRICS.get(written.status, "StepsCompleted")] += 1
    if type(outcome) in _WORKFLOW_METRICS:
        counts[_WORKFLOW_METRICS[type(outcome)]] += 1


class ResultRouter:
    """Applies a batch of messages, advancing each execution after its last message.

    Use: ``router = ResultRouter(backend, bodies)``, then ``router.handle(body)``
    for each body in order (raise = that record failed). Advancing right after
    an execution's last message keeps it to once per execution per batch,
    and ties an advance failure to a record, so the queue redelivers it.
    Results are fenced by run_id, so a redelivered record is harmless.
    """

    def __init__(self, backend: Any, bodies: list[str]):
        self.backend = backend
        self._remaining: Counter[str] = Counter()
        self._decoded: dict[str, Any] = {}  # body -> message, so handle() does not parse it again
        for body in bodies:
            try:
                message = self._decoded[body] = messages.decode(body)
            except MessageError:
                continue  # handle() raises it again, for the caller to log
            self._remaining[_execution(message)] += 1
        self._handles: dict[str, Workflow] = {}
        self.advanced: list[Advanced] = []
        self.counts: Counter[str] = Counter()  # what the batch did, by metric name

    def handle(self, body: str) -> None:
        message = self._decoded.get(body) or messages.decode(body)  # MessageError: the caller logs and drops it
        key = _execution(message)
        try:
            wf = apply_message(self.backend, message, self._handles.get(key), self.counts)
        finally:
            self._remaining[key] -= 1
        if wf is None:
            return
        self._handles[key] = wf
        if self._remaining[key] <= 0:
            self.advanced.append(advance_execution(self.backend, key, wf))


def _execution(message: Any) -> str:
    if isinstance(message, (StepResult, DispatchJob)):
        return message.workflow_execution_id
    return str(message.execution)
