"""results.py -- the closed set of values the engine hands back to callers.

``advance()`` returns one of ``Dispatch | Pending | Complete | Halt | Failed | Cancelled``;
``on_step_result()`` returns ``None`` or one of ``Pending | Complete | Halt | Failed``.
``DispatchJob`` is one claimed step; ``StepResult`` is what a worker sends back.
Both carry ``item`` (an ``ItemRef``) when the job is one item, or one batch of
items, of a ``map`` step (``engine/map.py``); it is None for every other job.

``StepResult`` unpacks as the runfox library's ``(op, output)`` pair (and
compares equal to one), so code written for ``gather()`` returning pairs keeps
working; it also carries ``run_id``, ``error`` and ``workflow_execution_id``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class StepError:
    """Why an attempt failed: which step and run, the error type and message."""

    step: str
    run_id: int
    type: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "run_id": self.run_id, "type": self.type, "message": self.message}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StepError:
        return cls(step=d["step"], run_id=int(d["run_id"]), type=d["type"], message=d["message"])


@dataclass(frozen=True)
class ItemRef:
    """Which job of a map step: its index (an item, or a batch of ``batch`` items), and the job's own
    run (bumped on each retry of it). A result is applied only while that job runs at that run.

    ``batch`` is True when the map sends batches: the executor then gets a list of inputs and
    returns a list of outputs, in the same order (``executor.call_executor``).
    """

    index: int
    run_id: int = 0
    batch: bool = False


@dataclass
class DispatchJob:
    """One claimed step: send ``inputs`` to the executor for ``token``, then report with ``run_id``.

    ``op`` is the step id (unique in the workflow); ``token`` is the dispatch
    token the executor switches on (the step's ``fn``, or its ``op``).
    """

    workflow_execution_id: str
    op: str
    inputs: dict[str, Any]
    run_id: int
    token: str = ""
    timeout_seconds: float | None = None
    item: ItemRef | None = None  # set for the jobs of a map step

    def __post_init__(self) -> None:
        if not self.token:
            self.token = self.op


@dataclass(eq=False)
class StepResult:
    """A worker's answer for one job: an output dict, or an error (type and message).

    ``op, output = result`` works (the runfox library's pair), and
    ``result == (op, output)`` compares the pair; two StepResults compare
    every field.
    """

    workflow_execution_id: str
    op: str
    run_id: int | None
    output: Any = None
    error: dict[str, str] | None = None
    item: ItemRef | None = None  # the job's ``item``, for the jobs of a map step

    def _pair(self) -> tuple[str, Any]:
        return (self.op, self.output)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._pair())

    def __len__(self) -> int:
        return 2

    def __getitem__(self, index: int) -> Any:
        return self._pair()[index]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, StepResult):
            return (self.workflow_execution_id, self.op, self.run_id, self.output, self.error, self.item) == (
                other.workflow_execution_id, other.op, other.run_id, other.output, other.error, other.item)
        if isinstance(other, tuple):
            return self._pair() == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable, like any dataclass with eq


@dataclass
class Dispatch:
    """Steps were claimed (already marked in progress); dispatch every job."""

    jobs: list[DispatchJob]


@dataclass
class Pending:
    """Work is in flight or waiting; nothing new to dispatch.

    ``wake_at`` (epoch seconds) is set when a retry is waiting out its backoff
    or a step has a deadline: call ``advance()`` again no later than then.
    """

    wake_at: float | None = None


@dataclass
class Complete:
    """Every step finished; ``outcome`` holds the resolved workflow ``outputs``."""

    outcome: Any


@dataclass
class Halt:
    """A halt branch fired; ``result`` is that branch's ``result`` payload."""

    result: Any


@dataclass
class Failed:
    """A step spent its attempts; ``error`` says which step, run, type and message."""

    error: StepError


@dataclass
class Cancelled:
    """An operator cancelled the execution; ``reason`` is what they gave, if anything."""

    reason: str | None = None


@dataclass
class StateChangeEvent:
    """Passed to ``on_state_change``: which step's output was merged into state."""

    op: str
    run_id: int = 0
    changed_keys: list[str] = field(default_factory=list)
