"""kinds.py -- the step-kind seam: what a step does between being claimed and finishing.

A step's kind is chosen by the key that stands beside its ``id``: ``fn`` (or
a bare ``op``) makes a **task**, the kind every step had before this seam:
one job to the executor of its dispatch token, whose result ends the
attempt. Other kinds register here, each under its own spec key (a kind
module calls ``register`` when imported, and is listed in ``BUILTIN`` so the
spec compiler finds it).

A kind owns, in one class:

- ``compile``: checking its block of the spec (every problem names the step
  and the field) and turning it into an immutable config on the ``StepPlan``,
  with the paths the block reads (the engine prefetches them at claim);
- ``begin``: what happens once the engine has claimed the step: the record
  is IN_PROGRESS at its run_id with its ``input`` resolved, and the kind
  returns the jobs to send (a task: one; a step that only waits: none);
- ``token``: the dispatch token its jobs go to (None when it sends none);
- ``expire`` (optional): what the step's deadline passing means; by default
  a failed attempt (``TimeoutError``), and a kind that arms deadlines of its
  own (``wait.py``: a time, a heartbeat) says which one came.

Optional hooks, with defaults that are the task's behaviour (a kind that
sends many jobs per attempt, such as ``map``, overrides them):

- ``refine``: adjust the compiled ``StepPlan`` (a map takes the step's
  ``max_attempts``/``timeout_seconds``/``retry`` per item, leaving the step
  itself one attempt with no deadline); ``default_timeout`` applies the
  deployment's timeout of the dispatch token where the spec sets none;
- ``on_result``: a result for the claimed step (``item`` set for a job of a
  map); the default applies the late-answer rule and ends the attempt;
- ``expire``: the step's header deadline passed; the default fails the
  attempt, a map fails its late jobs and sends due retries;
- ``reemit``: the step's claim was never confirmed sent; the default sends
  its one job again;
- ``begins_alike``: whether a store may write the step's claim ahead of its
  commit (``Commit.claims``); a task's and a wait's may, a map's may not;
- ``replacing`` (and ``reads_before_put``): what ``Txn.put_step`` writes
  when a record of the step replaces another; one that keeps its events
  moves a replaced run's to a record of their own, a wait's also retires the
  id of an event its earlier run took and cuts its token data to the nonce
  once its attempt is over; a task's writes the record as it is;
- ``keeps_events`` (and ``events_of``): whether a step of this config keeps
  its run's own history events (``step_completed``, a wait's ``waiting``) on
  its record instead of in the log (``history.py``); by default it logs them;
- ``draws_at_claim``: whether a step of this config draws something at its
  claim that its record keeps (a callback token's random nonce, the id of
  a history event it keeps: a wait for an event or a callback), so no two
  claimers write its record alike and its claim
  is never written ahead, whatever ``begins_alike`` says of the kind
  (``transitions.claims_ahead``); by default nothing is drawn.

The engine owns everything common to every kind and a kind never redoes it:
readiness and joins, run_id fencing, ``timeout_seconds`` (the deadline of the
whole attempt), ``max_attempts`` and ``retry``, branches on the output,
resets by ``set`` branches, ending the execution. A kind ends an attempt by
calling ``transitions.succeed`` or ``transitions.fail_attempt`` on the Txn.

Known limit: a kind's ``begin`` runs inside the claiming transaction, so
whatever it writes counts against one commit (a kind with unbounded work
keeps it in items of its own and does it over several transitions).
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..expressions import References
from ..history import EventType
from ..results import DispatchJob, ItemRef
from ..status import StepStatus
from .records import StepRecord

if TYPE_CHECKING:
    from ..backend.store import Store
    from ..errors import Problem
    from ..spec import Plan, StepPlan
    from .txn import Txn

log = logging.getLogger("runfox_core")

#: Modules that define a kind and register it when imported.
BUILTIN: tuple[str, ...] = ("runfox_core.engine.wait", "runfox_core.engine.map")


@dataclass
class CompileContext:
    """What a kind's ``compile`` may need of the spec around its step."""

    known: set[str]  # every step id of the spec
    deps: dict[str, tuple[str, ...]]  # step id -> its depends_on
    acyclic: bool
    # (what a field reads, step, field, where): every reader is checked against a declared `inputs:` block
    readers: list[tuple[References, str | None, str, str]]


class StepKind:
    """A task: one job to the executor of the step's dispatch token (``fn``, or its ``op``)."""

    name = "task"
    key: str | None = None  # the spec key beside ``id`` that selects this kind (None: ``fn``/``op``)
    # Whether a store may write this kind's claim ahead of its commit (``Commit.claims``): the record
    # ``begin`` leaves in progress is the claim's own (run_id, attempt, inputs, as ``transitions.claim``
    # wrote it), so every claimer of a run whose inputs are alike writes it alike; and whatever reads
    # the kind's in-progress record either reads it through ``transitions.as_claimed`` (a claim whose
    # commit never landed is not begun) or holds committed proof of the claim at its run.
    begins_alike = True

    def reads_before_put(self, p: StepPlan, run_id: int) -> bool:
        """Whether ``Txn.put_step`` of a record of ``p`` at ``run_id`` reads the record it replaces first,
        when the transaction has not (``replacing`` then sees it): a step that keeps its events, when
        an earlier run's record may keep some. A task's never does."""
        return bool(run_id) and self.keeps_events(p.config)

    def replacing(self, txn: Txn, p: StepPlan, replaced: StepRecord | None, record: StepRecord) -> StepRecord:
        """The record ``Txn.put_step`` writes for step ``p`` when ``record`` replaces ``replaced`` (its
        record as the transaction has it; None: not read); the kind may write beside it in the same
        commit. A task's: ``record`` itself. When another run replaces a record that keeps events
        (``keeps_events``), they move, ids and all, to a record of their own in the same commit
        (``ran_record_id``: what ``events_of`` says of the replaced record), and ``record`` does not
        inherit them (one built by ``evolve`` from ``replaced`` would)."""
        if replaced is not None and replaced.own_events and replaced.run_id != record.run_id:
            txn.put_step(StepRecord(step_id=ran_record_id(p.id, replaced.run_id), token="",
                                    status=StepStatus.COMPLETE, output={"events": self.events_of(p, replaced)}))
            if record.own_events == replaced.own_events:
                record = record.evolve(own_events=None)
        return record

    def draws_at_claim(self, config: Any) -> bool:
        """Whether ``begin`` of a step compiled to ``config`` puts on its record something drawn at the
        claim (a random nonce, the id of a history event it keeps: a position in the claim's commit),
        which another claimer of the same run would draw otherwise: then its claim is never written
        ahead (``transitions.claims_ahead``). A task draws nothing."""
        return False

    def keeps_events(self, config: Any) -> bool:
        """Whether a step compiled to ``config`` keeps its run's own history events on its record
        (``StepRecord.own_events``, ``history.py``) instead of in the log: its ``step_completed``
        (``transitions``) and any its ``begin`` keeps (``Txn.own_event``); ``events_of`` says what they
        say, and ``replacing`` moves them when another run replaces the record. A task logs them."""
        return False

    def events_of(self, p: StepPlan, record: StepRecord) -> list[dict[str, Any]]:
        """The history events ``record`` of ``p`` keeps, as the log would hold them (one of a type this
        kind does not know, from a later release, is left out). This one knows ``step_completed``."""
        own = record.own_events or {}
        if EventType.STEP_COMPLETED not in own:
            return []
        return [{"id": own[EventType.STEP_COMPLETED], "type": str(EventType.STEP_COMPLETED),
                 "at": at_of(record.end_time), "step": p.id, "run_id": record.run_id}]

    def compile(self, sid: str, block: Any, ctx: CompileContext,
                problems: list[Problem]) -> tuple[Any, References]:
        """The kind's config from ``block`` (the value under ``key``) and what it reads; problems appended."""
        return None, References()

    def token(self, sid: str, fn: str | None, config: Any) -> str | None:
        """The dispatch token the step's jobs go to, or None when it sends none."""
        return fn or sid

    def begin(self, txn: Txn, p: StepPlan, record: StepRecord, now: float) -> list[DispatchJob]:
        """The step was claimed (``record`` is IN_PROGRESS with its inputs): start the attempt."""
        assert record.inputs is not None
        txn.unsent_add[p.id] = [record.run_id, now]  # until the runner confirms the send
        return [job(txn, p, record.run_id, record.inputs)]

    def refine(self, plan: StepPlan, problems: list[Problem]) -> StepPlan:
        """The compiled plan of the step, adjusted by its kind (problems appended)."""
        return plan

    def default_timeout(self, plan: StepPlan, seconds: float) -> StepPlan:
        """``plan`` with the deployment's timeout for its dispatch token, unless it sets its own."""
        return plan if plan.timeout_seconds is not None else dataclasses.replace(plan, timeout_seconds=seconds)

    def on_result(self, txn: Txn, p: StepPlan, record: StepRecord, item: ItemRef | None, output: Any,
                  error: dict[str, Any] | None, now: float) -> tuple[bool, Any]:
        """A result for ``p``, fenced: the step is in progress at the run the result answers for.

        Returns (applied, what ``on_step_result`` returns). A result past the
        step's deadline is a failed attempt, whichever of the timer and the
        answer comes first.
        """
        from . import transitions  # transitions imports this module

        if item is not None:
            log.info("result for an item of a step that sends none ignored",
                     extra={"execution": txn.key, "step": p.id, "run_id": record.run_id})
            return False, None
        deadline = txn.header.deadlines.get(p.id)
        if error is None and deadline is not None and deadline[1] < now:
            error = transitions.timed_out(txn, p, record.run_id, now)
        return True, transitions.finish_attempt(txn, p.id, output, error, now)

    def expire(self, txn: Txn, p: StepPlan, record: StepRecord, now: float, send: bool) -> list[DispatchJob]:
        """The deadline in the header passed while ``record`` is in progress at its run.

        By default the attempt failed (``TimeoutError``). A kind that arms
        deadlines of its own (a wait for a time, a heartbeat, a map's jobs)
        decides what each one means. ``send``: the caller dispatches the jobs
        returned (``advance``); when False (a deadline timer), a kind must not
        claim new jobs now.
        """
        from . import transitions

        transitions.fail_attempt(txn, p.id, transitions.timed_out(txn, p, record.run_id, now), now)
        return []

    def reemit(self, txn: Txn, p: StepPlan, record: StepRecord, now: float) -> list[DispatchJob]:
        """The claim of ``record`` was not confirmed sent in time: its jobs, to send again."""
        assert record.inputs is not None
        txn.unsent_add[p.id] = [record.run_id, now]
        return [job(txn, p, record.run_id, record.inputs)]


RAN_RECORD = "~ran~"  # a reserved record id (step ids never contain '~')


def ran_record_id(sid: str, run_id: int) -> str:
    """The record of the events that run ``run_id`` of ``sid`` kept, once another run replaced it."""
    return f"{RAN_RECORD}{sid}~{run_id}"


def kept_events(store: Store, key: str, plan: Plan) -> list[dict[str, Any]]:
    """Every history event the records of execution ``key`` keep (``history.py``): those of each step
    whose kind keeps its events, on its record and on those of its replaced runs. Reads nothing when
    no step keeps any; else the steps' records, then their replaced runs' (read after them: a run
    replaced in between is found among those). Unordered."""
    steps = {sid: p for sid, p in plan.steps.items() if get(p.kind).keeps_events(p.config)}
    if not steps:
        return []
    records = store.load_steps(key, list(steps))
    ran = [ran_record_id(sid, run) for sid, rec in records.items() for run in range(rec.run_id)]
    events = [e for sid, rec in records.items() for e in get(steps[sid].kind).events_of(steps[sid], rec)]
    for rec in (store.load_steps(key, ran) if ran else {}).values():
        events += (rec.output or {}).get("events", [])
    return events


def at_of(iso_time: str | None) -> float:
    """A record's ISO 8601 time as a history event's ``at`` (``Txn.event`` rounds to the millisecond)."""
    return round(datetime.fromisoformat(iso_time).timestamp(), 3) if iso_time else 0.0


def job(txn: Txn, p: StepPlan, run_id: int, inputs: dict[str, Any]) -> DispatchJob:
    """The job of step ``p`` at ``run_id``, to its dispatch token's executor."""
    return DispatchJob(execution_key=txn.key, step=p.id, inputs=inputs, run_id=run_id,
                       token=p.token, timeout_seconds=p.timeout_seconds)


TASK = StepKind()
_KINDS: dict[str, StepKind] = {TASK.name: TASK}
_loaded = False


def register(kind: StepKind) -> StepKind:
    """Make ``kind`` available to specs under ``kind.key``; returns it."""
    if not kind.key or kind.name in _KINDS:
        raise ValueError(f"step kind {kind.name!r} needs a spec key and a name of its own")
    _KINDS[kind.name] = kind
    return kind


def _load() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for module in BUILTIN:
            importlib.import_module(module)


def get(name: str) -> StepKind:
    """The kind called ``name`` (a ``StepPlan.kind``)."""
    _load()
    return _KINDS[name]


def by_key() -> dict[str, StepKind]:
    """Spec key -> kind, for every kind other than task."""
    _load()
    return {k.key: k for k in _KINDS.values() if k.key}
