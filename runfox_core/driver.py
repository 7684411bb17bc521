"""driver.py -- the event-driven operations every deployment runs.

The result-router Lambda (and the local emulator) is a thin shell around
``ResultRouter``; start and advance live in ``operations.py`` (the one home
of operations on an execution), and ``start_execution`` /
``advance_execution`` / ``Advanced`` here are those, under their old names:

- ``ResultRouter``: apply a batch of messages (results, deadline and wake
  timers, dead-lettered jobs), then advance each execution touched, once,
  right after its last message in the batch.

Crash safety: a claim whose send was never confirmed is re-emitted by the
next advance() once it is older than the backend's ``unsent_grace_seconds``.
Something must call advance() after that: a redelivered message does (keep
the grace shorter than the queues' visibility timeout), and so does the wake
timer ``start_execution`` arms before claiming anything.

Long timers (a wait of a year, a retry backoff) re-arm cheaply: a wake
carries the time it is for, and one that arrives early (SQS delays at most
15 minutes) is sent on by ``rearm_wake`` after a header read, without an
advance: 96 hops a day per armed timer.

Timers are optional runner features: a runner with ``schedule_wake(key, at)``
/ ``schedule_deadline(key, step, run_id, at)`` (SQSRunner) gets them; an
in-process ``Workflow.run()`` loop waits on ``Pending.wake_at`` instead.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from . import messages, operations
from .backend.base import Backend
from .engine import transitions as tx
from .errors import ExecutionNotFoundError, MessageError
from .operations import Advanced
from .results import Complete, DispatchJob, Failed, Halt, StepResult
from .status import TERMINAL_WORKFLOW_STATUSES, StepStatus
from .workflow import Workflow

log = logging.getLogger("runfox_core")

DEAD_LETTER_ERROR = "DeadLetterError"
WAKE_SLACK_SECONDS = 1.0  # a wake this close to its time advances; an earlier one is re-armed


def start_execution(backend: Backend, spec: dict[str, Any], inputs: dict[str, Any] | None = None,
                    name: str | None = None) -> Advanced:
    """``operations.start`` (kept under this name for existing callers)."""
    return operations.start(backend, spec, inputs, name)


def advance_execution(backend: Backend, key: str, wf: Workflow | None = None) -> Advanced:
    """``operations.advance`` (kept under this name for existing callers)."""
    return operations.advance(backend, key, wf)


def apply_message(backend: Backend, message: Any, wf: Workflow | None = None,
                  counts: Counter[str] | None = None) -> Workflow | None:
    """Apply one decoded message; return the handle of the execution to advance, or None.

    ``counts`` (optional) tallies what the message did, named as the metrics
    the Lambdas publish: StepsCompleted, StepsRetried, StepsFailed,
    WorkflowsCompleted, WorkflowsHalted, WorkflowsFailed.

    Unknown executions are logged and dropped (nothing to apply them to).
    Raises MessageError only from ``messages.decode`` (the caller decodes).
    """
    key = _execution(message)
    if isinstance(message, messages.WakeMessage) and message.at is not None \
            and message.at > backend.clock() + WAKE_SLACK_SECONDS:
        rearm_wake(backend, key, message.at)
        return None  # nothing to advance before its time
    step = getattr(message, "op", None) or getattr(message, "step", None)
    try:
        wf = wf or Workflow.resume(key, backend, steps=[step] if step else ())
    except ExecutionNotFoundError:
        log.error("message for an unknown execution dropped", extra={"execution": key})
        return None
    outcome: Any = None
    if isinstance(message, StepResult):
        outcome = wf.on_step_result(message.step, message.output, run_id=message.run_id, error=message.error,
                                    claim_ready=True, item=message.item)  # the router's advance_execution() sends them
    elif isinstance(message, DispatchJob):  # from an op's dead-letter queue: never answered
        outcome = wf.on_step_result(message.step, run_id=message.run_id, claim_ready=True, item=message.item, error={
            "type": DEAD_LETTER_ERROR,
            "message": f"job for step {message.step!r} run {message.run_id} was dead-lettered without a result"})
    elif isinstance(message, messages.DeadlineMessage):
        pending = wf.on_step_timeout(message.step, message.run_id)
        schedule = getattr(backend.runner, "schedule_deadline", None)
        if pending is not None and schedule is not None:
            schedule(key, message.step, message.run_id, pending)
    if counts is not None and isinstance(message, (StepResult, DispatchJob)):
        _count(counts, wf.written_step(message.step), outcome)
    return wf


def rearm_wake(backend: Backend, key: str, at: float) -> None:
    """A wake arrived before its time (SQS delays at most 15 minutes): send it on for the rest,
    without advancing. One header read decides whether it is still wanted: only while ``at`` is
    the execution's next timer (a timer that moved or ended has a wake of its own, armed by the
    advance that moved it)."""
    try:
        header = backend.load_header(key)
    except ExecutionNotFoundError:
        log.error("wake for an unknown execution dropped", extra={"execution": key})
        return
    nxt = tx.next_timer(header)
    schedule = getattr(backend.runner, "schedule_wake", None)
    if header.status not in TERMINAL_WORKFLOW_STATUSES and nxt is not None and abs(nxt - at) <= WAKE_SLACK_SECONDS \
            and schedule is not None:
        schedule(key, at)


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

    def __init__(self, backend: Backend, bodies: list[str]):
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
        return message.execution_key
    return str(message.execution)
