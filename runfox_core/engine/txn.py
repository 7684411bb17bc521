"""txn.py -- one optimistic transaction over one execution.

A ``Txn`` reads through to the store (lazily, and only what a transition
needs), collects every change, and turns them into one ``Commit``. The store
accepts it only if no other transition committed since the header was read;
otherwise the caller discards the Txn and runs the transition again on fresh
data. Nothing read inside a Txn can change without bumping the header
version, which is what makes the retry loop correct. That holds for the
header's spilled schedule entries too (``records.py``): they are read after
the header, lazily, and change only with it.

A commit may be larger than the store's transactions (a reset of every step
of a wide loop, an output merging many keys). The store then applies it as
a sequence, and keeps the invariant the loop relies on: *no transition reads
or builds on a half-applied commit* -- every read finishes the sequence
first and every commit requires it finished (``dynamodb_store.py``). The
engine itself only splits work whose parts are independent transitions
(claims, deadline expiries, re-emissions: ``workflow.advance``), each a
complete commit, so a crash between two of them loses nothing and a re-run
does the rest.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..backend.store import Store
from ..history import event_id
from ..payloads import NO_BLOBS, Codec
from ..spec import Plan
from ..status import StepStatus
from . import kinds
from .records import Commit, ExecutionDefinition, ExecutionHeader, StepRecord


def _copy_json(value: Any) -> Any:
    """Deep copy of JSON-shaped data (faster than copy.deepcopy for it)."""
    if isinstance(value, dict):
        return {k: _copy_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy_json(v) for v in value]
    return value


class Snapshot:
    """What a process already knows of an execution at one header version."""

    __slots__ = ("header", "steps", "state", "state_complete")

    def __init__(self, header: ExecutionHeader, steps: dict[str, StepRecord],
                 state: dict[str, Any], state_complete: bool):
        self.header = header
        self.steps = steps
        self.state = state
        self.state_complete = state_complete


class Txn:
    def __init__(self, store: Store, key: str, plan: Plan, definition: ExecutionDefinition,
                 snapshot: Snapshot, fresh: bool = True, codec: Codec = NO_BLOBS):
        self.store = store
        self.codec = codec  # packs what this transition stores: inline or by reference (payloads.py)
        self.fresh = fresh  # False when the snapshot is this process's memory of its last commit
        self.key = key
        self.plan = plan
        self.definition = definition
        self.base_version = snapshot.header.version
        self.header = snapshot.header.copy()
        self._steps = dict(snapshot.steps)  # records as read (treated as immutable)
        self._state = dict(snapshot.state)
        self._state_complete = snapshot.state_complete
        self.changed_steps: dict[str, StepRecord] = {}
        self.changed_state: dict[str, Any] = {}
        self.unsent_add: dict[str, list[float]] = {}
        self.unsent_remove: list[str] = []
        self.jobs: list[Any] = []  # jobs claimed besides the transition's answer (a map step's next ones)
        self.keep: set[str] = set()  # records read here that the next transition will read again
        self.events: list[dict[str, Any]] = []  # history events of this transition (``history.py``)
        self._event_ids = 0  # ids numbered so far, ``events`` and those records keep (``own_event``)
        self.claims: set[str] = set()  # claims any claimer would make alike (``Commit.claims``)
        self.slots: set[str] = set()  # records at a results slot no committed record counts yet (``Commit.slots``)

    # ---------------------------------------------------------------- reads

    def prefetch(self, step_ids: Iterable[str], state_keys: Iterable[str] | None) -> None:
        """Load, in as few store calls as possible, records and state not known yet."""
        need_steps = [s for s in step_ids if s not in self._steps]
        if state_keys is None:
            need_state: list[str] | None = None if not self._state_complete else []
        else:
            need_state = [k for k in state_keys if k not in self._state]
            if self._state_complete:
                need_state = []
        if not need_steps and need_state == []:
            return
        loader = getattr(self.store, "load_snapshot", None)
        whole = getattr(self.store, "load_state_after", None)  # the whole state, the header known
        after = getattr(self.store, "load_steps_after", None)  # records, the header known
        if loader is not None and need_steps and need_state != []:
            _, steps, state = loader(self.key, need_steps, need_state)
        else:
            if not need_steps:
                steps = {}
            elif after is not None:
                steps = after(self.key, self.base_version, need_steps)
            else:
                steps = self.store.load_steps(self.key, need_steps)
            if need_state is None and whole is not None:
                state = whole(self.key, self.base_version)
            else:
                state = self.store.load_state(self.key, need_state) if need_state != [] else {}
        for sid in need_steps:
            self._steps[sid] = steps.get(sid) or self._default(sid)
        if need_state is None:
            self._state = {**state, **self.changed_state}
            self._state_complete = True
        else:
            for k in need_state:
                if k in state:
                    self._state[k] = state[k]
                else:
                    self._state.setdefault(k, _MISSING)

    def prefetch_schedule(self, step_ids: Iterable[str]) -> None:
        """Read, in one call, the spilled schedule entries of ``step_ids`` (nothing when none are
        spilled: on every store but DynamoDB, and there below its inline budget)."""
        self.header.fetch_rows(step_ids)

    def step(self, sid: str) -> StepRecord:
        """The current record of ``sid`` (including changes made in this Txn)."""
        if sid in self.changed_steps:
            return self.changed_steps[sid]
        if sid not in self._steps:
            self.prefetch([sid], [])
        return self._steps[sid]

    def _default(self, sid: str) -> StepRecord:
        return default_record(self.plan, sid)

    def state(self, keys: Iterable[str] | None) -> dict[str, Any]:
        """State entries ``keys`` (all when None), including this Txn's merges."""
        self.prefetch([], keys)
        if keys is None:
            return {k: v for k, v in self._state.items() if v is not _MISSING}
        out = {}
        for k in keys:
            v = self._state.get(k, _MISSING)
            if v is not _MISSING:
                out[k] = v
        return out

    def context(self, refs: Any) -> dict[str, Any]:
        """The JSON Logic context for expressions that read ``refs``."""
        if not (refs.steps or refs.state_keys or refs.all_steps or refs.all_state):  # inputs at most: no reads
            return {"steps": {}, "input": self.definition.inputs, "state": {}}
        step_ids = self.plan.steps.keys() if refs.all_steps else refs.steps
        state_keys = None if refs.all_state else refs.state_keys
        self.prefetch([s for s in step_ids if s not in self.changed_steps], state_keys)
        steps = {}
        for sid in step_ids:
            rec = self.step(sid)
            if rec.output is not None:
                steps[sid] = {"output": rec.output}
        return {"steps": steps, "input": self.definition.inputs, "state": self.state(state_keys)}

    # --------------------------------------------------------------- writes

    def put_step(self, record: StepRecord) -> None:
        """Write ``record`` in this transaction, in place of the record of its step as this transaction
        has it (written here, else read, and read now when its kind needs it: ``reads_before_put``).
        A step's kind says what replacing its record also writes (``StepKind.replacing``: a wait's
        record that took an event retires the event's id in the same commit, whatever replaces it)."""
        sid = record.step_id
        p = self.plan.steps.get(sid)
        if p is not None:  # (a reserved record of a kind is no step)
            replaced = self.changed_steps.get(sid) or self._steps.get(sid)
            if replaced is None and self.reads_before_put(sid, record.run_id):
                replaced = self.step(sid)
            record = kinds.get(p.kind).replacing(self, p, replaced, record)
        self.changed_steps[sid] = record

    def reads_before_put(self, sid: str, run_id: int) -> bool:
        """Whether ``put_step`` of a record of ``sid`` at ``run_id`` reads the record it replaces, when
        this transaction has not (``StepKind.reads_before_put``; ``transitions.claim`` reads it with its
        other records)."""
        if sid in self.changed_steps or sid in self._steps or sid not in self.plan.steps:
            return False
        p = self.plan.steps[sid]
        return kinds.get(p.kind).reads_before_put(p, run_id)

    def merge_state(self, output: dict[str, Any]) -> None:
        for k, v in output.items():
            self.changed_state[k] = v
            self._state[k] = v

    def event(self, kind: str, now: float, **fields: Any) -> None:
        """Record a history event of this transition; it is stored with the commit, or not at all."""
        self.events.append({"id": self._next_event_id(), "type": str(kind), "at": round(now, 3),
                            **{k: v for k, v in fields.items() if v is not None}})

    def own_event(self, record: StepRecord, kind: str) -> StepRecord:
        """``record`` keeping this transition's next history event, of type ``kind``, in place of the log
        (``StepRecord.own_events``: its id, a position among this commit's events; what it says, the
        step's kind rebuilds from the record, ``StepKind.events_of``)."""
        return record.evolve(own_events={**(record.own_events or {}), str(kind): self._next_event_id()})

    def _next_event_id(self) -> str:
        n, self._event_ids = self._event_ids, self._event_ids + 1
        return event_id(self.base_version + 1, n)

    def to_commit(self) -> Commit:
        header = self.header
        header.version = self.base_version + 1
        # the header's view of unsent follows the deltas (stores apply the deltas, not this view)
        for sid in dict.fromkeys(self.unsent_remove):
            if sid not in self.unsent_add:
                header.unsent.discard(sid)
        for sid, entry in self.unsent_add.items():
            header.unsent[sid] = entry
        return Commit(
            expected_version=self.base_version,
            header=header,
            steps=self.changed_steps,
            state=self.changed_state,  # the store detaches what it keeps (the Store contract)
            unsent_add=self.unsent_add,
            unsent_remove=self.unsent_remove,
            events=self.events,
            claims={s for s in self.claims if s in self.changed_steps and self._lands_ahead(self.changed_steps[s])},
            slots={s for s in self.slots if s in self.changed_steps},
        )

    def _lands_ahead(self, claim: StepRecord) -> bool:
        """Whether a store's put of ``claim`` ahead of the commit can land, as far as the record read
        here says: it is a claim, over no record or one not past it (same run, not begun or this very
        claim). A retry's claim, over its previous attempt still in progress, cannot: it stays in the
        commit (no wasted round trip). The store's condition decides; this only spares a refused put."""
        if claim.status != StepStatus.IN_PROGRESS:
            return False
        read = self._steps.get(claim.step_id)
        return read is None or read.run_id == claim.run_id and read.status in (
            StepStatus.READY, StepStatus.RETRY, StepStatus.IN_PROGRESS)

    def after_commit(self) -> Snapshot:
        """What this process knows once the commit is accepted (to skip the next load)."""
        header = self.header
        for schedule in header.schedules():
            # unsent entries leave outside the version fence (mark_sent): what was read of them may be stale
            schedule.committed(keep_reads=schedule.name != "unsent")
        # Keep only what this commit wrote (what the next transition most likely reads):
        # carrying every record ever seen would make each transaction O(steps).
        steps = dict(self.changed_steps)
        for sid in self.keep:  # unchanged, so still current at the version this commit makes
            if sid not in steps and sid in self._steps:
                steps[sid] = self._steps[sid]
        return Snapshot(header, steps, dict(self.changed_state), False)


def default_record(plan: Plan, sid: str) -> StepRecord:
    """The record of ``sid`` when none is stored: a step never run (READY at run 0), or a kind's
    own record not written yet (``engine/wait.py``; no dispatch token)."""
    p = plan.steps.get(sid)
    return StepRecord(step_id=sid, token=p.token if p is not None else "")


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Any = _Missing()


def encode_inputs(inputs: Any, step_id: str, codec: Codec = NO_BLOBS) -> tuple[dict[str, Any], int]:
    """Resolved inputs packed like any payload (``Codec.pack``: large fields by reference) and
    detached from the records they were read from, with their size in bytes of JSON."""
    return codec.pack(inputs, f"step {step_id!r} inputs")
