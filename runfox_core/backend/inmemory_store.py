"""inmemory_store.py -- InMemoryStore: the Store contract in one process's memory.

Callers can never reach stored state by mutating what they passed in or
loaded (the same isolation a database gives): every record, state entry,
event and the JSON parts of the header are kept *frozen*, encoded with
``marshal`` (the standard library's C encoder of plain Python values), and
decoded into new objects on every load. Encoding once at commit costs less
than the deep copies it replaced, and a value loaded is a fresh one. A value
``marshal`` cannot hold (a subclass of str, say) is deep-copied instead. The
header's unsent entries stay a plain dict the store owns, since
``mark_sent`` edits them between commits. One lock makes every method
atomic, which is all the contract needs.

Known limit: the encoding is ``marshal``'s, which belongs to one Python
version; nothing is ever written out, so that is all it needs.
"""

from __future__ import annotations

import bisect
import marshal
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from ..engine.records import Commit, ExecutionDefinition, ExecutionHeader, StepRecord
from ..engine.txn import _copy_json
from ..errors import ConflictError, ExecutionExistsError, ExecutionNotFoundError
from ..history import position
from ..listing import ExecutionSummary, ListPage, ListQuery, matches, page_of
from .store import Store


class _Copied:
    """A value ``marshal`` cannot encode, kept as a deep copy instead."""

    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value


def _freeze(value: Any) -> Any:
    """``value`` encoded, or deep-copied when marshal cannot hold it (several fields are frozen together
    as a list, not a tuple: the copy walks lists and dicts, and keeps a tuple as it is)."""
    try:
        return marshal.dumps(value)
    except ValueError:  # a type marshal does not know (a subclass of a JSON type), or nested too deep
        return _Copied(_copy_json(value))


def _thaw(frozen: Any) -> Any:
    if type(frozen) is bytes:
        return marshal.loads(frozen)
    return _copy_json(frozen.value)


# A step record is kept as (status, its other fields frozen as a list, in this order).
_RECORD_FIELDS = ("step_id", "token", "run_id", "attempt", "inputs", "output", "error", "start_time", "end_time",
                  "host", "missing_paths", "event_id", "callback", "own_events")


def _freeze_step(r: StepRecord) -> tuple[Any, Any]:
    return r.status, _freeze([getattr(r, name) for name in _RECORD_FIELDS])


def _thaw_step(stored: tuple[Any, Any]) -> StepRecord:
    status, frozen = stored
    step_id, token, run_id, attempt, inputs, output, error, start, end, host, missing, event_id, callback, \
        own_events = _thaw(frozen)
    return StepRecord(step_id, token, status, run_id, attempt, inputs, output, error, start, end, host, missing,
                      event_id, callback, own_events)


class _Header:
    """A stored header: the scalars, its unsent entries (owned, edited by ``mark_sent``), and the rest
    frozen (the other schedules' entries, outcome, error). Every entry is inline: this store never spills."""

    __slots__ = ("status", "version", "remaining", "updated_at", "unsent", "frozen")

    def __init__(self, h: ExecutionHeader, unsent: dict[str, Any]):
        self.status, self.version, self.remaining, self.updated_at = h.status, h.version, h.remaining, h.updated_at
        self.unsent = unsent
        self.frozen = _freeze([h.ready.inline, h.joins.inline, h.deadlines.inline, h.reruns.inline,
                               h.outcome, h.error, h.kept])

    def thaw(self) -> ExecutionHeader:
        ready, joins, deadlines, reruns, outcome, error, kept = _thaw(self.frozen)
        unsent = {k: list(v) for k, v in self.unsent.items()}
        return ExecutionHeader.assemble(self.status, self.version, self.remaining,
                                        (ready, joins, deadlines, unsent, reruns), outcome, error, self.updated_at,
                                        kept)


class InMemoryStore(Store):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._definitions: dict[str, Any] = {}  # key -> frozen definition fields
        self._created: dict[str, tuple[str | None, str]] = {}  # key -> (name, created_at), for listing
        self._headers: dict[str, _Header] = {}
        self._steps: dict[str, dict[str, tuple[Any, Any]]] = {}
        self._state: dict[str, dict[str, Any]] = {}
        self._names: dict[str, str] = {}
        self._history: dict[str, tuple[list[tuple[int, int]], list[Any]]] = {}  # key -> (ids, frozen events)

    def create(self, definition: ExecutionDefinition, header: ExecutionHeader) -> None:
        key = definition.key
        with self._lock:
            if key in self._headers:
                raise ExecutionExistsError(f"execution {key} already exists", existing_key=key)
            if definition.name is not None and definition.name in self._names:
                existing = self._names[definition.name]
                raise ExecutionExistsError(f"name {definition.name!r} is taken by {existing}", existing_key=existing)
            d = definition
            self._definitions[key] = _freeze([d.workflow_id, d.execution_id, d.spec, d.inputs, d.created_at, d.name])
            self._created[key] = (d.name, d.created_at)
            self._headers[key] = _Header(header, {k: list(v) for k, v in header.unsent.inline.items()})
            self._steps[key] = {}
            self._state[key] = {}
            self._history[key] = ([], [])
            if definition.name is not None:
                self._names[definition.name] = key

    def find_by_name(self, name: str) -> str | None:
        with self._lock:
            return self._names.get(name)

    def _header(self, key: str) -> _Header:
        try:
            return self._headers[key]
        except KeyError:
            raise ExecutionNotFoundError(f"no execution {key}") from None

    def load_definition(self, key: str) -> ExecutionDefinition:
        with self._lock:
            self._header(key)
            return ExecutionDefinition(*_thaw(self._definitions[key]))

    def load_header(self, key: str) -> ExecutionHeader:
        with self._lock:
            return self._header(key).thaw()

    def load_steps(self, key: str, step_ids: Iterable[str] | None = None) -> dict[str, StepRecord]:
        with self._lock:
            self._header(key)
            steps = self._steps[key]
            if step_ids is None:
                return {sid: _thaw_step(r) for sid, r in steps.items()}
            return {sid: _thaw_step(steps[sid]) for sid in step_ids if sid in steps}

    def load_state(self, key: str, keys: Iterable[str] | None = None) -> dict[str, Any]:
        with self._lock:
            self._header(key)
            state = self._state[key]
            if keys is None:
                return {k: _thaw(v) for k, v in state.items()}
            return {k: _thaw(state[k]) for k in keys if k in state}

    def commit(self, key: str, commit: Commit) -> None:
        with self._lock:
            current = self._header(key)
            if current.version != commit.expected_version:
                raise ConflictError(
                    f"execution {key}: version {current.version}, commit expected {commit.expected_version}")
            # everything encoded first, then applied: a value that cannot be copied changes nothing
            header = _Header(commit.header, current.unsent)
            steps = {sid: _freeze_step(record) for sid, record in commit.steps.items()}
            state = {k: _freeze(v) for k, v in commit.state.items()}
            events = [(position(e), _freeze(e)) for e in commit.events]
            added = {k: list(v) for k, v in commit.unsent_add.items()}
            for sid in commit.unsent_remove:
                header.unsent.pop(sid, None)
            header.unsent.update(added)
            self._headers[key] = header
            self._steps[key].update(steps)
            self._state[key].update(state)
            ids, history = self._history[key]
            for at, event in events:
                ids.append(at)
                history.append(event)

    def mark_sent(self, key: str, sent: Mapping[str, int]) -> None:
        with self._lock:
            unsent = self._header(key).unsent
            for sid, run_id in sent.items():
                entry = unsent.get(sid)
                if entry is not None and int(entry[0]) == run_id:
                    del unsent[sid]

    # -- history and listing ----------------------------------------------------

    def load_history(self, key: str, after: tuple[int, int] | None = None,
                     limit: int = 1000) -> list[dict[str, Any]]:
        with self._lock:
            self._header(key)
            ids, events = self._history[key]
            start = 0 if after is None else bisect.bisect_right(ids, after)  # ids grow with the list
            return [_thaw(e) for e in events[start:start + limit]]

    def list_executions(self, query: ListQuery) -> ListPage:
        with self._lock:
            found = [ExecutionSummary(key, name, self._headers[key].status, created)
                     for key, (name, created) in self._created.items()]
        return page_of([s for s in found if matches(s, query)], query)
