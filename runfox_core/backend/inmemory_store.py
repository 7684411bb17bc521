"""inmemory_store.py -- InMemoryStore: the Store contract in one process's memory.

Values are copied in and out, so callers can never reach stored state by
mutating what they loaded (the same isolation a database gives). One lock
makes every method atomic, which is all the contract needs.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

from ..engine.records import Commit, ExecutionDefinition, ExecutionHeader, Schedule, StepRecord
from ..engine.txn import _copy_json
from ..errors import ConflictError, ExecutionExistsError, ExecutionNotFoundError
from ..history import position, stamp
from ..listing import ExecutionSummary, ListPage, ListQuery, matches, page_of
from .store import Store


def _entries(schedule: Schedule) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, list) else v for k, v in schedule.inline.items()}


def _clone_header(h: ExecutionHeader) -> ExecutionHeader:
    """A detached copy; every schedule entry is inline here (this store never spills)."""
    return ExecutionHeader(
        h.status, h.version, h.remaining, _entries(h.ready), _entries(h.joins), _entries(h.deadlines),
        _entries(h.unsent), _copy_json(h.outcome), _copy_json(h.error), h.updated_at, _entries(h.reruns),
    )


def _clone_step(r: StepRecord) -> StepRecord:
    return r.evolve(inputs=_copy_json(r.inputs), output=_copy_json(r.output), error=_copy_json(r.error))


class InMemoryStore(Store):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._definitions: dict[str, ExecutionDefinition] = {}
        self._headers: dict[str, ExecutionHeader] = {}
        self._steps: dict[str, dict[str, StepRecord]] = {}
        self._state: dict[str, dict[str, Any]] = {}
        self._names: dict[str, str] = {}
        self._history: dict[str, list[dict[str, Any]]] = {}  # key -> events in id order

    def create(self, definition: ExecutionDefinition, header: ExecutionHeader) -> None:
        key = definition.key
        with self._lock:
            if key in self._headers:
                raise ExecutionExistsError(f"execution {key} already exists", existing_key=key)
            if definition.name is not None and definition.name in self._names:
                existing = self._names[definition.name]
                raise ExecutionExistsError(f"name {definition.name!r} is taken by {existing}", existing_key=existing)
            self._definitions[key] = ExecutionDefinition.from_dict(_copy_json(definition.to_dict()))
            self._headers[key] = _clone_header(header)
            self._steps[key] = {}
            self._state[key] = {}
            self._history[key] = []
            if definition.name is not None:
                self._names[definition.name] = key

    def find_by_name(self, name: str) -> str | None:
        with self._lock:
            return self._names.get(name)

    def _header(self, key: str) -> ExecutionHeader:
        try:
            return self._headers[key]
        except KeyError:
            raise ExecutionNotFoundError(f"no execution {key}") from None

    def load_definition(self, key: str) -> ExecutionDefinition:
        with self._lock:
            self._header(key)
            return ExecutionDefinition.from_dict(_copy_json(self._definitions[key].to_dict()))

    def load_header(self, key: str) -> ExecutionHeader:
        with self._lock:
            return _clone_header(self._header(key))

    def load_steps(self, key: str, step_ids: Iterable[str] | None = None) -> dict[str, StepRecord]:
        with self._lock:
            self._header(key)
            steps = self._steps[key]
            if step_ids is None:
                return {sid: _clone_step(r) for sid, r in steps.items()}
            return {sid: _clone_step(steps[sid]) for sid in step_ids if sid in steps}

    def load_state(self, key: str, keys: Iterable[str] | None = None) -> dict[str, Any]:
        with self._lock:
            self._header(key)
            state = self._state[key]
            if keys is None:
                return _copy_json(state)
            return {k: _copy_json(state[k]) for k in keys if k in state}

    def commit(self, key: str, commit: Commit) -> None:
        with self._lock:
            current = self._header(key)
            if current.version != commit.expected_version:
                raise ConflictError(
                    f"execution {key}: version {current.version}, commit expected {commit.expected_version}")
            unsent = dict(current.unsent.inline)
            for sid in commit.unsent_remove:
                unsent.pop(sid, None)
            unsent.update({k: list(v) for k, v in commit.unsent_add.items()})
            header = _clone_header(commit.header)
            header.unsent = Schedule("unsent", unsent)
            self._headers[key] = header
            steps = self._steps[key]
            for sid, record in commit.steps.items():
                steps[sid] = _clone_step(record)
            state = self._state[key]
            for k, v in commit.state.items():
                state[k] = _copy_json(v)
            self._history[key].extend(_copy_json(stamp(commit.events, commit.expected_version + 1)))

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
            events = self._history[key]
            start = 0
            if after is not None:  # ids grow with the list: bisect on them
                lo, hi = 0, len(events)
                while lo < hi:
                    mid = (lo + hi) // 2
                    if position(events[mid]) <= after:
                        lo = mid + 1
                    else:
                        hi = mid
                start = lo
            return _copy_json(events[start:start + limit])

    def list_executions(self, query: ListQuery) -> ListPage:
        with self._lock:
            found = [ExecutionSummary(key, d.name, self._headers[key].status, d.created_at)
                     for key, d in self._definitions.items()]
        return page_of([s for s in found if matches(s, query)], query)
