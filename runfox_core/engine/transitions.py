"""transitions.py -- the workflow lifecycle, written once over a Txn.

Each function takes a ``Txn`` (what is known of one execution plus its
pending changes) and the current time, changes the Txn, and returns what the
caller should see. None of them touches a store directly: the Workflow
commits the Txn, and on a version conflict runs the transition again on
fresh data. Every function is therefore safe to repeat.

Readiness is kept incrementally so a step costs O(its neighbours):
``header.ready`` holds exactly the steps whose dependencies are complete and
which wait for dispatch; ``header.joins`` counts incomplete dependencies of
waiting steps that have two or more. Invariant: while a step is not
complete, none of its transitive dependents has started, because a reset
always takes every transitive dependent with it.

Expressions never raise out of a transition: inputs resolve strictly at
claim (a missing path or an operator that raises fails the step:
``InputError``), branches are decided before anything changes (a condition
or ``set`` target that raises fails the attempt: ``BranchError``), and
``outputs`` that cannot be resolved fail the execution (``OutputError``).

Ending an execution (halt, failure, ``cancel``) writes only the ending step and the
header, whatever the width: steps left open are *reported* cancelled by
readers (``status.step_status``), and their results are ignored as stale.
"""

from __future__ import annotations

import logging
import random
import socket
from datetime import UTC, datetime
from typing import Any

from .. import expressions
from ..errors import PayloadError
from ..history import EventType as Ev
from ..payloads import BlobStoreError
from ..results import Cancelled, Complete, DispatchJob, Failed, Halt, ItemRef, Pending, StepError
from ..spec import Plan, StepPlan, set_target_ids
from ..status import TERMINAL_WORKFLOW_STATUSES, StepStatus, WorkflowStatus
from . import kinds
from .records import ExecutionHeader, StepRecord, bounded_error
from .txn import Txn, encode_inputs

log = logging.getLogger("runfox_core")

_HOST = socket.gethostname()
OUTPUTS = "outputs"  # the step name an OutputError is recorded under


_LAST_ISO: tuple[float, str] = (-1.0, "")  # a transition stamps several times with one `now`


def iso(ts: float) -> str:
    global _LAST_ISO
    last = _LAST_ISO
    if last[0] == ts:
        return last[1]
    text = datetime.fromtimestamp(ts, tz=UTC).isoformat()
    _LAST_ISO = (ts, text)
    return text


def terminal_result(txn: Txn) -> Complete | Halt | Failed | Cancelled | None:
    h = txn.header
    if h.status == WorkflowStatus.CANCELLED:
        return Cancelled((h.outcome or {}).get("reason"))
    if h.status == WorkflowStatus.COMPLETE:
        return Complete(h.outcome)
    if h.status == WorkflowStatus.HALTED:
        return Halt(h.outcome)
    if h.status == WorkflowStatus.FAILED and h.error:
        return Failed(StepError.from_dict(h.error))
    return None


# ----------------------------------------------------------------- advance


def expired(txn: Txn, now: float) -> list[str]:
    """Steps in flight whose deadline has passed."""
    return [sid for sid, _ in txn.header.deadlines.due(now)]


def expire_deadlines(txn: Txn, now: float, limit: int | None = None) -> list[DispatchJob]:
    """Turn in-flight steps past their deadline (at most ``limit`` of them) into failed attempts.

    Each expiry is a transition of its own that happens to share a commit, so
    expiring a few now and the rest in the next commit ends the same as
    expiring them all at once; ``limit`` keeps one commit within the store's
    size. Their records are read in one call, not one by one. Returns the
    jobs a step's kind sends on its deadline (a map's due retries).
    """
    due = expired(txn, now)
    return _expire(txn, due[:limit] if limit else due, now)


def _expire(txn: Txn, due: list[str], now: float, send: bool = True) -> list[DispatchJob]:
    txn.prefetch(due, [])
    txn.prefetch_schedule(due)
    jobs: list[DispatchJob] = []
    for sid in due:
        run_id = txn.header.deadlines[sid][0]
        if txn.header.status in TERMINAL_WORKFLOW_STATUSES:
            return jobs
        rec = txn.step(sid)  # (an orphaned claim has no deadline at its run: ``as_claimed``)
        if rec.status == StepStatus.IN_PROGRESS and rec.run_id == int(run_id):
            p = txn.plan.steps[sid]
            jobs += kinds.get(p.kind).expire(txn, p, rec, now, send)  # a task's attempt failed; a kind's timer may mean more
        else:
            txn.header.deadlines.pop(sid, None)
    return jobs


def timeout_error(p: StepPlan) -> dict[str, str]:
    """The error of an attempt that had no answer within the step's ``timeout_seconds``."""
    return {"type": "TimeoutError", "message": f"no result within timeout_seconds={p.timeout_seconds or 0:g}"}


def timed_out(txn: Txn, p: StepPlan, run_id: int, now: float) -> dict[str, str]:
    """Step ``p`` had no answer for ``run_id`` within its ``timeout_seconds``: note it in the history
    and return the error its attempt fails with."""
    txn.event(Ev.TIMED_OUT, now, step=p.id, run_id=run_id, timeout_seconds=p.timeout_seconds)
    return timeout_error(p)


def stale_unsent(txn: Txn, now: float, grace: float) -> list[str]:
    return [sid for sid, _ in txn.header.unsent.due(now - grace)]


def reemit_unsent(txn: Txn, sids: list[str], now: float) -> list[DispatchJob]:
    """Jobs claimed earlier whose send was never confirmed: emit them again, exactly as claimed.

    Each re-emission stands alone (it re-stamps one unsent entry), so the
    caller may pass a slice of the stale claims and the rest in later
    commits. Their records are read in one call.
    """
    txn.prefetch(sids, [])
    jobs = []
    for sid in sids:
        run_id = int(txn.header.unsent[sid][0])
        rec = txn.step(sid)
        if rec.status != StepStatus.IN_PROGRESS or rec.run_id != run_id or rec.inputs is None:
            txn.unsent_remove.append(sid)
            continue
        p = txn.plan.steps[sid]
        jobs += kinds.get(p.kind).reemit(txn, p, rec, now)
        txn.event(Ev.REEMITTED, now, step=sid, run_id=run_id)
        log.warning("re-emitting unsent job", extra={"execution": txn.key, "step": sid, "run_id": run_id})
    return jobs


def claimable(txn: Txn, now: float, limit: int | None) -> list[str]:
    return [sid for sid, _ in txn.header.ready.due(now, limit)]


def claim(txn: Txn, sids: list[str], now: float, max_bytes: int | None = None) -> list[DispatchJob]:
    """Mark ``sids`` in progress with their inputs resolved; return their jobs.

    Claims stop early (the rest stay ready for the next commit) once the
    resolved inputs would pass ``max_bytes``, the store's size limit for one
    commit. A step whose inputs cannot be resolved or exceed the payload
    limit fails the workflow here: retrying could not change a deterministic
    input. No step record is read: ``header.reruns`` holds the run counters
    of steps that ran before, and every other ready step is at run 0.
    """
    plans = [txn.plan.steps[s] for s in sids]
    want_steps: set[str] = set()
    all_state = False
    for p in plans:
        for refs in (p.input_refs, p.kind_refs):
            want_steps |= set(txn.plan.steps) if refs.all_steps else refs.steps
            all_state |= refs.all_state
    state_keys = None if all_state else {k for p in plans for r in (p.input_refs, p.kind_refs) for k in r.state_keys}
    txn.prefetch_schedule(sids)
    # (and a record the claim replaces that its put reads: a wait's earlier run that may have taken an event)
    want_steps |= {p.id for p in plans if txn.reads_before_put(p.id, txn.header.reruns.get(p.id, (0, 0))[0])}
    txn.prefetch(want_steps, state_keys)
    jobs: list[DispatchJob] = []
    total = 0
    claimed = False
    if txn.header.status == WorkflowStatus.PENDING and plans:
        txn.event(Ev.STARTED, now)
    for p in plans:
        run_id, attempt = txn.header.reruns.get(p.id, (0, 0))
        try:
            inputs, size = encode_inputs(expressions.resolve_fields(p.input, txn.context(p.input_refs), "input"), p.id,
                                         txn.codec)
        except PayloadError as exc:
            return _fail_unclaimed(txn, p, run_id, attempt, {"type": "PayloadError", "message": str(exc)}, now)
        except expressions.ExpressionError as exc:  # a path that does not exist, or an operator that raised
            return _fail_unclaimed(txn, p, run_id, attempt, {
                "type": "InputError", "message": f"step {p.id!r}, {_explain(txn, exc)}"}, now)
        if max_bytes is not None and jobs and total + size > max_bytes:
            break  # the rest go in the next commit
        total += size
        txn.header.ready.pop(p.id, None)
        txn.header.reruns.pop(p.id, None)
        record = StepRecord(step_id=p.id, token=p.token, status=StepStatus.IN_PROGRESS, run_id=run_id,
                            attempt=attempt, inputs=inputs, start_time=iso(now), host=_HOST)
        txn.put_step(record)
        if claims_ahead(p):
            txn.claims.add(p.id)
        if p.timeout_seconds is not None:
            txn.header.deadlines[p.id] = [run_id, now + p.timeout_seconds]
        jobs.extend(kinds.get(p.kind).begin(txn, p, record, now))
        if p.token:  # a kind that sends no job (a wait) says what it began in its own event
            txn.event(Ev.DISPATCHED, now, step=p.id, run_id=run_id, attempt=attempt)
        claimed = True
    if claimed and txn.header.status == WorkflowStatus.PENDING:  # a kind that sends no job started too
        txn.header.status = WorkflowStatus.IN_PROGRESS
    return jobs


def claims_ahead(p: StepPlan) -> bool:
    """Whether a claim of ``p`` may be written ahead of its commit (``Commit.claims``): its kind's
    begin record is the claim's own (``StepKind.begins_alike``), drawing nothing at the claim
    (``StepKind.draws_at_claim``: a wait's callback nonce is not), and every claim of ``p`` at one
    run_id resolves the same inputs: they read only upstream outputs (fixed while ``p`` is not
    complete: a reset bumps its run_id) and the workflow's inputs, never state (which other branches
    change meanwhile) nor every step. What the kind's own block reads (a wait's ``match`` or
    ``until``) does not count: it is not in the claim's record, and a ``begin`` that ends the attempt
    at once leaves no claim to write ahead (``Txn.to_commit``)."""
    kind = kinds.get(p.kind)
    return kind.begins_alike and not kind.draws_at_claim(p.config) and _inputs_alike(p)


def _inputs_alike(p: StepPlan) -> bool:
    refs = p.input_refs
    return not (refs.state_keys or refs.all_state or refs.all_steps or refs.unknown_roots)


def _fenced(p: StepPlan, rec: StepRecord) -> bool:
    """Whether ``rec``, in progress, may be a claim of ``p`` written ahead (so read through
    ``as_claimed``): ``claims_ahead``, or a claim of a wait that the previous release wrote ahead
    (one that hands out a token kept it in a ``~wait~`` record: ``engine/wait.py``), told by the
    record's lack of what this release's claim of it always holds, being its commit's own: token
    data (``StepRecord.callback``) or the ``waiting`` event it keeps (``StepRecord.own_events``)."""
    if claims_ahead(p):
        return True
    kind = kinds.get(p.kind)
    return rec.callback is None and rec.own_events is None and kind.begins_alike and kind.draws_at_claim(p.config) \
        and _inputs_alike(p)


def as_claimed(header: ExecutionHeader, rec: StepRecord, only_dep: StepRecord | None) -> StepRecord:
    """``rec`` as the commits that landed have it: the one fence against a claim written ahead.

    A store may write a claim's record before the commit that claims it (``Commit.claims``). When that
    commit never lands (it lost its race, or its process died) the record is an orphan: in progress,
    while what did commit says the step was not claimed at that run. The header lists it ready still
    (the claim came from the ready set), or the claim rode in the commit that made the step ready,
    completing a dependency: then the header counts the step among its ``joins`` (two or more
    dependencies: one still to complete), or its only dependency's record (``only_dep``, given for a
    step with exactly one) is not complete (a step never begins before its dependencies complete, see
    the module docstring). Such a record reads as the step waiting for its claim (RETRY after a failed
    attempt, else READY): no result, event or reader acts on it, and the next claim of that run writes
    it again, or over it.

    A reader holding committed proof of the claim needs no fence: a deadline or an unsent entry at the
    record's run is written only by the commit that claimed it. A wait that hands out a callback token
    keeps it on its own record, and so is never written ahead (``claims_ahead``); the previous release
    wrote such a claim ahead, and its record, with no token data, is read through this still
    (``_fenced``).
    """
    if rec.status != StepStatus.IN_PROGRESS:
        return rec
    sid = rec.step_id
    if sid in header.ready or sid in header.joins or (only_dep is not None and only_dep.status != StepStatus.COMPLETE):
        return rec.evolve(status=StepStatus.RETRY if rec.attempt else StepStatus.READY, start_time=None, host=None)
    return rec


def _sole_dep(p: StepPlan) -> str | None:
    return p.deps[0] if len(p.deps) == 1 else None


def claimed_step(txn: Txn, sid: str) -> StepRecord:
    """``as_claimed`` of ``sid``'s record as ``txn`` sees it (the record of its only dependency, if
    ``as_claimed`` needs it, is read when not prefetched)."""
    rec = txn.step(sid)
    p = txn.plan.steps[sid]
    if rec.status != StepStatus.IN_PROGRESS or not _fenced(p, rec):
        return rec
    dep = _sole_dep(p)
    return as_claimed(txn.header, rec, txn.step(dep) if dep is not None else None)


def all_as_claimed(header: ExecutionHeader, records: dict[str, StepRecord], plan: Plan) -> dict[str, StepRecord]:
    """``records`` (every stored record of an execution, loaded after ``header``) with ``as_claimed``
    applied to each step's record in progress; the spilled header entries of those steps, if any,
    are read in one call."""
    claims = [sid for sid, p in plan.steps.items() if (rec := records.get(sid)) is not None
              and rec.status == StepStatus.IN_PROGRESS and _fenced(p, rec)]
    if not claims:
        return records
    header.fetch_rows(claims)
    out = dict(records)
    for sid in claims:
        dep = _sole_dep(plan.steps[sid])
        out[sid] = as_claimed(header, records[sid], None if dep is None else
                              records.get(dep) or StepRecord(step_id=dep, token=plan.steps[dep].token))
    return out


def _fail_unclaimed(txn: Txn, p: StepPlan, run_id: int, attempt: int, error: dict[str, str], now: float) -> list[Any]:
    txn.header.ready.pop(p.id, None)
    txn.header.reruns.pop(p.id, None)
    record = StepRecord(step_id=p.id, token=p.token, run_id=run_id, attempt=attempt)
    _fail_step(txn, p.id, record, error, now)
    return []


def _explain(txn: Txn, exc: expressions.ExpressionError) -> str:
    """The failure's message; a missing state key lists every state key (read only on this error path)."""
    cause = exc.cause
    if isinstance(cause, expressions.MissingPathError) and cause.depth == 1 and cause.path.startswith("state."):
        cause = cause.with_keys(list(txn.state(None)))
    return expressions.describe_failure(exc.field, exc.expression, cause)


def idle_result(txn: Txn) -> Pending:
    """Nothing to dispatch now: say when to look again, if a timer is set."""
    return Pending(wake_at=next_timer(txn.header))


def next_timer(header: ExecutionHeader) -> float | None:
    """The earliest time (epoch s) the execution has something to do: a retry's backoff or a deadline
    (spilled schedule entries count by the lower bound their schedule keeps in the header)."""
    times = [t for t in (header.ready.earliest(), header.deadlines.earliest()) if t is not None]
    return min(times) if times else None


# ------------------------------------------------------------------ results


def apply_result(txn: Txn, sid: str, run_id: int | None, output: Any, error: dict[str, str] | None,
                 now: float, item: ItemRef | None = None) -> tuple[bool, Any]:
    """Apply one worker result. Returns (applied, what on_step_result returns).

    Fenced: ignored unless ``sid`` is in progress at ``run_id`` (None: its
    current run). Stale and duplicate deliveries therefore change nothing.
    """
    if sid not in txn.plan.steps or not txn.plan.steps[sid].token:
        log.warning("result for unknown step (or one that sends no jobs) ignored",
                    extra={"execution": txn.key, "step": sid})
        return False, None
    if txn.header.status in TERMINAL_WORKFLOW_STATUSES:
        # the step is reported cancelled (status.py): this answer is stale, like any fenced-off one
        log.info("stale result ignored: the execution has ended, so the step is cancelled",
                 extra={"execution": txn.key, "step": sid, "run_id": run_id, "status": str(txn.header.status)})
        return False, None
    # (a result naming its run needs no fence: no job was sent for an orphaned claim's run)
    rec = txn.step(sid) if run_id is not None else claimed_step(txn, sid)
    if rec.status != StepStatus.IN_PROGRESS or (run_id is not None and run_id != rec.run_id):
        log.info("stale or duplicate result ignored",
                 extra={"execution": txn.key, "step": sid, "run_id": run_id,
                        "current_run_id": rec.run_id, "status": str(rec.status)})
        if run_id is not None and run_id < rec.run_id:  # a late answer of an earlier run (timed out, retried)
            txn.event(Ev.STALE_RESULT, now, step=sid, run_id=run_id, current_run_id=rec.run_id)
        return False, None
    p = txn.plan.steps[sid]
    return kinds.get(p.kind).on_result(txn, p, rec, item, output, error, now)


def finish_attempt(txn: Txn, sid: str, output: Any, error: dict[str, Any] | None, now: float,
                   event_id: str | None = None) -> Any:
    """End the current attempt of in-progress step ``sid`` with ``output`` or ``error``.

    The one way an attempt ends, whatever the step's kind (``kinds.py``):
    its deadline and unsent claim go, then an error (or an output over the
    payload limit) is a failed attempt, and an output runs the branches.
    The caller has fenced ``sid`` (in progress at the run it answers for).
    ``event_id``: the event the attempt took (a wait's), kept on its record
    whatever the attempt came to (``StepRecord.event_id``).
    """
    if event_id is not None:
        txn.put_step(txn.step(sid).evolve(event_id=event_id))
    txn.unsent_remove.append(sid)  # a result (or the end of a step that sent none) owes no resend
    txn.header.unsent.pop(sid, None)
    txn.header.deadlines.pop(sid, None)
    if error is None:
        try:
            output, _ = txn.codec.pack(output, f"step {sid!r} output")
        except PayloadError as exc:  # BadReferenceError too: a reference outside the kit's blob store
            error = {"type": type(exc).__name__, "message": str(exc)}
    if error is not None:
        return fail_attempt(txn, sid, bounded_error(error), now)
    return _succeed(txn, sid, txn.step(sid), dict(output), now)


def _succeed(txn: Txn, sid: str, rec: Any, output: dict[str, Any], now: float) -> Any:
    p = txn.plan.steps[sid]
    misses: list[str] = []
    try:  # decided before anything changes: a branch that cannot be evaluated fails the attempt
        branch, targets = _decide(txn, p, output, misses)
    except expressions.ExpressionError as exc:
        return fail_attempt(txn, sid, {"type": "BranchError", "message": f"step {sid!r}, {_explain(txn, exc)}"}, now)
    txn.merge_state(output)
    rec = rec.evolve(output=output, error=None, missing_paths=(misses or None) if branch is None else None)
    txn.put_step(rec)
    if branch is not None:
        txn.event(Ev.BRANCH_FIRED, now, step=sid, run_id=rec.run_id, branch=p.branches.index(branch),
                  action=branch.action)
    elif p.branches:
        txn.event(Ev.NO_BRANCH_FIRED, now, step=sid, run_id=rec.run_id, missing_paths=misses or None)
    if branch is None:
        if misses:
            log.warning("no branch fired; its conditions read paths that do not exist",
                        extra={"execution": txn.key, "step": sid, "run_id": rec.run_id, "missing_paths": misses})
        if rec.attempt + 1 < p.max_attempts:  # runfox semantics: no exit taken, run again
            _schedule_retry(txn, sid, rec, now, backoff=False)
            return Pending()
        return _complete_step(txn, sid, now)
    if branch.action == "halt":
        txn.put_step(rec.evolve(status=StepStatus.HALTED, end_time=iso(now)))
        txn.header.status = WorkflowStatus.HALTED
        txn.header.outcome = branch.result
        txn.event(Ev.HALTED, now, step=sid)
        return Halt(branch.result)
    if branch.action == "complete":
        return _complete_step(txn, sid, now)
    txn.event(Ev.RESET, now, step=sid, steps=reset(txn, [*targets, sid], now))
    return None


def _decide(txn: Txn, p: StepPlan, output: dict[str, Any], misses: list[str]) -> tuple[Any, list[str]]:
    """The branch that fires on ``output`` (None: none did) and, for a set branch, its targets.

    Conditions see the state as it will be once ``output`` is merged, the
    step's own output at top level and under ``steps``. A missing path in a
    condition reads as null and is noted in ``misses``; any other failure,
    and a set target that is not a step, raises ExpressionError naming the
    branch field.
    """
    if not p.branches:
        return None, []
    context = txn.context(p.branch_refs)
    context = {**context, "state": {**context["state"], **output},
               "steps": {**context["steps"], p.id: {"output": output}}, **output}
    for i, branch in enumerate(p.branches):
        field = f"branch[{i}].condition"
        try:
            fired = expressions.condition_holds(branch.condition, context, misses)
        except BlobStoreError:
            raise  # reading a value by reference failed: retry the transition, never fail the attempt
        except Exception as exc:  # noqa: BLE001 -- whatever an operator raised fails the attempt
            raise expressions.ExpressionError(field, branch.condition, exc) from exc
        if fired:
            if branch.action != "set":
                return branch, []
            return branch, _set_targets(txn, p, i, branch.set_target, context)
    return None, []


def _set_targets(txn: Txn, p: StepPlan, index: int, raw: Any, context: dict[str, Any]) -> list[str]:
    field = f"branch[{index}].action.set"
    try:
        ids = set_target_ids(expressions.resolve(raw, context) if isinstance(raw, dict) else raw)
        unknown = [t for t in ids if not isinstance(t, str) or t not in txn.plan.steps]
        if unknown:
            raise LookupError(f"resolved to {', '.join(repr(t) for t in unknown)}, which is not a step")
    except BlobStoreError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise expressions.ExpressionError(field, raw, exc) from exc
    return ids


def _complete_step(txn: Txn, sid: str, now: float) -> Any:
    rec = txn.step(sid)
    done = rec.evolve(status=StepStatus.COMPLETE, end_time=iso(now))
    p = txn.plan.steps[sid]
    if kinds.get(p.kind).keeps_events(p.config):  # its record says it (``history.py``)
        txn.put_step(txn.own_event(done, Ev.STEP_COMPLETED))
    else:
        txn.put_step(done)
        txn.event(Ev.STEP_COMPLETED, now, step=sid, run_id=rec.run_id)
    txn.header.remaining -= 1
    for dep in txn.plan.steps[sid].dependents:
        n_deps = len(txn.plan.steps[dep].deps)
        if n_deps == 1:
            txn.header.ready[dep] = 0.0
        else:
            left = txn.header.joins.get(dep, n_deps) - 1
            if left <= 0:
                txn.header.joins.pop(dep, None)
                txn.header.ready[dep] = 0.0
            else:
                txn.header.joins[dep] = left
    if txn.header.remaining <= 0:
        return complete_workflow(txn, sid, now)
    return None


def complete_workflow(txn: Txn, last: str, now: float) -> Complete | Failed:
    """Every step is complete: resolve ``outputs`` and end the execution.

    Outputs that cannot be resolved (a path that does not exist, an operator
    that raised) fail the execution with an ``OutputError`` naming the field,
    recorded under the step name ``outputs``. The outcome is stored with the
    execution's header, so it obeys the same limit as any step output; over
    it, the execution fails naming ``last`` (the step whose completion ended
    the run).
    """
    plan = txn.plan
    try:
        outcome = expressions.resolve_fields(plan.outputs, txn.context(plan.output_refs), "outputs") \
            if plan.outputs else {}
    except expressions.ExpressionError as exc:
        error = StepError(step=OUTPUTS, run_id=0, type="OutputError", message=_explain(txn, exc))
        txn.header.status = WorkflowStatus.FAILED
        txn.header.error = error.to_dict()
        txn.header.ready.clear()
        txn.event(Ev.FAILED, now, step=OUTPUTS, error=error.to_dict())
        return Failed(error)
    try:
        outcome, _ = txn.codec.pack(outcome, "the outcome (the workflow's outputs)")
    except PayloadError as exc:
        return _fail_step_keeping(txn, last, {"type": "PayloadError", "message": f"{exc} (resolved when step "
                                                                                    f"{last!r} completed)"}, now)
    txn.header.status = WorkflowStatus.COMPLETE
    txn.header.outcome = outcome
    txn.header.ready.clear()
    txn.event(Ev.COMPLETED, now)
    return Complete(outcome)


def fail_attempt(txn: Txn, sid: str, error: dict[str, str], now: float) -> Any:
    """One attempt failed: retry after backoff while attempts remain, else fail the execution."""
    rec = txn.step(sid)
    txn.header.deadlines.pop(sid, None)
    p = txn.plan.steps[sid]
    txn.event(Ev.ATTEMPT_FAILED, now, step=sid, run_id=rec.run_id, error=bounded_error(error))
    if rec.attempt + 1 < p.max_attempts:
        _schedule_retry(txn, sid, rec.evolve(error={**error, "run_id": rec.run_id}), now, backoff=True)
        return Pending(wake_at=txn.header.ready[sid] or None)
    return _fail_step(txn, sid, rec, error, now)


def _fail_step(txn: Txn, sid: str, rec: Any, error: dict[str, str], now: float) -> Failed:
    step_error = StepError(step=sid, run_id=rec.run_id, type=str(error.get("type", "Error")),
                           message=str(error.get("message", "")))
    txn.put_step(rec.evolve(status=StepStatus.FAILED, error=step_error.to_dict(), end_time=iso(now)))
    txn.header.status = WorkflowStatus.FAILED
    txn.header.error = step_error.to_dict()
    txn.header.ready.clear()
    txn.event(Ev.FAILED, now, step=sid, error=step_error.to_dict())
    return Failed(step_error)


def _fail_step_keeping(txn: Txn, sid: str, error: dict[str, str], now: float) -> Failed:
    """Fail the execution on account of ``sid`` without changing its record (it did its work)."""
    step_error = StepError(step=sid, run_id=txn.step(sid).run_id, type=error["type"], message=error["message"])
    txn.header.status = WorkflowStatus.FAILED
    txn.header.error = step_error.to_dict()
    txn.header.ready.clear()
    txn.event(Ev.FAILED, now, step=sid, error=step_error.to_dict())
    return Failed(step_error)


def fail_for_limit(txn: Txn, sid: str | None, message: str, now: float) -> Failed:
    """A transition could not be stored at any split (an item over the store's limit): end the
    execution ``failed`` with the store's message, on the step concerned if there is one."""
    error = bounded_error({"type": "LimitError", "message": message})
    txn.header.joins.clear()  # nothing is scheduled after a failure: keep the failing commit small
    txn.header.reruns.clear()
    if sid is not None and sid in txn.plan.steps:
        return _fail_step(txn, sid, txn.step(sid).evolve(output=None), error, now)
    step_error = StepError(step=sid or "", run_id=0, type=error["type"], message=error["message"])
    txn.header.status = WorkflowStatus.FAILED
    txn.header.error = step_error.to_dict()
    txn.header.ready.clear()
    txn.event(Ev.FAILED, now, step=sid, error=step_error.to_dict())
    return Failed(step_error)


def retry_delay(p: StepPlan, attempt: int) -> float:
    """Exponential backoff for attempt ``attempt`` (1-based), with optional jitter."""
    policy = p.retry
    delay = min(policy.max_backoff_seconds, policy.backoff_seconds * (2 ** (attempt - 1)))
    if policy.jitter and delay > 0:
        delay *= random.uniform(0.5, 1.0)
    return delay


def _schedule_retry(txn: Txn, sid: str, rec: Any, now: float, backoff: bool) -> None:
    attempt = rec.attempt + 1
    txn.put_step(rec.evolve(status=StepStatus.RETRY, attempt=attempt, run_id=rec.run_id + 1,
                         end_time=iso(now)))
    txn.header.reruns[sid] = [rec.run_id + 1, attempt]
    delay = retry_delay(txn.plan.steps[sid], attempt) if backoff else 0.0
    txn.header.ready[sid] = now + delay if delay > 0 else 0.0
    txn.event(Ev.RETRIED, now, step=sid, run_id=rec.run_id + 1, attempt=attempt, backoff=round(delay, 3))


def reset(txn: Txn, seeds: list[str], now: float) -> list[str]:
    """Send ``seeds`` and everything downstream of them back to READY with a new run_id; return them."""
    plan = txn.plan
    group: dict[str, None] = dict.fromkeys(seeds)
    frontier = list(group)
    while frontier:
        for dep in plan.steps[frontier.pop()].dependents:
            if dep not in group:
                group[dep] = None
                frontier.append(dep)
    outside = {d for sid in group for d in plan.steps[sid].deps if d not in group}
    txn.prefetch([*group, *outside], [])
    txn.prefetch_schedule(group)
    for sid in group:
        rec = txn.step(sid)
        if rec.status == StepStatus.COMPLETE:
            txn.header.remaining += 1
        txn.put_step(rec.evolve(status=StepStatus.READY, run_id=rec.run_id + 1, attempt=0,
                             inputs=None, output=None, error=None, start_time=None, end_time=None,
                             missing_paths=None))
        txn.header.reruns[sid] = [rec.run_id + 1, 0]
        txn.header.ready.pop(sid, None)
        txn.header.joins.pop(sid, None)
        txn.header.deadlines.pop(sid, None)
        if sid in txn.header.unsent:
            txn.unsent_remove.append(sid)
            txn.header.unsent.pop(sid, None)
    for sid in group:
        deps = plan.steps[sid].deps
        waiting = sum(1 for d in deps if d in group or txn.step(d).status != StepStatus.COMPLETE)
        if waiting == 0:
            txn.header.ready[sid] = 0.0
        elif len(deps) >= 2:
            txn.header.joins[sid] = waiting
    return list(group)


def check_deadline(txn: Txn, sid: str, run_id: int, now: float) -> tuple[bool, float | None]:
    """A deadline timer fired. Returns (changed, still-pending deadline to re-arm, if any)."""
    entry = txn.header.deadlines.get(sid)
    if entry is None or int(entry[0]) != run_id or txn.header.status in TERMINAL_WORKFLOW_STATUSES:
        return False, None
    if entry[1] > now:
        return False, entry[1]
    _expire(txn, [sid], now, send=False)  # others past due: by the advance() that follows, in chunks
    return True, None


# ------------------------------------------------------------------ cancel


def cancel(txn: Txn, reason: str | None, now: float) -> tuple[bool, Complete | Halt | Failed | Cancelled]:
    """End a running execution as cancelled: one header write, whatever its width.

    Steps left open are reported cancelled and their results ignored (as for
    any ended execution); nothing ready, retrying or unsent is dispatched
    again, because every advance starts with ``terminal_result``. An ended
    execution is left as it is and its ending returned (changed: False).
    """
    done = terminal_result(txn)
    if done is not None:
        return False, done
    h = txn.header
    h.status = WorkflowStatus.CANCELLED
    h.outcome = {"reason": reason}
    h.updated_at = iso(now)
    h.ready.clear()
    h.deadlines.clear()
    txn.unsent_remove.extend(h.unsent)  # nothing is owed a resend any more
    h.unsent.clear()
    txn.event(Ev.CANCELLED, now, reason=reason)
    return True, Cancelled(reason)
