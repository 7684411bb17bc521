"""inspector.py -- Description: what one execution looks like now, read in one load.

``describe(backend, key)`` reads the header, every step record and the state
once and derives everything a reader asks about from that one load: the
execution's status, outcome and error; per step its reported status
(``cancelled`` derived for steps left open once the execution ended, see
``status.py``; ``ready`` or ``retry`` for a claim written ahead of a commit
that has not landed, ``transitions.as_claimed``), run id, attempt, start,
end, seconds, error and ``missing_paths`` (and, for a wait an event completed, the
event's id); counts per status; the elapsed
time; the dependency edges (for ``runfox graph``). ``Workflow``'s inspection
properties, the ``describe`` operation and the CLI all read through it, so
each fact is computed in one place.

Known limits: a load is header first, then records and state, not one
atomic read: a record can be one commit newer than the header (harmless for
display; nothing commits from a Description). Durations of unfinished steps
run up to the backend's clock. ``describe(..., steps=False)`` reads only the
header (status, outcome, error), for pollers that need nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from .backend.base import Backend
from .engine.records import ExecutionDefinition, ExecutionHeader, StepRecord
from .engine.transitions import all_as_claimed
from .engine.wait import waiting_callbacks
from .status import TERMINAL_WORKFLOW_STATUSES, StepStatus, WorkflowStatus, step_status


@dataclass(frozen=True)
class StepView:
    """One step as a reader sees it (its latest run)."""

    step: str
    token: str
    status: StepStatus
    run_id: int
    attempt: int
    depends_on: tuple[str, ...]
    start: str | None
    end: str | None
    seconds: float | None  # None: never started, or cancelled before it finished
    error: dict[str, Any] | None
    missing_paths: list[str] | None
    event_id: str | None = None  # a wait completed by an event: that event's id

    def row(self) -> dict[str, Any]:
        """The timeline row: step, run_id, status, start, end, seconds, missing_paths."""
        return {"step": self.step, "run_id": self.run_id, "status": str(self.status), "start": self.start,
                "end": self.end, "seconds": self.seconds, "missing_paths": self.missing_paths}


@dataclass(frozen=True)
class Description:
    """An execution at one moment: what it is, how each step stands, what it produced."""

    execution: str
    name: str | None
    created_at: str
    status: WorkflowStatus
    outcome: Any
    error: dict[str, Any] | None
    inputs: dict[str, Any]
    state: dict[str, Any]
    steps: dict[str, StepView] = field(default_factory=dict)  # spec order
    elapsed: float = 0.0  # seconds from the first step start to the last end (or now)
    # wait steps waiting for an event or callback: step -> {token, run_id, timeout_at, heartbeat_at}
    waiting: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def ended(self) -> bool:
        return self.status in TERMINAL_WORKFLOW_STATUSES

    @property
    def step_statuses(self) -> dict[str, StepStatus]:
        return {sid: view.status for sid, view in self.steps.items()}

    @property
    def progress(self) -> dict[str, int]:
        """Count of steps in each status, plus 'total'."""
        counts: dict[str, int] = {str(s): 0 for s in StepStatus}
        for view in self.steps.values():
            counts[str(view.status)] += 1
        counts["total"] = len(self.steps)
        return counts

    @property
    def step_durations(self) -> dict[str, float]:
        """Seconds each started step has run (its latest run; unfinished ones up to now)."""
        return {sid: view.seconds for sid, view in self.steps.items() if view.seconds is not None}

    def timeline(self) -> list[dict[str, Any]]:
        """One row per step, in spec order (see ``StepView.row``)."""
        return [view.row() for view in self.steps.values()]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: what ``runfox status --json`` prints."""
        return {"execution": self.execution, "name": self.name, "created_at": self.created_at,
                "status": str(self.status), "outcome": self.outcome, "error": self.error,
                "elapsed": self.elapsed, "progress": self.progress,
                "steps": [{**view.row(), "token": view.token, "attempt": view.attempt, "error": view.error,
                           "depends_on": list(view.depends_on),
                           **({"event_id": view.event_id} if view.event_id is not None else {})}
                          for view in self.steps.values()],
                "waiting": self.waiting}


def describe(backend: Backend, key: str, *, steps: bool = True) -> Description:
    """The execution ``key`` now; raises ExecutionNotFoundError for an unknown key.

    ``steps=False`` reads only the header: ``steps`` and ``state`` are empty.
    """
    header = backend.load_header(key)  # first: it says whether the execution exists
    definition = backend.load_definition(key)
    if not steps:
        return _description(key, definition, header, {}, {}, 0.0)
    plan = backend.plan(key)
    stored = all_as_claimed(header, backend.store.load_steps(key, None), plan)  # a claim uncommitted: not begun
    state = backend.store.load_state(key, None)
    now = datetime.fromtimestamp(backend.clock()).astimezone()
    views = {}
    for sid, p in plan.steps.items():
        rec = stored.get(sid) or StepRecord(step_id=sid, token=p.token)
        views[sid] = _view(rec, step_status(rec.status, header.status), tuple(p.deps), now)
    waiting = {} if header.status in TERMINAL_WORKFLOW_STATUSES else waiting_callbacks(key, stored, plan)
    return replace(_description(key, definition, header, views, state, _elapsed(list(views.values()), now)),
                   waiting=waiting)


def _description(key: str, definition: ExecutionDefinition, header: ExecutionHeader, views: dict[str, StepView],
                 state: dict[str, Any], elapsed: float) -> Description:
    return Description(execution=key, name=definition.name, created_at=definition.created_at,
                       status=header.status, outcome=header.outcome, error=header.error,
                       inputs=definition.inputs, state=state, steps=views, elapsed=elapsed)


def _view(rec: StepRecord, status: StepStatus, deps: tuple[str, ...], now: datetime) -> StepView:
    seconds = None
    if rec.start_time and not (status == StepStatus.CANCELLED and not rec.end_time):
        end = datetime.fromisoformat(rec.end_time) if rec.end_time else now
        seconds = (end - datetime.fromisoformat(rec.start_time)).total_seconds()
    return StepView(step=rec.step_id, token=rec.token, status=status, run_id=rec.run_id, attempt=rec.attempt,
                    depends_on=deps, start=rec.start_time, end=rec.end_time, seconds=seconds,
                    error=rec.error, missing_paths=rec.missing_paths, event_id=rec.event_id)


def _elapsed(views: list[StepView], now: datetime) -> float:
    """Seconds from the earliest step start to the latest end (or now, if a step still runs)."""
    started = [v for v in views if v.start and (v.end or v.status != StepStatus.CANCELLED)]
    if not started:
        return 0.0
    start = min(datetime.fromisoformat(v.start) for v in started if v.start)
    ends = [datetime.fromisoformat(v.end) for v in started if v.end]
    end = max(ends) if len(ends) == len(started) else now
    return (end - start).total_seconds()
