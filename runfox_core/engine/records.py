"""records.py -- how one execution is stored, split so a step costs O(1).

An execution is not one document. It is:

- ``ExecutionDefinition`` -- immutable: spec, inputs, ids, name. Written once
  at creation; processes cache it, since it never changes.
- ``ExecutionHeader`` -- versioned: status, outcome, error, how many steps
  remain, and five *schedules* (maps over steps): ``ready`` (steps whose
  dependencies are complete, waiting for dispatch), ``joins`` (counters of
  steps waiting on two or more dependencies), ``deadlines`` (steps in flight
  with a timeout), ``unsent`` (claimed jobs not yet confirmed sent) and
  ``reruns`` (run counters of waiting steps that ran before); and ``kept``,
  per event name the events kept for a wait to come (``engine/wait.py``;
  absent while none is). Every state
  transition rewrites it under an optimistic version check; that check is
  what serialises concurrent transitions of one execution.
- ``StepRecord`` -- one per step, written only when that step changes. A step
  with no stored record is READY at run 0 (creation writes no step records).
- state -- the shared accumulator, one entry per key, so merging an output
  writes only the keys it carries.

The schedules (``Schedule``) are what grows with width. On a store with an
item limit (DynamoDB) each keeps at most a fixed budget of entries inline
in the header and *spills* the rest to items of their own, so the header
stays the same size whatever the width; the engine reads and writes a
schedule like a dict (``txn.header.ready[sid] = 0.0``, ``pop``, ``get``,
iteration) and never knows where an entry lives. A spilled entry is read
only when the engine asks for one that is not inline (one call for a step's
entries in every schedule, ``Txn.prefetch_schedule`` for many steps at
once), and ``due(now)`` reads spilled entries a page at a time and only
when the header's ``next_at`` says one may be due, so an advance that finds
nothing due reads nothing more than the header. The in-memory and SQLite
stores keep every entry inline (no item limit).

Invariant that keeps spilling crash-safe and exactly-once: *the header
alone says which spilled entries exist* -- per schedule a generation
``gen`` (the key prefix its entries live under) and the count ``spilled``
(exact for every schedule but ``unsent``, which ``mark_sent`` trims outside
the version fence: there it is an upper bound, never below the truth). A
spilled entry is written or removed only in the same commit as the header
that counts it, under the same version check (a large commit through the
journal, which no reader sees half done); one read after the header is
therefore consistent with it, or the commit built on it fails its version
check and the transition runs again. The same holds for a schedule's read
cursor ``start`` (``Schedule``): it moves only in a commit, past entries that
commit removes or knows removed. An entry is never both inline and
spilled: a key not inline is looked up before it is set. ``clear`` (when an
execution ends) and the removal of a schedule's last spilled entry move it
to a new generation, so entries left behind are never read again.

A ``Commit`` may hold any number of records, state entries and spilled
entries; a store whose transactions are bounded applies a large one as a
sequence no reader sees half done (``engine/txn.py``,
``aws/dynamodb_store.py``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..status import StepStatus, WorkflowStatus

MAX_ERROR_MESSAGE_CHARS = 4096  # an attempt's error message is cut to this many characters
MAX_ERROR_TYPE_CHARS = 128  # and its type to this many


def bounded_error(error: dict[str, Any]) -> dict[str, str]:
    """``{"type", "message"}`` of a failed attempt, cut to the sizes above.

    A cut message ends with how long the original was, so nothing is silently
    lost: an executor's 220 KB traceback must not make its step's record too
    large to store (a record also carries up to 192 KiB of inputs).
    """
    kind, text = str(error.get("type", "Error")), str(error.get("message", ""))
    if len(kind) > MAX_ERROR_TYPE_CHARS:
        kind = kind[:MAX_ERROR_TYPE_CHARS]
    if len(text) > MAX_ERROR_MESSAGE_CHARS:
        text = f"{text[:MAX_ERROR_MESSAGE_CHARS]}... (truncated; the original was {len(text):,} characters)"
    return {"type": kind, "message": text}


@dataclass
class ExecutionDefinition:
    """What was started: never changes after creation."""

    workflow_id: str
    execution_id: str
    spec: dict[str, Any]
    inputs: dict[str, Any]
    created_at: str
    name: str | None = None

    @property
    def key(self) -> str:
        return f"{self.workflow_id}#{self.execution_id}"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ExecutionDefinition:
        return cls(
            workflow_id=d["workflow_id"],
            execution_id=d["execution_id"],
            spec=d["spec"],
            inputs=d["inputs"],
            created_at=d["created_at"],
            name=d.get("name"),
        )


SCHEDULES = ("ready", "joins", "deadlines", "unsent", "reruns")  # the header's maps over steps
_SCHEDULE_NAMES = frozenset(SCHEDULES)
_WHEN: dict[str, Callable[[Any], float]] = {  # the time an entry is due at, for the maps that have one
    "ready": lambda v: float(v),
    "deadlines": lambda v: float(v[1]),
    "unsent": lambda v: float(v[1]),
}
_COERCE: dict[str, Callable[[Any], Any]] = {  # an entry's value as the engine uses it, from JSON
    "ready": float,
    "joins": int,
    "deadlines": lambda v: [float(x) for x in v],
    "unsent": lambda v: [float(x) for x in v],
    "reruns": lambda v: [int(x) for x in v],
}
ENTRY_OVERHEAD_BYTES = 32  # what an entry costs inline besides its step id (JSON of a value, quotes, separators)


def entry_value(schedule: str, raw: Any) -> Any:
    """A schedule entry's value as the engine uses it (floats, ints), from its JSON form."""
    return _COERCE[schedule](raw)


class _Absent:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<absent>"


ABSENT: Any = _Absent()
_NO_DEFAULT: Any = object()


class SpillSource(Protocol):
    """Where a store keeps the spilled entries of one execution's schedules (``dynamodb_store.py``)."""

    def fetch(self, wanted: list[tuple[str, int, str]]) -> dict[tuple[str, str], Any]:
        """The entries ``(schedule, generation, step)`` that exist, as ``{(schedule, step): value}``."""

    def pages(self, name: str, gen: int, after: str | None = None) -> Iterator[tuple[list[tuple[str, Any]], str | None]]:
        """Every entry of schedule ``name`` at generation ``gen`` placed after position ``after``
        (None: from the first), a page at a time (a Query, never a Scan): ``(entries, position)``,
        ``position`` being where the page's read stopped (None once the last page is read)."""

    def position(self, name: str, gen: int, key: str) -> str:
        """Where the entry ``key`` of schedule ``name`` at ``gen`` sits in the order ``pages`` reads
        them (positions compare as strings)."""


class Schedule(MutableMapping[str, Any]):
    """One of the header's maps over steps, read and written like a dict.

    Entries live *inline* (in the header) or *spilled* (one item each, in a
    store that spills: see the module docstring). ``spilled`` counts spilled
    entries (exactly for every map but ``unsent``, where it is an upper bound:
    ``mark_sent`` removes spilled entries outside the version fence) and
    ``next_at`` is a lower bound of their due times. A spilled entry is read
    only when asked for (a key not inline, while ``spilled`` > 0), all of a
    step's entries in one call; iteration and ``due`` read the spilled
    entries a page at a time. ``gen`` is the generation spilled entries are
    keyed under: ``clear`` moves to a new one instead of deleting each.
    Changes to spilled entries are kept in ``changes()`` for the commit.
    Without a source nothing is ever spilled and this is a plain dict.

    ``start`` is the read cursor: a position (``SpillSource.position``) at
    or before which every spilled entry of this generation is removed, so a
    pass reads from after it and never walks again the removed entries
    (tombstones) of the steps claimed earlier: without it, claiming a
    10,000-wide ready set 50 at a time reads the whole set 200 times. It
    moves in the commit that removes the entries it passes (``start_after``),
    and back before any entry a commit writes at or before it, so it stays
    true under the version fence; ``mark_sent``'s removals outside the
    fence only make it more true.
    """

    __slots__ = ("name", "inline", "gen", "spilled", "next_at", "source", "start", "_read", "_complete", "_changed",
                 "_fetch_row", "_pages")

    def __init__(self, name: str, inline: Mapping[str, Any] | None = None, *, gen: int = 0, spilled: int = 0,
                 next_at: float | None = None, source: SpillSource | None = None, start: str | None = None):
        self._fill(name, dict(inline) if inline else {}, gen, spilled, next_at, source, start, [], {}, spilled == 0, {})

    def _fill(self, name: str, inline: dict[str, Any], gen: int, spilled: int, next_at: float | None,
              source: SpillSource | None, start: str | None, pages: list[tuple[str | None, list[str]]],
              read: dict[str, Any], complete: bool, changed: dict[str, Any]) -> Schedule:
        """Set every slot (the one place that does: ``__init__``, ``_over`` and ``copy`` go through it)."""
        self.name, self.inline = name, inline
        self.gen, self.spilled, self.next_at, self.source, self.start = gen, spilled, next_at, source, start
        self._pages: list[tuple[str | None, list[str]]] = pages  # this pass's pages from ``start``: (position, keys)
        self._read: dict[str, Any] = read  # spilled entries as stored when read (ABSENT: read, not there)
        self._complete = complete  # every spilled entry is in _read
        self._changed: dict[str, Any] = changed  # spilled entries this transition wrote (ABSENT: removed)
        self._fetch_row: Callable[[str], None] | None = None  # set by the header: reads one step's entries
        return self

    # -- the dict view ------------------------------------------------------

    def _spilled_value(self, key: str) -> Any:
        if key in self._changed:
            return self._changed[key]
        if key not in self._read and not self._complete:
            if self._fetch_row is not None:
                self._fetch_row(key)
            else:
                self.fetch([key])
        return self._read.get(key, ABSENT)

    def __getitem__(self, key: str) -> Any:
        if key in self.inline:
            return self.inline[key]
        value = self._spilled_value(key)
        if value is ABSENT:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        return key in self.inline or (isinstance(key, str) and self._spilled_value(key) is not ABSENT)

    def __setitem__(self, key: str, value: Any) -> None:
        if key not in self.inline and self._spilled_value(key) is not ABSENT:
            self._changed[key] = value  # it lives spilled: overwrite it there
        else:
            self.inline[key] = value  # new entries go inline; the store spills what passes its budget

    def __delitem__(self, key: str) -> None:
        if key in self.inline:
            del self.inline[key]
        elif self._spilled_value(key) is not ABSENT:
            self._changed[key] = ABSENT
        else:
            raise KeyError(key)

    # get and pop without the KeyError that Mapping's raise and catch on a miss (most lookups miss)

    def get(self, key: str, default: Any = None) -> Any:
        value = self.inline.get(key, ABSENT)
        if value is ABSENT:
            value = self._spilled_value(key)
        return default if value is ABSENT else value

    def pop(self, key: str, default: Any = _NO_DEFAULT) -> Any:
        value = self.inline.pop(key, ABSENT)
        if value is ABSENT:
            value = self._spilled_value(key)
            if value is ABSENT:
                if default is _NO_DEFAULT:
                    raise KeyError(key)
                return default
            self._changed[key] = ABSENT  # it lives spilled: remove it there
        return value

    def discard(self, key: str) -> None:
        """Remove ``key`` if present, without reading it: a spilled entry not read is removed blind."""
        if self.inline.pop(key, ABSENT) is not ABSENT:
            return
        current = self._changed.get(key, self._read.get(key, ABSENT if self._complete else None))
        if current is not ABSENT:  # present, or not read (then removed blind)
            self._changed[key] = ABSENT

    def __iter__(self) -> Iterator[str]:
        if not self.spilled and not self._changed:  # the usual case: nothing spilled
            return iter(list(self.inline))
        return self._all_keys()

    def _all_keys(self) -> Iterator[str]:
        yield from list(self.inline)
        for key, _ in self._spilled_items():
            yield key

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def _spilled_items(self, until: float | None = None) -> Iterator[tuple[str, Any]]:
        """Spilled entries as they are now (this transition's changes included), reading pages as needed."""
        for key, value in list(self._changed.items()):
            if value is not ABSENT:
                yield key, value
        if self._complete:
            for key, value in list(self._read.items()):
                if value is not ABSENT and key not in self._changed:
                    yield key, value
            return
        if self.spilled == 0 or (until is not None and self.next_at is not None and self.next_at > until):
            return
        assert self.source is not None, f"schedule {self.name!r} has spilled entries and no store to read them"
        seen: dict[str, Any] = {}
        self._pages = []
        for page, position in self.source.pages(self.name, self.gen, self.start):
            self._pages.append((position, [key for key, _ in page]))
            for key, value in page:
                seen[key] = value
                if key not in self._read or self._read[key] is ABSENT:
                    self._read[key] = value
                if key not in self._changed:
                    yield key, value
        # a full pass: what is stored is known exactly (anything else read earlier is gone now)
        self._read = {k: seen.get(k, ABSENT) for k in (*seen, *self._read)}
        self._complete = True

    def due(self, now: float, limit: int | None = None) -> list[tuple[str, Any]]:
        """Entries due at ``now`` (their time <= now), inline ones first, at most ``limit``.

        Spilled entries are read only if ``next_at`` says one may be due, and
        only as many pages as it takes to find ``limit``.
        """
        when = _WHEN[self.name]
        out = [(k, v) for k, v in self.inline.items() if when(v) <= now]
        if limit and len(out) >= limit:
            return out[:limit]
        if not self.spilled and not self._changed:
            return out
        for key, value in self._spilled_items(until=now):
            if when(value) <= now:
                out.append((key, value))
                if limit and len(out) >= limit:
                    break
        return out

    def earliest(self) -> float | None:
        """The earliest positive due time, inline or (a lower bound) spilled; None when there is none."""
        if not self.inline and not self._changed and not self.spilled:
            return None
        when = _WHEN[self.name]
        times = [t for t in (when(v) for v in self.inline.values()) if t > 0]
        times += [when(v) for k, v in self._changed.items() if v is not ABSENT and when(v) > 0]
        if self.spilled and self.next_at is not None and self.next_at > 0:
            times.append(self.next_at)
        return min(times) if times else None

    def clear(self) -> None:
        """Forget every entry: inline ones now, spilled ones by moving to a new generation (the old
        items are never read again, and expire with the execution)."""
        if self.spilled or self._changed:
            self.gen += 1
        self.inline.clear()
        self.spilled, self.next_at, self.start, self._pages = 0, None, None, []
        self._read, self._changed, self._complete = {}, {}, True

    # -- for the Txn and the store ----------------------------------------------

    def unknown(self, keys: Iterable[str]) -> list[str]:
        """Of ``keys``, those whose spilled entry would have to be read."""
        if self._complete:
            return []
        return [k for k in keys if k not in self.inline and k not in self._read and k not in self._changed]

    def learn(self, keys: Iterable[str], found: Mapping[str, Any]) -> None:
        """Record what a read of ``keys`` found (``found``: the ones that exist)."""
        for key in keys:
            self._read.setdefault(key, found.get(key, ABSENT))

    def fetch(self, keys: list[str]) -> None:
        wanted = self.unknown(keys)
        if not wanted:
            return
        assert self.source is not None, f"schedule {self.name!r} has spilled entries and no store to read them"
        found = self.source.fetch([(self.name, self.gen, k) for k in wanted])
        self.learn(wanted, {k: v for (_, k), v in found.items()})

    def spill_overflow(self, budget: int, movable: Iterable[str] | None = None) -> list[str]:
        """Move the newest inline entries (of ``movable`` only, when given) to spilled ones until the
        inline ones cost at most ``budget`` bytes (step id + ``ENTRY_OVERHEAD_BYTES`` each).
        Returns the keys moved."""
        size = sum(len(k.encode("utf-8")) + ENTRY_OVERHEAD_BYTES for k in self.inline)
        if size <= budget:
            return []
        moved: list[str] = []
        allowed = None if movable is None else set(movable)
        for key in reversed(list(self.inline)):
            if size <= budget:
                break
            if allowed is not None and key not in allowed:
                continue
            size -= len(key.encode("utf-8")) + ENTRY_OVERHEAD_BYTES
            self._changed[key] = self.inline.pop(key)
            self._read.setdefault(key, ABSENT)  # it was inline, so no spilled entry of it existed
            moved.append(key)
        return moved

    def changes(self) -> dict[str, Any]:
        """Spilled entries this transition writes (value) or removes (``ABSENT``)."""
        return dict(self._changed)

    def summary_after(self) -> tuple[int, float | None]:
        """``(spilled, next_at)`` once this transition's changes are applied."""
        when = _WHEN.get(self.name)
        if self._complete:
            now = {k: v for k, v in self._read.items() if v is not ABSENT}
            now.update(self._changed)
            live = [v for v in now.values() if v is not ABSENT]
            return len(live), (min(map(when, live)) if when and live else None)
        count, next_at = self.spilled, self.next_at
        for key, value in self._changed.items():
            before = self._read.get(key)  # None: not read (a blind removal)
            if value is ABSENT:
                count -= before is not None and before is not ABSENT
            else:
                count += before is None or before is ABSENT
                if when is not None:
                    t = when(value)
                    next_at = t if next_at is None else min(next_at, t)
        return count, (next_at if count else None)

    def gen_after(self) -> int:
        """The generation once this transition's changes are applied: a new one once the last spilled
        entry is gone, so the removed entries (kept as tombstones: module docstring) are never read again."""
        if (self.spilled or self._changed) and self.summary_after()[0] == 0:
            return self.gen + 1
        return self.gen

    def start_after(self) -> str | None:
        """The read cursor once this transition's changes are applied (``start``, class docstring):
        past every page read from ``start`` whose entries are all removed now, but never at or past
        an entry this transition writes."""
        if self.gen_after() != self.gen or not self._pages and self.start is None:
            return None
        assert self.source is not None
        cursor, passed = self.start, [self.start]
        for position, keys in self._pages:  # in the order read, each page's keys in order too
            for key in keys:
                if self._changed.get(key, self._read.get(key)) is not ABSENT:  # (not read yet: None, present)
                    break
                cursor = self.source.position(self.name, self.gen, key)
                passed.append(cursor)
            else:
                if position is not None:  # the page's trailing tombstones too
                    cursor = position
                    passed.append(cursor)
                    continue
            break
        written = [k for k, v in self._changed.items() if v is not ABSENT]
        if cursor is None or not written:
            return cursor
        lowest = min(self.source.position(self.name, self.gen, k) for k in written)
        below = [p for p in passed if p is not None and p < lowest]
        return max(below) if below else None

    def overstated(self) -> bool:
        """Whether a full read found fewer spilled entries than ``spilled`` says (``unsent``'s count is
        an upper bound): a commit of the header then records the truth (often none: a new
        generation), so later reads stop walking the removed entries again."""
        return self._complete and self.spilled > 0 and not self._changed and self.summary_after()[0] < self.spilled

    def committed(self, keep_reads: bool = True) -> None:
        """Fold this transition's changes in, as the store now holds them."""
        if not self._changed and not self.spilled and not self._read:
            return  # nothing spilled, before or after
        gen = self.gen_after()
        self.start = self.start_after()
        self._pages = []
        self.spilled, self.next_at = self.summary_after()
        if gen != self.gen:
            self.gen, self._read, self._complete = gen, {}, True
        elif keep_reads:
            self._read.update(self._changed)
        else:
            self._read, self._complete = {}, self.spilled == 0
        self._changed = {}

    @classmethod
    def _over(cls, name: str, inline: dict[str, Any]) -> Schedule:
        """A schedule with nothing spilled whose inline entries are ``inline`` itself (not a copy)."""
        return cls.__new__(cls)._fill(name, inline, 0, 0, None, None, None, [], {}, True, {})

    def copy(self) -> Schedule:
        return Schedule.__new__(Schedule)._fill(  # (no __init__: this is on every transition's path)
            self.name, dict(self.inline), self.gen, self.spilled, self.next_at, self.source, self.start,
            list(self._pages), dict(self._read) if self._read else {}, self._complete,
            dict(self._changed) if self._changed else {})

    def summary(self) -> list[Any] | None:
        """``[gen, spilled, next_at]``, and ``start`` when there is one, as stored in the header
        (None when there is nothing to say)."""
        spilled, next_at = self.summary_after()
        gen = self.gen_after()
        if not gen and not spilled:
            return None
        start = self.start_after()
        return [gen, spilled, next_at] if start is None else [gen, spilled, next_at, start]

    def __repr__(self) -> str:
        extra = f", spilled={self.spilled}, gen={self.gen}" if self.spilled or self.gen else ""
        return f"Schedule({self.name!r}, {self.inline!r}{extra})"


@dataclass(init=False)
class ExecutionHeader:
    """The versioned part of an execution, constant in size on a store that spills (module docstring)."""

    status: WorkflowStatus
    version: int
    remaining: int  # steps not yet in a terminal status
    ready: Schedule  # step -> not before (epoch s; 0 = now)
    joins: Schedule  # step -> dependencies still incomplete (steps with >= 2)
    deadlines: Schedule  # step -> [run_id, deadline epoch s]
    unsent: Schedule  # step -> [run_id, claimed_at epoch s]
    outcome: Any
    error: dict[str, Any] | None
    updated_at: str | None
    # step -> [run_id, attempt] for waiting steps that have run before (retries, loop resets):
    # a claim then needs no read of the step's record, since a step absent here is at run 0.
    reruns: Schedule
    # event name -> events kept for a wait to come (``engine/wait.py``'s mailboxes): a wait that
    # begins reads its name's mailbox only when this says it holds any. Empty (and not stored) in
    # an execution that never received an early event.
    kept: dict[str, int]

    def __init__(self, status: WorkflowStatus, version: int, remaining: int,
                 ready: Mapping[str, Any] | None = None, joins: Mapping[str, Any] | None = None,
                 deadlines: Mapping[str, Any] | None = None, unsent: Mapping[str, Any] | None = None,
                 outcome: Any = None, error: dict[str, Any] | None = None, updated_at: str | None = None,
                 reruns: Mapping[str, Any] | None = None, kept: Mapping[str, int] | None = None):
        own = object.__setattr__  # (plain fields skip __setattr__: this is on every transition's path)
        own(self, "status", status)
        own(self, "version", version)
        own(self, "remaining", remaining)
        # (``is None``, not truthiness: a Schedule's length may need a read; __setattr__ makes Schedules)
        for name, value in (("ready", ready), ("joins", joins), ("deadlines", deadlines), ("unsent", unsent),
                            ("reruns", reruns)):
            setattr(self, name, {} if value is None else value)
        own(self, "outcome", outcome)
        own(self, "error", error)
        own(self, "updated_at", updated_at)
        own(self, "kept", dict(kept or {}))

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _SCHEDULE_NAMES:
            if type(value) is not Schedule:
                value = Schedule(name, value or None)
            value._fetch_row = self.fetch_rows_one
        object.__setattr__(self, name, value)

    def schedules(self) -> list[Schedule]:
        return [getattr(self, name) for name in SCHEDULES]

    def overstated(self) -> bool:
        """Whether a schedule's stored count of spilled entries is known to be too high (``Schedule``)."""
        return any(schedule.overstated() for schedule in self.schedules())

    def fetch_rows(self, step_ids: Iterable[str]) -> None:
        """Read, in one call, the spilled entries of ``step_ids`` in every schedule that has any."""
        if self.ready._complete and self.joins._complete and self.deadlines._complete and self.unsent._complete \
                and self.reruns._complete:
            return  # every spilled entry is known (none, on a store that never spills)
        step_ids = list(step_ids)
        wanted: list[tuple[str, int, str]] = []
        asked: dict[str, list[str]] = {}
        source = None
        for schedule in self.schedules():
            keys = schedule.unknown(step_ids)
            if keys:
                asked[schedule.name] = keys
                wanted += [(schedule.name, schedule.gen, k) for k in keys]
                source = source or schedule.source
        if not wanted:
            return
        assert source is not None, "the header has spilled entries and no store to read them"
        found = source.fetch(wanted)
        for name, keys in asked.items():
            getattr(self, name).learn(keys, {k: v for (n, k), v in found.items() if n == name})

    def fetch_rows_one(self, step_id: str) -> None:
        self.fetch_rows([step_id])

    def to_dict(self) -> dict[str, Any]:
        """Inline entries as plain dicts, plus ``spill``: ``{schedule: [gen, spilled, next_at]}`` when any."""
        d: dict[str, Any] = {"status": str(self.status), "version": self.version, "remaining": self.remaining}
        for name in SCHEDULES:
            d[name] = {k: (list(v) if isinstance(v, list) else v) for k, v in getattr(self, name).inline.items()}
        d.update(outcome=self.outcome, error=self.error, updated_at=self.updated_at)
        spill = {s.name: s.summary() for s in self.schedules() if s.summary() is not None}
        if spill:
            d["spill"] = spill
        if self.kept:
            d["kept"] = dict(self.kept)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: SpillSource | None = None) -> ExecutionHeader:
        spill = d.get("spill") or {}

        def schedule(name: str) -> Schedule:
            gen, spilled, next_at, *start = spill.get(name) or (0, 0, None)
            entries = {k: entry_value(name, v) for k, v in (d.get(name) or {}).items()}
            return Schedule(name, entries, gen=int(gen), spilled=int(spilled),
                            next_at=None if next_at is None else float(next_at), source=source,
                            start=start[0] if start else None)

        return cls(
            status=WorkflowStatus(d["status"]),
            version=int(d["version"]),
            remaining=int(d["remaining"]),
            ready=schedule("ready"),
            joins=schedule("joins"),
            deadlines=schedule("deadlines"),
            unsent=schedule("unsent"),
            outcome=d.get("outcome"),
            error=d.get("error"),
            updated_at=d.get("updated_at"),
            reruns=schedule("reruns"),
            kept=d.get("kept"),
        )

    def copy(self) -> ExecutionHeader:
        """A copy safe to mutate (schedules are copied one level deep; entry values are not mutated in place)."""
        return ExecutionHeader._of(self.status, self.version, self.remaining,
                                   [getattr(self, name).copy() for name in SCHEDULES],
                                   self.outcome, self.error, self.updated_at, self.kept)

    @classmethod
    def assemble(cls, status: WorkflowStatus, version: int, remaining: int, inline: Iterable[dict[str, Any]],
                 outcome: Any, error: dict[str, Any] | None, updated_at: str | None,
                 kept: Mapping[str, int] | None = None) -> ExecutionHeader:
        """A header whose schedules (in ``SCHEDULES`` order) hold exactly the dicts in ``inline``, taken
        over as they are, not copied: for a store that has just decoded them (nothing spilled)."""
        return cls._of(status, version, remaining, [Schedule._over(name, entries)
                                                    for name, entries in zip(SCHEDULES, inline, strict=True)],
                       outcome, error, updated_at, kept)

    @classmethod
    def _of(cls, status: WorkflowStatus, version: int, remaining: int, schedules: list[Schedule], outcome: Any,
            error: dict[str, Any] | None, updated_at: str | None,
            kept: Mapping[str, int] | None = None) -> ExecutionHeader:
        """``__init__`` without its checks and copies (every transition makes a header)."""
        header = cls.__new__(cls)
        own = object.__setattr__
        own(header, "status", status)
        own(header, "version", version)
        own(header, "remaining", remaining)
        fetch = header.fetch_rows_one
        for schedule in schedules:
            schedule._fetch_row = fetch
            own(header, schedule.name, schedule)
        own(header, "outcome", outcome)
        own(header, "error", error)
        own(header, "updated_at", updated_at)
        own(header, "kept", dict(kept) if kept else {})
        return header


# the fields only a kind's record may have (a wait's: the event it took, its token data, the events it
# keeps), left out of ``to_dict`` when not set
_KIND_FIELDS = ("event_id", "callback", "own_events")


@dataclass
class StepRecord:
    """One step's latest run: status, run_id, attempts, what it got and gave."""

    step_id: str
    token: str
    status: StepStatus = StepStatus.READY
    run_id: int = 0  # bumped on every retry and every set-branch reset
    attempt: int = 0  # attempts used since the last reset (the max_attempts budget)
    inputs: dict[str, Any] | None = None  # resolved at claim, so a resend is exact
    output: dict[str, Any] | None = None
    error: dict[str, Any] | None = None  # the last failed attempt
    start_time: str | None = None
    end_time: str | None = None
    host: str | None = None
    # when no branch fired: the paths its conditions read that did not exist (each "path: no key ...")
    missing_paths: list[str] | None = None
    # a wait's: the id of the event whose payload is this run's output (``engine/wait.py``)
    event_id: str | None = None
    # a wait's that hands out a token: its nonce, and while in progress heartbeat_at once a heartbeat
    # pushed it on (``engine/wait.py``); once the record leaves IN_PROGRESS only the nonce, for the
    # ``waiting`` event it keeps (``WaitKind.replacing``)
    callback: dict[str, Any] | None = None
    # history events of this run kept here instead of in the log, by type: their ids (a wait's ``waiting``
    # and ``step_completed``: ``StepKind.keeps_events``); ``operations.history`` reads them back
    own_events: dict[str, str] | None = None

    def evolve(self, **changes: Any) -> StepRecord:
        """A copy with ``changes`` (dataclasses.replace, without its per-call overhead on the hot path)."""
        return StepRecord(**{**self.__dict__, **changes})

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["status"] = str(self.status)
        for name in _KIND_FIELDS:  # other records stay as small
            if d[name] is None:
                del d[name]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StepRecord:
        return cls(
            step_id=d["step_id"],
            token=d["token"],
            status=StepStatus(d["status"]),
            run_id=int(d.get("run_id", 0)),
            attempt=int(d.get("attempt", 0)),
            inputs=d.get("inputs"),
            output=d.get("output"),
            error=d.get("error"),
            start_time=d.get("start_time"),
            end_time=d.get("end_time"),
            host=d.get("host"),
            missing_paths=d.get("missing_paths"),
            event_id=d.get("event_id"),
            callback=d.get("callback"),
            own_events=d.get("own_events"),
        )


@dataclass
class Commit:
    """One atomic state transition of one execution.

    The store applies all of it or none of it, and only if the stored header
    version still equals ``expected_version`` (else ``ConflictError``).
    ``header.version`` is already ``expected_version + 1``; unsent changes
    travel as the two deltas (a store that spills also follows them in
    ``header.unsent`` to place them), and the header's schedules carry their
    spilled changes (``Schedule.changes``).
    """

    expected_version: int
    header: ExecutionHeader
    steps: dict[str, StepRecord] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    unsent_add: dict[str, list[float]] = field(default_factory=dict)
    unsent_remove: list[str] = field(default_factory=list)
    # the history events of this transition, in order, each with its id (``history.py``; ``Txn.event``
    # numbers them, leaving out the ids of those a record keeps: ``StepRecord.own_events``); stored with the commit
    events: list[dict[str, Any]] = field(default_factory=list)
    # steps whose record here is a claim every claimer of the same (step, run_id) makes alike (its
    # inputs read only upstream outputs and the workflow's inputs: ``transitions.claims_ahead``): a
    # store may write those records ahead of the fenced update, never over a record past the claim
    # (``dynamodb_store``); readers see such a record whose commit never landed as not begun
    # (``transitions.as_claimed``)
    claims: set[str] = field(default_factory=set)
    # records written at a *results slot*: a map's next results record (``engine/map.py``), which no
    # reader reads until a committed window counts it, and which every commit that counts that slot
    # writes itself. A store may write those records ahead of the fenced update, never over a
    # record a commit wrote (``dynamodb_store``, "Results slots ahead")
    slots: set[str] = field(default_factory=set)
