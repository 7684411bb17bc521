"""driver.py -- the event-driven operations every deployment runs.

The result-router Lambda (and the local emulator) is a thin shell around
``ResultRouter``; start and advance live in ``operations.py`` (the one home
of operations on an execution), and ``start_execution`` /
``advance_execution`` / ``Advanced`` here are those, under their old names:

- ``ResultRouter``: apply a batch of messages (results, deadline and wake
  timers, dead-lettered jobs): each execution's results in one commit
  (``RESULTS_PER_COMMIT`` at most), then advance each execution touched,
  once (see the class for what still holds message by message).

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
RESULTS_PER_COMMIT = 10  # results of one execution applied in one commit (the results queue's batch as deployed)


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
    ``ResultRouter`` applies a batch's results together instead (one commit).
    """
    key = _execution(message)
    if isinstance(message, messages.WakeMessage) and message.at is not None \
            and message.at > backend.clock() + WAKE_SLACK_SECONDS:
        rearm_wake(backend, key, message.at)
        return None  # nothing to advance before its time
    if isinstance(message, (StepResult, DispatchJob)):
        return apply_results(backend, key, [_as_result(message)], wf, counts)[0]
    step = getattr(message, "step", None)
    try:
        wf = wf or Workflow.resume(key, backend, steps=[step] if step else ())
    except ExecutionNotFoundError:
        log.error("message for an unknown execution dropped", extra={"execution": key})
        return None
    if isinstance(message, messages.DeadlineMessage):
        pending = wf.on_step_timeout(message.step, message.run_id)
        schedule = getattr(backend.runner, "schedule_deadline", None)
        if pending is not None and schedule is not None:
            schedule(key, message.step, message.run_id, pending)
    return wf


def apply_results(backend: Backend, key: str, results: list[StepResult], wf: Workflow | None = None,
                  counts: Counter[str] | None = None) -> tuple[Workflow | None, list[Exception | None]]:
    """Apply results of execution ``key`` in one commit, claiming what they made ready (the handle's
    ``advance()`` returns those jobs). Returns the handle (None: unknown execution, logged and dropped)
    and, per result, what applying it raised (None: applied or fenced off), so only its message fails.
    A single result raises instead, as it always has."""
    try:
        wf = wf or Workflow.resume(key, backend, steps=Workflow.records_read_by(results))
    except ExecutionNotFoundError:
        log.error("message for an unknown execution dropped", extra={"execution": key})
        return None, [None for _ in results]
    outcomes = wf.on_step_results(results, claim_ready=True)  # the router's advance_execution() sends them
    if len(results) == 1 and outcomes[0].error is not None:
        raise outcomes[0].error
    if counts is not None:
        for applied in outcomes:
            _count(counts, applied.written, applied.outcome)
    return wf, [applied.error for applied in outcomes]


def _as_result(message: StepResult | DispatchJob) -> StepResult:
    """A result message as it is; a job from an op's dead-letter queue (never answered) as a failed attempt."""
    if isinstance(message, StepResult):
        return message
    return StepResult(message.execution_key, message.step, message.run_id, item=message.item, error={
        "type": DEAD_LETTER_ERROR,
        "message": f"job for step {message.step!r} run {message.run_id} was dead-lettered without a result"})


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
    """Applies a batch of messages: each execution's results in one commit, then one advance.

    Use: ``router = ResultRouter(backend, bodies)``, then ``router.handle(body)``
    for each body in order (raise = that record failed). The first body of an
    execution does the work of all of that execution's bodies in the batch:
    its results (and dead-lettered jobs) are applied ``RESULTS_PER_COMMIT`` at
    a time, each group in one commit that also claims what they made ready
    (``Workflow.on_step_results``), timers one by one in their place, then
    one advance sends the claimed jobs (one SendMessageBatch per queue, one
    ``mark_sent``). Each later body of that execution only reports its own
    fate.

    What still holds, message by message: each result is fenced by its
    (step, run_id), and a map job's by (item, run) -- a duplicate in the
    batch, or a redelivery, is applied once; a malformed body fails to decode
    and is dropped alone (it never joins a group); a result that raises is
    set aside and applied alone, so only its record fails; if a group's
    commit fails, every body in it fails and SQS redelivers them (fenced, so
    harmless); an advance that fails fails the execution's last body, which
    SQS redelivers, and its advance re-sends what was claimed and not
    confirmed sent (``operations.advance``). A crash anywhere leaves either
    nothing committed (the bodies come back) or a commit whose claims are
    recorded unsent (re-emitted after the grace).

    Why: with a result per commit, a 10-message batch of one execution costs
    ten header writes and ten TransactWriteItems; grouped, one of each (and
    a map's results land in one results record: ``engine/map.py``).
    """

    def __init__(self, backend: Backend, bodies: list[str]):
        self.backend = backend
        self._decoded: dict[str, Any] = {}  # body -> message, so handle() does not parse it again
        self._bodies: dict[str, list[str]] = {}  # execution -> its bodies, in batch order
        for body in bodies:
            try:
                message = self._decoded[body] = messages.decode(body)
            except MessageError:
                continue  # handle() raises it again, for the caller to log
            self._bodies.setdefault(_execution(message), []).append(body)
        self._routed: set[str] = set()  # executions whose bodies were applied
        self._failed: dict[str, Exception] = {}  # body -> why its record fails
        self.advanced: list[Advanced] = []
        self.counts: Counter[str] = Counter()  # what the batch did, by metric name

    def handle(self, body: str) -> None:
        message = self._decoded.get(body) or messages.decode(body)  # MessageError: the caller logs and drops it
        key = _execution(message)
        bodies = self._bodies.get(key) or []
        if body not in bodies:  # a body not given at construction: on its own
            self._decoded[body] = message
            self._route(key, [body])
        elif key not in self._routed:
            self._routed.add(key)
            self._route(key, bodies)
        failure = self._failed.get(body)
        if failure is not None:
            raise failure

    def _route(self, key: str, bodies: list[str]) -> None:
        wf: Workflow | None = None
        group: list[str] = []

        def flush() -> None:
            nonlocal wf
            if not group:
                return
            results = [_as_result(self._decoded[b]) for b in group]
            try:  # (a group of one raises what applying it raised, as a message alone always has)
                handle, errors = apply_results(self.backend, key, results, wf, self.counts)
            except Exception as exc:  # noqa: BLE001 -- every record of the group fails; SQS redelivers them
                errors, handle = [exc] * len(group), wf
            self._failed.update((b, e) for b, e in zip(group, errors, strict=True) if e is not None)
            wf = handle or wf
            group.clear()

        for body in bodies:
            message = self._decoded[body]
            if isinstance(message, (StepResult, DispatchJob)):
                group.append(body)
                if len(group) == RESULTS_PER_COMMIT:
                    flush()
                continue
            flush()
            try:
                wf = apply_message(self.backend, message, wf, self.counts) or wf
            except Exception as exc:  # noqa: BLE001 -- that record fails, as it would alone
                self._failed[body] = exc
        flush()
        if wf is not None:
            try:
                self.advanced.append(advance_execution(self.backend, key, wf))
            except Exception as exc:  # noqa: BLE001 -- tied to the last record, which SQS redelivers
                self._failed[bodies[-1]] = exc


def _execution(message: Any) -> str:
    if isinstance(message, (StepResult, DispatchJob)):
        return message.execution_key
    return str(message.execution)
