"""records.py -- how one execution is stored, split so a step costs O(1).

An execution is not one document. It is:

- ``ExecutionDefinition`` -- immutable: spec, inputs, ids, name. Written once
  at creation; processes cache it, since it never changes.
- ``ExecutionHeader`` -- small and versioned: status, outcome, error, how many
  steps remain, which steps are ready, join counters, deadlines. Every state
  transition rewrites it under an optimistic version check; that check is what
  serialises concurrent transitions of one execution.
- ``StepRecord`` -- one per step, written only when that step changes. A step
  with no stored record is READY at run 0 (creation writes no step records).
- state -- the shared accumulator, one entry per key, so merging an output
  writes only the keys it carries.
- unsent -- claimed jobs whose message has not been confirmed sent; advance()
  re-emits entries older than the grace period, so a crash between the claim
  and the send never strands a step. Updated by deltas (never rewritten
  whole), so ``mark_sent`` cannot clobber a concurrent commit.

The header holds nothing that grows with the number of steps except the
ready set, join counters of steps still waiting on two or more dependencies,
run counters of steps waiting to run again, deadlines of steps in flight and
unsent claims (at most ``workflow.MAX_JOBS_PER_ADVANCE`` per advance before
they are confirmed sent): all bounded by the width of the workflow, not its
length. Known limit: it is still one item, so a store with an item limit
(DynamoDB's 400 KB) caps the width; past it the execution fails with a
``StoreLimitError`` naming the size, never stalls. Moving these maps to
items of their own is the next step for unbounded width.

A ``Commit`` may hold any number of records and state entries; a store whose
transactions are bounded applies a large one as a sequence no reader sees
half done (``engine/txn.py``, ``aws/dynamodb_store.py``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

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


@dataclass
class ExecutionHeader:
    """The versioned, O(width) part of an execution (see the module docstring)."""

    status: WorkflowStatus
    version: int
    remaining: int  # steps not yet in a terminal status
    ready: dict[str, float] = field(default_factory=dict)  # step -> not before (epoch s; 0 = now)
    joins: dict[str, int] = field(default_factory=dict)  # step -> dependencies still incomplete (>= 2 deps)
    deadlines: dict[str, list[float]] = field(default_factory=dict)  # step -> [run_id, deadline epoch s]
    unsent: dict[str, list[float]] = field(default_factory=dict)  # step -> [run_id, claimed_at epoch s]
    outcome: Any = None
    error: dict[str, Any] | None = None
    updated_at: str | None = None
    # step -> [run_id, attempt] for waiting steps that have run before (retries, loop resets):
    # a claim then needs no read of the step's record, since a step absent here is at run 0.
    reruns: dict[str, list[int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["status"] = str(self.status)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ExecutionHeader:
        return cls(
            status=WorkflowStatus(d["status"]),
            version=int(d["version"]),
            remaining=int(d["remaining"]),
            ready={k: float(v) for k, v in (d.get("ready") or {}).items()},
            joins={k: int(v) for k, v in (d.get("joins") or {}).items()},
            deadlines={k: [float(x) for x in v] for k, v in (d.get("deadlines") or {}).items()},
            unsent={k: [float(x) for x in v] for k, v in (d.get("unsent") or {}).items()},
            outcome=d.get("outcome"),
            error=d.get("error"),
            updated_at=d.get("updated_at"),
            reruns={k: [int(x) for x in v] for k, v in (d.get("reruns") or {}).items()},
        )

    def copy(self) -> ExecutionHeader:
        """A copy safe to mutate (containers are copied one level deep, values are immutable)."""
        return ExecutionHeader(self.status, self.version, self.remaining, dict(self.ready), dict(self.joins),
                               dict(self.deadlines), dict(self.unsent), self.outcome, self.error, self.updated_at,
                               dict(self.reruns))


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

    def evolve(self, **changes: Any) -> StepRecord:
        """A copy with ``changes`` (dataclasses.replace, without its per-call overhead on the hot path)."""
        return StepRecord(**{**self.__dict__, **changes})

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["status"] = str(self.status)
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
        )


@dataclass
class Commit:
    """One atomic state transition of one execution.

    The store applies all of it or none of it, and only if the stored header
    version still equals ``expected_version`` (else ``ConflictError``).
    ``header.version`` is already ``expected_version + 1``; ``header.unsent``
    is ignored: unsent changes travel as the two deltas.
    """

    expected_version: int
    header: ExecutionHeader
    steps: dict[str, StepRecord] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    unsent_add: dict[str, list[float]] = field(default_factory=dict)
    unsent_remove: list[str] = field(default_factory=list)
    # the history events of this transition, in order (``history.py``); stored with the commit
    events: list[dict[str, Any]] = field(default_factory=list)
