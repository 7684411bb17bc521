"""results.py -- the closed set of values the engine hands back to callers.

``advance()`` returns one of ``Dispatch | Pending | Complete | Halt | Failed | Cancelled``;
``on_step_result()`` returns ``None`` or one of ``Pending | Complete | Halt | Failed``.
``DispatchJob`` is one claimed step; ``StepResult`` is what a worker sends back.
Both carry ``item`` (an ``ItemRef``) when the job is one item, or one batch of
items, of a ``map`` step (``engine/map.py``); it is None for every other job.

``StepResult`` unpacks as the runfox library's ``(op, output)`` pair (and
compares equal to one), so code written for ``gather()`` returning pairs keeps
working; it also carries ``run_id``, ``error`` and ``execution_key``.

Names follow the README's glossary: ``execution_key`` names the execution,
``step`` the step id, ``token`` the dispatch token. The runfox library's
names stay as aliases: ``workflow_execution_id`` and ``op`` read (and, for
``StepResult``, construct) the same fields.
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


class _RunfoxNames:
    """The runfox library's names for the execution key and the step id, read-only aliases."""

    execution_key: str
    step: str

    @property
    def workflow_execution_id(self) -> str:
        return self.execution_key

    @property
    def op(self) -> str:
        return self.step


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
class DispatchJob(_RunfoxNames):
    """One claimed step: send ``inputs`` to the executor for ``token``, then report with ``run_id``.

    ``step`` is the step id (unique in the workflow); ``token`` is the dispatch
    token the executor switches on (the step's ``fn``, or its ``op``).
    """

    execution_key: str
    step: str
    inputs: dict[str, Any]
    run_id: int
    token: str = ""
    timeout_seconds: float | None = None
    item: ItemRef | None = None  # set for the jobs of a map step

    def __post_init__(self) -> None:
        if not self.token:
            self.token = self.step


@dataclass(eq=False, init=False)
class StepResult(_RunfoxNames):
    """A worker's answer for one job: an output dict, or an error (type and message).

    ``op, output = result`` works (the runfox library's pair), and
    ``result == (op, output)`` compares the pair; two StepResults compare
    every field. ``StepResult(workflow_execution_id=..., op=...)``, the
    runfox library's keywords, builds the same result.
    """

    execution_key: str
    step: str
    run_id: int | None
    output: Any = None
    error: dict[str, str] | None = None
    item: ItemRef | None = None  # the job's ``item``, for the jobs of a map step

    def __init__(self, execution_key: str | None = None, step: str | None = None, run_id: int | None = None,
                 output: Any = None, error: dict[str, str] | None = None, item: ItemRef | None = None, *,
                 workflow_execution_id: str | None = None, op: str | None = None) -> None:
        key = execution_key if execution_key is not None else workflow_execution_id
        sid = step if step is not None else op
        if key is None or sid is None:
            raise TypeError("StepResult needs execution_key and step (or the runfox names workflow_execution_id, op)")
        self.execution_key, self.step, self.run_id, self.output, self.error = key, sid, run_id, output, error
        self.item = item

    def _pair(self) -> tuple[str, Any]:
        return (self.step, self.output)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._pair())

    def __len__(self) -> int:
        return 2

    def __getitem__(self, index: int) -> Any:
        return self._pair()[index]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, StepResult):
            return (self.execution_key, self.step, self.run_id, self.output, self.error, self.item) == (
                other.execution_key, other.step, other.run_id, other.output, other.error, other.item)
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
    """Passed to ``on_state_change``: which step's output was merged into state (``op``: the runfox alias)."""

    step: str
    run_id: int = 0
    changed_keys: list[str] = field(default_factory=list)

    @property
    def op(self) -> str:
        return self.step
