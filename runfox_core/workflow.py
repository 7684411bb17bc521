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
the store. One exception, for the result-router: the ``advance()`` right
after ``on_step_results(claim_ready=True)`` may answer "nothing more to do"
from that commit's own snapshot (``_settled_answer`` says why that is safe).

Results in batches: ``on_step_results`` applies several results of one
execution in one commit, each fenced as if alone (a duplicate in the batch
changes nothing the second time), and a result whose application raises is
set aside and applied alone, so it never fails its batch-mates.

Caller protocol (event-driven): ``advance()`` -> ``Dispatch(jobs)`` ->
``backend.dispatch(id, jobs)``; for each result ``on_step_result(op, output,
run_id=job.run_id)`` then ``advance()`` again. ``run()`` does this loop for
in-process and polled runners, applying the results that arrived together in
one transaction that also claims the steps they made ready (one commit per
batch of results, not two per result; a map's jobs answer a hundred at a
time). That ends exactly as applying them one by one would: each result is
fenced on what the ones before it changed.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from .backend.base import Backend
from .backend.runner import Worker
from .backend.store import StoreLimitError
from .engine import redrive
from .engine import transitions as tx
from .engine.map import window_id
from .engine.records import ExecutionDefinition, StepRecord
from .engine.txn import Snapshot, Txn, default_record
from .errors import ConflictError, Problem
from .inspector import Description, describe
from .results import Cancelled, Complete, Dispatch, Failed, Halt, ItemRef, Pending, StateChangeEvent, StepResult
from .spec import Plan, load_yaml, validate
from .status import StepStatus, WorkflowStatus

log = logging.getLogger("runfox_core")
T = TypeVar("T")

MAX_CONFLICT_RETRIES = 200
MAX_JOBS_PER_ADVANCE = 1000  # claims one advance() returns, so claims not yet confirmed sent stay bounded


class _Reload(Exception):
    """A transition needs fresh data rather than this handle's cached snapshot."""


class _SetAside(Exception):
    """A result of a batch raised: run the transition again, on the same data, without it."""


@dataclass(frozen=True)
class Applied:
    """What one result given to ``on_step_results`` did."""

    outcome: Pending | Complete | Halt | Failed | None = None  # what on_step_result returns for it
    written: StepRecord | None = None  # the record it made of its step (None: ignored, or a map's job)
    applied: bool = False  # False: stale, a duplicate, or fenced off
    error: Exception | None = None  # what applying it raised (alone, once the rest were committed)


class Workflow:
    def __init__(self, workflow_execution_id: str, backend: Backend):
        self.id = workflow_execution_id
        self.backend = backend
        # What this handle's last transition knew; never trusted for an answer that commits nothing.
        self._snapshot: Snapshot | None = None
        self._written: dict[str, Any] = {}  # step records the last transition committed
        self._claimed: list[Any] = []  # jobs claimed with a result (claim_ready), for the next advance()
        self._definition: ExecutionDefinition | None = None
        self._plan: Plan | None = None
        self._settled = False  # the last commit applied results and claimed all they made ready (advance())

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
    def records_read_by(results: Iterable[StepResult]) -> list[str]:
        """The records applying ``results`` reads first, for ``resume(steps=...)``: each result's
        step, and for a map job's result the map's window (``engine/map.py``), so one read serves
        the whole batch."""
        wanted = {r.step: None for r in results}
        wanted.update({window_id(r.step): None for r in results if r.item is not None})
        return list(wanted)

    @staticmethod
    def validate(spec: Any, inputs: Any = None) -> list[Problem]:
        """Every problem with ``spec`` at once (empty when sound); writes nothing."""
        return validate(spec, inputs)

    # ------------------------------------------------------------ transitions

    def _transact(self, transition: Callable[[Txn, float], tuple[bool, T]], about: str | None = None,
                  when_limited: Callable[[Failed], Any] = lambda failed: failed, split: bool = False) -> T:
        """Run ``transition`` until it commits. If the store cannot hold its commit at all
        (``StoreLimitError``), the execution ends ``failed`` instead, naming the step concerned
        (the store's, else ``about``), and ``when_limited`` maps that Failed to the result;
        with ``split``, the StoreLimitError is raised instead (the caller splits the work)."""
        backend = self.backend
        definition, plan = self._compiled()
        self._written = {}
        self._settled = False
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
            except _SetAside:
                if fresh:
                    self._snapshot = snapshot  # read just now: the next attempt starts from it
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
                if limited is not None or split:
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
        grace = self.backend.unsent_grace_seconds
        jobs: list[Any] = []
        if self._claimed:
            # Jobs this handle's last result already claimed (on_step_result(claim_ready=True)), under
            # that commit's version check: hand them over before any read, so they are sent one
            # round trip sooner; the caller's next advance() does the rest (anything else ready) on
            # fresh data. Unless that commit left a deadline passed or a claim unconfirmed too long:
            # then this advance does them too, or a steady stream of results would put them off.
            jobs, self._claimed = self._claimed, []
            if not self._overdue(grace):
                return Dispatch(jobs)
            self._settled = False
        if self._settled:
            self._settled = False
            answer = self._settled_answer()
            if answer is not None:
                return answer
        limit = self.backend.store.max_steps_per_commit
        max_bytes = getattr(self.backend.store, "max_bytes_per_commit", None)

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
            if found or (sids and tx.claimable(txn, now, 1)):
                # more to claim if this commit stopped at the store's limit, or if a claim that sends no
                # job (an empty map, a wait that ended at once) made its dependents ready
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

    def _compiled(self) -> tuple[ExecutionDefinition, Plan]:
        """The execution's definition and plan: they never change, so a handle reads them once."""
        if self._definition is None or self._plan is None:
            self._definition, self._plan = self.backend.load_definition(self.id), self.backend.plan(self.id)
        return self._definition, self._plan

    def _overdue(self, grace: float) -> bool:
        """Whether this handle's last commit left a deadline passed or a claim unsent past ``grace``
        (spilled entries count by their lower bound; without a last commit, it cannot tell: True)."""
        if self._snapshot is None:
            return True
        header, now = self._snapshot.header, self.backend.clock()
        deadline, claimed = header.deadlines.earliest(), header.unsent.earliest()
        return (deadline is not None and deadline <= now) or (claimed is not None and claimed <= now - grace)
    def _settled_answer(self) -> Pending | Complete | Halt | Failed | Cancelled | None:
        """What ``advance()`` answers right after this handle applied results and claimed everything
        they made ready (``on_step_results(claim_ready=True)``), from that commit's own snapshot;
        None when a fresh look is needed.

        The one exception to "never answer an idle advance from memory", and why it holds: the
        snapshot is this handle's last commit, so nothing in it is stale as of that version, and
        any later commit was made by a process that advances after it (every commit path does:
        the router, the advance Lambda, start). So the snapshot can only miss work that someone
        else owns. Work that time makes due is looked for in it: a deadline passed, a claim not
        confirmed sent past its grace (this handle's own sends are confirmed in its view by
        ``dispatch``), a step still ready (a claim cut short by the store's limit); any of them,
        or a schedule with spilled entries (which only the store can list), means a fresh
        advance as usual. Saves one header read per result batch. The answer can lag in one way
        only: "in progress" for an execution another process has just ended.
        """
        snapshot, backend = self._snapshot, self.backend
        if snapshot is None or any(schedule.spilled for schedule in snapshot.header.schedules()):
            return None
        definition, plan = self._compiled()
        txn = Txn(backend.store, self.id, plan, definition, snapshot, False, codec=backend.codec)
        done = tx.terminal_result(txn)
        if done is not None:
            return done
        now = backend.clock()
        if tx.expired(txn, now) or tx.stale_unsent(txn, now, backend.unsent_grace_seconds) \
                or tx.claimable(txn, now, 1):
            return None
        return tx.idle_result(txn)

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
        applied = self.on_step_results([StepResult(self.id, step, run_id, output, error, item)], claim_ready)[0]
        if applied.error is not None:
            raise applied.error
        return applied.outcome

    def on_step_results(self, results: Sequence[StepResult], claim_ready: bool = False) -> list[Applied]:
        """Apply results of this execution in ONE commit (one header write); one ``Applied`` per result.

        Each result is applied as ``on_step_result`` would apply it alone,
        in order, on what the ones before it made: fenced by its own run_id
        (and a map job's by its ``item``), so a duplicate in the batch, or of
        one applied earlier, changes nothing. ``claim_ready`` claims what all
        of them made ready, once, at the end of the same commit.

        A result whose application raises (a malformed output an engine
        check did not foresee, a value by reference that cannot be read) is
        set aside and the others are applied without it; it is then applied
        alone, and what it raises is in its ``Applied.error`` (never raised
        here), so the caller fails that result's message only. If the store
        cannot hold the batch's commit at all (``StoreLimitError``), the
        results are applied one by one, each failing the execution alone as
        a single result would. The batch size is the caller's choice: keep it
        to what one commit should carry (the result-router's: ten).
        """
        results = list(results)
        if not results:
            return []
        callback = self.backend.on_state_change
        limit = self.backend.store.max_steps_per_commit
        max_bytes = getattr(self.backend.store, "max_bytes_per_commit", None)
        set_aside: dict[int, Exception] = {}  # index -> what applying it raised; applied alone afterwards
        done: list[Applied] = []
        jobs: list[Any] = []
        changes: list[tuple[StepResult, int, dict[str, Any], dict[str, Any]]] = []  # for on_state_change

        def transition(txn: Txn, now: float) -> tuple[bool, Any]:
            done.clear()
            jobs.clear()
            changes.clear()
            applied_any = False
            outcome: Any = None
            for i, r in enumerate(results):
                if i in set_aside:
                    done.append(Applied())
                    continue
                watched = callback is not None and r.error is None and r.step in txn.plan.steps
                previous = txn.state(None) if watched else None
                merged = dict(txn.changed_state) if watched else {}
                try:
                    applied, outcome = tx.apply_result(txn, r.step, r.run_id, r.output, r.error, now, r.item)
                except Exception as exc:  # noqa: BLE001 -- set aside; raised again when it is applied alone
                    if len(results) - len(set_aside) <= 1:
                        raise  # alone: exactly what on_step_result raises
                    set_aside[i] = exc
                    raise _SetAside() from exc
                done.append(Applied(outcome, txn.changed_steps.get(r.step) if applied else None, applied))
                applied_any |= applied
                if applied and previous is not None and any(  # it merged state
                        k not in merged or merged[k] is not v for k, v in txn.changed_state.items()):
                    changes.append((r, txn.step(r.step).run_id, previous, txn.state(None)))
            jobs.extend(txn.jobs)  # jobs of a map step these results let start
            if applied_any and claim_ready and tx.terminal_result(txn) is None:
                sids = tx.claimable(txn, now, limit)
                if sids:
                    jobs.extend(tx.claim(txn, sids, now, max_bytes))
                    ended = tx.terminal_result(txn)  # an input that cannot resolve fails it
                    if ended is not None and not isinstance(ended, Cancelled):  # (a claim never cancels)
                        last = max(i for i, a in enumerate(done) if a.applied)
                        done[last] = dataclasses.replace(done[last], outcome=ended)
            return applied_any or bool(txn.events), None  # stale results commit their history events alone

        def limited(failed: Failed) -> None:  # the failing commit replaced ours: nothing was applied or claimed
            done[:] = [Applied(failed if i == 0 else None) for i in range(len(results))]
            jobs.clear()
            changes.clear()

        try:
            self._transact(transition, about=results[0].step if len(results) == 1 else None,
                           when_limited=limited, split=len(results) > 1)
        except StoreLimitError:  # the batch's commit cannot be stored: one commit per result, as alone
            out: list[Applied] = []
            for r in results:
                out += self.on_step_results([r], claim_ready)
            return out
        self._claimed.extend(jobs)
        for r, applied in zip(results, done, strict=True):
            if applied.written is not None:
                self._written[r.step] = applied.written  # written_step(step): the result's record, not a re-claim
        if claim_ready and any(a.applied for a in done):
            self._settled = True  # see advance()
        for r, run_id, previous, new in changes:
            assert callback is not None
            callback(self.id, previous, new, StateChangeEvent(step=r.step, run_id=run_id,
                                                              changed_keys=sorted(r.output or {})))
        for i in sorted(set_aside):  # each alone: it fails (or, if it was transient, applies) by itself
            try:
                done[i] = self.on_step_results([results[i]], claim_ready)[0]
            except Exception as exc:  # noqa: BLE001 -- reported for that result only
                done[i] = Applied(error=exc)
        return done

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
                self._apply_all(self.dispatch(result.jobs))
                progressed = True
            if worker is not None:
                worker.run(self.id)
            gathered = self.backend.gather(self.id)
            if gathered:
                self._apply_all(gathered)
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

    def _apply_all(self, results: list[StepResult]) -> None:
        """Apply results that arrived together in one commit (``on_step_results``, claiming what they
        made ready: ``run()`` calls ``advance()`` next, which hands over their jobs); a result that
        cannot be applied raises, as ``on_step_result`` would."""
        for applied in self.on_step_results(results, claim_ready=True):
            if applied.error is not None:
                raise applied.error

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
