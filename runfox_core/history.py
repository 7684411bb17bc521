"""history.py -- the event log of an execution: what happened, in order, append-only.

Every transition records its events on its ``Txn`` (``txn.event(kind, now,
...)``) and they travel in the same ``Commit`` as the change they describe:
stored with it, or not at all. An event is a small JSON object::

    {"id": "12.0", "type": "dispatched", "at": 1764500000.123, "step": "fetch", "run_id": 0}

``id`` is ``<header version>.<index in its commit>`` (``Txn.event`` numbers
them): versions grow by one per commit, so ids order the log and name a
position in it (the ``after`` cursor of ``history``). Fields besides ``id``,
``type`` and ``at`` depend on the kind (see ``EventType``); an attempt's
error is cut like the step record's (``records.bounded_error``).

Events a record keeps: a step's kind may keep its run's own events on the
step's record instead of in the log (``StepKind.keeps_events``: a wait for an
event or a callback keeps its ``waiting`` and ``step_completed``). The record
holds their ids (``StepRecord.own_events``), the rest of what they say is
the record's (its times, run, attempt, token) or the spec's, and
``operations.history`` merges them into the log by id: a reader cannot tell
them apart. When another run replaces the record, those events move, with
their ids, to a record of their own in the same commit (``engine/wait.py``,
``~ran~<step>~<run>``). Why: such an event would otherwise be stored twice,
once on the record and once in the log, and on DynamoDB the log's buffer
rides in the header until a PutItem flushes it (``aws/_ddb_history.py``).

Storage (each store keeps the log apart from the records, never in one
growing item): in memory a list per execution; SQLite one row per event;
DynamoDB a few events per item (``aws/_ddb_history.py``). Every
store keeps the log as long as the execution (DynamoDB: the same
``expires_at`` as its other items).

Known limits: a late answer of an earlier run (one that timed out or was
retried), arriving while the execution runs, is recorded by a commit of its
own (one header write). Other ignored results are only logged, never
committed: a duplicate delivery of the current run, a run id the step never
had (a bad message must change nothing), and anything arriving once the
execution has ended (an ended execution is not rewritten).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class EventType(StrEnum):
    """The kinds of history event (their stored values are pinned by a test)."""

    STARTED = "started"  # the first claim of the execution
    DISPATCHED = "dispatched"  # step, run_id, attempt: a job was claimed for the step
    REEMITTED = "re-emitted"  # step, run_id: a claim whose send was never confirmed went out again
    TIMED_OUT = "timed_out"  # step, run_id, timeout_seconds: no result within the step's deadline
    ATTEMPT_FAILED = "attempt_failed"  # step, run_id, error {type, message}
    RETRIED = "retried"  # step, run_id (the new run), attempt, backoff (seconds)
    STALE_RESULT = "stale_result_ignored"  # step, run_id (the result's), current_run_id
    BRANCH_FIRED = "branch_fired"  # step, run_id, branch (index), action (halt | complete | set)
    NO_BRANCH_FIRED = "no_branch_fired"  # step, run_id, missing_paths (when conditions read absent paths)
    STEP_COMPLETED = "step_completed"  # step, run_id
    RESET = "reset"  # step (the one whose set branch fired, absent for a rerun), steps: sent back to ready
    COMPLETED = "completed"  # the execution completed
    HALTED = "halted"  # step: a halt branch ended the execution
    FAILED = "failed"  # step, error: the execution failed
    CANCELLED = "cancelled"  # reason
    REDRIVEN = "redriven"  # steps (given a new run), from_step (a rerun), was (the status it left)
    WAITING = "waiting"  # step, run_id, attempt, and what it waits for: event (a name), token (a callback's),
    # until (a time); a wait sends no job, so this, not ``dispatched``, says it was claimed


def event_id(version: int, index: int) -> str:
    return f"{version}.{index}"


def parse_event_id(text: str) -> tuple[int, int]:
    """``"12.3"`` -> (12, 3); raises ValueError naming the expected form."""
    try:
        version, index = (int(part) for part in str(text).split("."))
    except ValueError:
        raise ValueError(f"event id {text!r} is not of the form <version>.<index> (e.g. 12.0)") from None
    return version, index


def position(event: dict[str, Any]) -> tuple[int, int]:
    return parse_event_id(event["id"])


@dataclass
class HistoryPage:
    """Events in order, oldest first, and the cursor of the next page (None: this was the last)."""

    execution: str
    events: list[dict[str, Any]] = field(default_factory=list)
    next_after: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"execution": self.execution, "events": self.events, "next_after": self.next_after}


def describe_event(event: dict[str, Any]) -> str:
    """One line for people: what the event says, without its id and time."""
    kind, step = event.get("type", "?"), event.get("step")
    run = f" run {event['run_id']}" if "run_id" in event else ""
    where = f" {step}{run}" if step else ""
    detail = ""
    if event.get("error"):
        detail = f": {event['error'].get('type')}: {event['error'].get('message')}"
    elif kind == EventType.RETRIED:
        detail = f" (attempt {event.get('attempt')}, after {event.get('backoff', 0):g}s)"
    elif kind == EventType.BRANCH_FIRED:
        detail = f" (branch {event.get('branch')}: {event.get('action')})"
    elif kind in (EventType.RESET, EventType.REDRIVEN) and event.get("steps"):
        detail = f" ({', '.join(event['steps'])})"
    elif kind == EventType.CANCELLED and event.get("reason"):
        detail = f": {event['reason']}"
    elif kind == EventType.STALE_RESULT:
        detail = f" (current run {event.get('current_run_id')})"
    elif event.get("missing_paths"):
        detail = f" (missing: {'; '.join(event['missing_paths'])})"
    return f"{kind}{where}{detail}"


def when(event: dict[str, Any]) -> str:
    return datetime.fromtimestamp(float(event["at"]), tz=UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
