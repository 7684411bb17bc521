"""workflow.py -- Workflow: a stateless handle over one stored execution.

A handle holds an execution id and a backend; any process can make one with
``resume`` and carry on. Each operation runs a transition from
``engine/transitions.py`` inside an optimistic transaction: read what it
needs, compute, commit under the header's version check, and on a conflict
start again on fresh data. Concurrent handles in many processes therefore
never lose an update or claim a step twice.

A handle remembers what its own last commit wrote (header version, records,
state) and starts the next transition from there instead of re-reading; if
anything else committed in between, the version check fails and it re-reads.
A transition that would change nothing (an idle ``advance``, a result judged
stale, a deadline not reached) is never answered from that memory: with no
commit there is no version check, so the transition runs again on data read
just now, and only that answer is returned. Handles are therefore
interchangeable: any number of them, in any processes, may drive one
execution in any order. Properties (``status``, ``outcome``...) always read
the store.

Caller protocol (event-driven): ``advance()`` -> ``Dispatch(jobs)`` ->
``backend.dispatch(id, jobs)``; for each result ``on_step_result(op, output,
run_id=job.run_id)`` then ``advance()`` again. ``run()`` does this loop for
in-process and polled runners.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from .backend.base import Backend
from .backend.runner import Worker
from .backend.store import StoreLimitError
from .engine import redrive
from .engine import transitions as tx
from .engine.txn import Snapshot, Txn, default_record
from .errors import ConflictError, Problem
from .inspector import Description, describe
from .results import Cancelled, Complete, Dispatch, Failed, Halt, ItemRef, Pending, StateChangeEvent, StepResult
from .spec import load_yaml, validate
from .status import StepStatus, WorkflowStatus

log = logging.getLogger("runfox_core")
T = TypeVar("T")

MAX_CONFLICT_RETRIES = 200
MAX_JOBS_PER_ADVANCE = 1000  # claims one advance() returns, so claims not yet confirmed sent stay bounded


class _Reload(Exception):
    """A transition needs fresh data rather than this handle's cached snapshot."""


class Workflow:
    def __init__(self, workflow_execution_id: str, backend: Backend):
        self.id = workflow_execution_id
        self.backend = backend
        # What this handle's last transition knew; never trusted for an answer that commits nothing.
        self._snapshot: Snapshot | None = None
        self._written: dict[str, Any] = {}  # step records the last transition committed
        self._claimed: list[Any] = []  # jobs claimed with a result (claim_ready), for the next advance()

    # ---------------------------------------------------------- construction

    @classmethod
    def from_dict(cls, spec: dict[str, Any], backend: Backend, inputs: dict[str, Any] | None = None,
                  name: str | None = None) -> Workflow:
        """Validate ``spec`` and create an execution. Raises SpecError (nothing written) or
        ExecutionExistsError (``name`` already used). Call ``advance()`` next."""
        return cls(backend.create(spec, inputs, name=name), backend)

    @classmethod
    def from_yaml(cls, text: str, backend: Backend, inputs: dict[str, Any] | None = None,
                  name: str | None = None) -> Workflow:
        return cls.from_dict(load_yaml(text), backend, inputs, name=name)

    @classmethod
    def resume(cls, workflow_execution_id: str, backend: Backend, steps: Iterable[str] = ()) -> Workflow:
        """A handle on an existing execution; raises ExecutionNotFoundError (a KeyError).

        The header read to check it exists (and the records of ``steps``, when
        the caller knows which it will touch) seed the handle, so a next
        transition that commits starts without another read.
        """
        wanted = list(steps)
        loader = getattr(backend.store, "load_snapshot", None)
        if wanted and loader is not None:
            header, records, _ = loader(workflow_execution_id, wanted, [])
        else:
            header = backend.load_header(workflow_execution_id)
            records = backend.store.load_steps(workflow_execution_id, wanted) if wanted else {}
        missing = [sid for sid in wanted if sid not in records]
        if missing:  # read and found absent: known too, so the transition does not ask again
            plan = backend.plan(workflow_execution_id)
            records = {**records, **{sid: default_record(plan, sid) for sid in missing}}
        wf = cls(workflow_execution_id, backend)
        wf._snapshot = Snapshot(header, records, {}, False)
        return wf

    @staticmethod
    def validate(spec: Any, inputs: Any = None) -> list[Problem]:
        """Every problem with ``spec`` at once (empty when sound); writes nothing."""
        return validate(spec, inputs)

    # ------------------------------------------------------------ transitions

    def _transact(self, transition: Callable[[Txn, float], tuple[bool, T]], about: str | None = None,
                  when_limited: Callable[[Failed], Any] = lambda failed: failed) -> T:
        """Run ``transition`` until it commits. If the store cannot hold its commit at all
        (``StoreLimitError``), the execution ends ``failed`` instead, naming the step concerned
        (the store's, else ``about``), and ``when_limited`` maps that Failed to the result."""
        backend = self.backend
        definition = backend.load_definition(self.id)
        plan = backend.plan(self.id)
        self._written = {}
        limited: StoreLimitError | None = None
        for attempt in range(MAX_CONFLICT_RETRIES):
            snapshot, fresh = self._snapshot, False
            if snapshot is None:
                snapshot, fresh = Snapshot(backend.load_header(self.id), {}, {}, False), True
            txn = Txn(backend.store, self.id, plan, definition, snapshot, fresh, codec=backend.codec)
            now = backend.clock()
            try:
                changed, result = transition(txn, now)
            except _Reload:
                self._snapshot = None
                continue
            if not changed:
                # Nothing to commit means no version check: an answer from remembered data could be
                # stale (another handle may have completed, reset or re-claimed since). Ask again
                # on data read now; only that answer stands.
                if not fresh:
                    self._snapshot = None
                    continue
                self._snapshot = snapshot  # a next transition that commits is version-checked
                return result
            txn.header.updated_at = tx.iso(now)  # when the execution last changed (its end, once it ended)
            try:
                backend.store.commit(self.id, txn.to_commit())
            except ConflictError:
                self._snapshot = None
                backend.record_conflict()
                time.sleep(random.uniform(0, 0.002 * min(attempt, 10)))
                continue
            except StoreLimitError as exc:
                if limited is not None:
                    raise
                log.error("transition cannot be stored; failing the execution",
                          extra={"execution": self.id, "step": exc.step or about, "error": str(exc)})
                limited, self._snapshot = exc, None

                def transition(txn: Txn, now: float, step: str | None = exc.step or about,
                               message: str = str(exc)) -> tuple[bool, Any]:
                    return True, when_limited(tx.fail_for_limit(txn, step, message, now))
                continue
            self._written = dict(txn.changed_steps)
            self._snapshot = txn.after_commit()
            return result
        raise ConflictError(f"execution {self.id}: gave up after {MAX_CONFLICT_RETRIES} conflicting writes")

    def advance(self) -> Dispatch | Pending | Complete | Halt | Failed | Cancelled:
        """Claim every dispatchable step and return its jobs (already marked in progress).

        Also fails steps past their deadline and re-emits jobs whose send was
        never confirmed. Safe to call any number of times, concurrently.
        At most about ``MAX_JOBS_PER_ADVANCE`` jobs come back at once: after
        dispatching them, call ``advance()`` again while it returns Dispatch
        (``run()`` and the driver do), so the execution's record of claims not
        yet sent stays bounded however wide the fan-out.
        """
        if self._claimed:
            # Jobs this handle's last result already claimed (on_step_result(claim_ready=True)), under
            # that commit's version check: hand them over before any read, so they are sent one
            # round trip sooner; the caller's next advance() does the rest (deadlines, re-emission,
            # anything else ready) on fresh data.
            claimed, self._claimed = self._claimed, []
            return Dispatch(claimed)
        grace = self.backend.unsent_grace_seconds
        limit = self.backend.store.max_steps_per_commit
        max_bytes = getattr(self.backend.store, "max_bytes_per_commit", None)
        jobs: list[Any] = []

        def step(txn: Txn, now: float) -> tuple[bool, Any]:
            done = tx.terminal_result(txn)
            if done is not None:
                return False, done
            changed = False
            found: list[Any] = []
            if tx.expired(txn, now):
                found += tx.expire_deadlines(txn, now, limit)  # the rest in the next commit of this loop
                changed = True
                done = tx.terminal_result(txn)
                if done is not None:
                    return True, done
                if tx.expired(txn, now):
                    return True, (found, True)
            emitted = {job.step for job in jobs}  # this call's own claims are not stale
            stale = [sid for sid in tx.stale_unsent(txn, now, grace) if sid not in emitted]
            if stale:
                if not txn.fresh:
                    raise _Reload()
                found += tx.reemit_unsent(txn, stale[:limit], now)  # the rest in the next commit
                changed = True
                done = tx.terminal_result(txn)  # a map whose resent job cannot be built may end
                if done is not None:
                    return True, done
                if limit and len(stale) > limit:
                    return True, (found, True)
            sids = tx.claimable(txn, now, limit)
            if sids:
                found += tx.claim(txn, sids, now, max_bytes)
                changed = True
                done = tx.terminal_result(txn)
                if done is not None:
                    return True, done
            if found:
                # more to claim only if this commit stopped at the store's limit
                return True, (found, bool(tx.claimable(txn, now, 1)))
            # (an idle advance that found the claims not yet confirmed sent were all confirmed commits
            # that, so the next ones do not read them again: records.Schedule.overstated)
            return changed or txn.header.overstated(), tx.idle_result(txn)

        while True:  # one commit per batch the store can take; loop until nothing is left to claim
            result = self._transact(step)
            if not isinstance(result, tuple):
                return Dispatch(jobs) if jobs else result
            found, more = result
            jobs.extend(found)
            # done once nothing is left to claim; past MAX_JOBS_PER_ADVANCE, or once the claims not yet
            # confirmed sent pass the header's inline budget (on a store that spills: each spilled one
            # would cost its own write to confirm), the caller dispatches these, then calls advance() again
            spilled = self._snapshot is not None and self._snapshot.header.unsent.spilled > 0
            if not more or len(jobs) >= MAX_JOBS_PER_ADVANCE or spilled:
                return Dispatch(jobs)

    def on_step_result(self, step: str, output: Any = None, run_id: int | None = None,
                       error: dict[str, str] | None = None, claim_ready: bool = False,
                       item: ItemRef | None = None) -> Pending | Complete | Halt | Failed | None:
        """Apply one worker result for ``step`` (a step id; fenced by ``run_id`` when given).

        ``error`` ({"type", "message"}) reports a failed attempt instead of an
        output. Returns Halt/Failed/Complete when the execution ended,
        Pending when the step will run again, else None. Stale or duplicate
        results change nothing and return None. Call ``advance()`` next.

        ``claim_ready``: also claim, in the same commit, the steps this result
        made ready; the next ``advance()`` of this handle returns their jobs.
        One commit instead of two per step (a header write saved): use it
        only when this handle's ``advance()`` follows, as the result-router's
        does. ``item``: the job's ``item``, for a result of a map step's job
        (``engine/map.py``); the jobs it frees a place for come back the same way. The claims are fenced and recorded as unsent like any other, so
        if the process dies before sending them they are re-emitted.
        """
        callback = self.backend.on_state_change
        seen: dict[str, Any] = {}
        limit = self.backend.store.max_steps_per_commit
        max_bytes = getattr(self.backend.store, "max_bytes_per_commit", None)

        def transition(txn: Txn, now: float) -> tuple[bool, Any]:
            seen["jobs"] = []
            if callback is not None and error is None and step in txn.plan.steps:
                seen["previous"] = txn.state(None)
            applied, result = tx.apply_result(txn, step, run_id, output, error, now, item)
            seen["jobs"] = list(txn.jobs)  # jobs of a map step this result let start
            seen["applied"] = applied
            if applied and callback is not None and "previous" in seen and txn.changed_state:
                seen["new"] = txn.state(None)
                seen["run_id"] = txn.step(step).run_id
            seen["written"] = txn.changed_steps.get(step)  # what the result made of step (a claim may follow)
            if applied and claim_ready and tx.terminal_result(txn) is None:
                sids = tx.claimable(txn, now, limit)
                if sids:
                    seen["jobs"] = [*seen["jobs"], *tx.claim(txn, sids, now, max_bytes)]
                    result = tx.terminal_result(txn) or result  # an input that cannot resolve fails it
            return applied or bool(txn.events), result  # a stale result commits its history event alone

        def limited(failed: Failed) -> Failed:  # the failing commit replaced ours: nothing was claimed
            seen.update(jobs=[], written=None, applied=False)
            return failed

        result = self._transact(transition, about=step, when_limited=limited)
        self._claimed.extend(seen.get("jobs") or [])
        if seen.get("written") is not None and step in self._written:
            self._written[step] = seen["written"]  # written_step(step) is the result's record, not a re-claim
        if callback is not None and seen.get("applied") and "new" in seen:
            event = StateChangeEvent(step=step, run_id=seen["run_id"], changed_keys=sorted(output or {}))
            callback(self.id, seen["previous"], seen["new"], event)
        return result

    def on_step_timeout(self, step: str, run_id: int) -> float | None:
        """A deadline timer for (step, run_id) fired: fail the attempt if it is still running.

        Returns the deadline (epoch s) if it has not been reached yet, so the
        caller can re-arm a timer; None otherwise. Call ``advance()`` next.
        """
        return self._transact(lambda txn, now: tx.check_deadline(txn, step, run_id, now), about=step,
                              when_limited=lambda failed: None)

    def cancel(self, reason: str | None = None) -> Complete | Halt | Failed | Cancelled:
        """End the execution as cancelled (one small commit); if it had already ended, return
        how it ended and change nothing. Use ``operations.cancel``, which says which it was."""
        return self._transact(lambda txn, now: tx.cancel(txn, reason, now))

    def transact(self, transition: Callable[[Txn, float], tuple[bool, T]], about: str | None = None) -> T:
        """Run ``transition(txn, now) -> (changed, result)`` until it commits, as every operation here
        does; for transitions a step kind defines (``engine/wait.py``: events and callbacks). What it
        raises propagates, and nothing it changed is committed."""
        return self._transact(transition, about=about)

    def reopen(self, from_step: str | None = None) -> list[str]:
        """Redrive (or rerun from ``from_step``) in one commit (``engine/redrive.py``); returns the steps
        given a new run. Use ``operations.redrive``/``rerun``, which check the status first."""
        return self._transact(lambda txn, now: (True, redrive.reopen(txn, now, from_step)))

    def seed(self, records: dict[str, Any], state: dict[str, Any], source: str, from_step: str | None) -> None:
        """Start this fresh execution from another's complete steps and state (``operations.rerun``)."""
        def transition(txn: Txn, now: float) -> tuple[bool, None]:
            redrive.seed(txn, now, records, state, source, from_step)
            return True, None

        self._transact(transition)

    def written_step(self, step: str) -> Any:
        """The record of ``step`` this handle's last transition wrote, or None if it wrote none
        (for instance, the result it was given was stale and ignored)."""
        return self._written.get(step)

    def dispatch(self, jobs: list[Any]) -> list[StepResult]:
        """``backend.dispatch`` for this execution, keeping this handle's view of unsent jobs current."""
        results = self.backend.dispatch(self.id, jobs)
        if self._snapshot is not None:
            inline = self._snapshot.header.unsent.inline  # spilled ones are read afresh when needed
            for job in jobs:
                entry = inline.get(job.step)
                if entry is not None and int(entry[0]) == job.run_id:
                    del inline[job.step]
        return results

    def run(self, worker: Worker | None = None,
            timeout: float | None = None) -> Complete | Halt | Failed | Cancelled:
        """Drive the execution to its end: advance, dispatch, run the worker, apply results.

        ``worker`` is anything with ``run(workflow_execution_id)`` (default:
        the backend's own, if it was built with an executor). Without one,
        an external process works the jobs and this polls ``gather()``.
        ``timeout`` (seconds) raises TimeoutError if the execution has not ended.
        """
        worker = worker or self.backend.worker
        clock = self.backend.clock
        give_up = None if timeout is None else clock() + timeout
        while True:
            result = self.advance()
            if isinstance(result, (Complete, Halt, Failed, Cancelled)):
                return result
            progressed = False
            if isinstance(result, Dispatch):
                for local in self.dispatch(result.jobs):
                    self._apply(local)
                progressed = True
            if worker is not None:
                worker.run(self.id)
            for gathered in self.backend.gather(self.id):
                self._apply(gathered)
                progressed = True
            if progressed:
                continue
            now = clock()
            if give_up is not None and now >= give_up:
                raise TimeoutError(f"execution {self.id} still {self.status} after {timeout}s")
            wait = self.backend.poll_interval
            if isinstance(result, Pending) and result.wake_at is not None:
                wait = min(wait, max(0.0, result.wake_at - now))
            time.sleep(wait)

    def _apply(self, result: StepResult) -> Any:
        return self.on_step_result(result.step, result.output, run_id=result.run_id, error=result.error,
                                   item=result.item)

    # ------------------------------------------------------------ inspection
    # Thin delegates to ``inspector.describe`` (the runfox API has these names); each reads the store.

    def describe(self) -> Description:
        """Everything about the execution now, from one load (see ``inspector.py``)."""
        return describe(self.backend, self.id)

    @property
    def status(self) -> WorkflowStatus:
        return describe(self.backend, self.id, steps=False).status

    @property
    def outcome(self) -> Any:
        """Resolved outputs (complete), the branch result (halted), ``{"reason"}`` (cancelled), else None."""
        return describe(self.backend, self.id, steps=False).outcome

    @property
    def error(self) -> dict[str, Any] | None:
        """The failing step's error (step, run_id, type, message) once the execution failed."""
        return describe(self.backend, self.id, steps=False).error

    @property
    def state(self) -> dict[str, Any]:
        return self.describe().state

    @property
    def step_statuses(self) -> dict[str, StepStatus]:
        """Each step's status; once the execution ended, steps left open read ``cancelled``."""
        return self.describe().step_statuses

    @property
    def progress(self) -> dict[str, int]:
        """Count of steps in each status, plus 'total'."""
        return self.describe().progress

    @property
    def step_durations(self) -> dict[str, float]:
        """Seconds each started step has run (its latest run; unfinished ones up to now)."""
        return self.describe().step_durations

    @property
    def elapsed(self) -> float:
        """Seconds from the earliest step start to the latest end (or now, if still running)."""
        return self.describe().elapsed

    def timeline(self) -> list[dict[str, Any]]:
        """One row per step, in spec order: step, run_id, status, start, end, seconds, and
        missing_paths (paths its conditions read that did not exist, when no branch fired)."""
        return self.describe().timeline()

    def __repr__(self) -> str:
        return f"Workflow(id={self.id!r})"
