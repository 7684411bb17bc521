"""follow.py -- follow an execution to its end, printing one line per step change, then its timeline.

``follow(backend, key, ...)`` is what ``runfox run`` and ``runfox watch`` do:
each round it optionally drives the execution (advance, run a worker, apply
gathered results: the router's job on SQLite, where nothing else applies
results), reads one ``Description``, prints what changed since the last
round (``Progress``), and stops once the execution has ended. On the AWS
targets the deployed router drives, so ``drive`` is off and this only reads.

Known limits: a change that starts and ends between two reads shows as its
end only; the poll interval bounds how late a line appears.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TextIO

from .. import operations
from ..backend.base import Backend
from ..backend.runner import Worker
from ..inspector import Description
from ..results import Pending
from ..workflow import Workflow

POLL_SECONDS = 0.2  # seconds between reads when nothing moved


class Progress:
    """Prints a line for each step whose status or run changed since the last ``update``."""

    def __init__(self, out: TextIO, started: float):
        self.out = out
        self.started = started
        self._seen: dict[str, tuple[str, int]] = {}

    def update(self, description: Description) -> None:
        for sid, view in description.steps.items():
            now = (str(view.status), view.run_id)
            if self._seen.get(sid, ("ready", 0)) != now:
                took = "" if view.seconds is None else f"  {view.seconds:.3f}s"
                error = f"  {view.error['type']}: {view.error['message']}" if view.error and view.status in (
                    "retry", "failed") else ""
                self.out.write(f"  {time.monotonic() - self.started:7.2f}s  {sid:<16} run {view.run_id:<3} "
                               f"{view.status}{took}{error}\n")
            self._seen[sid] = now
        self.out.flush()


def follow(backend: Backend, key: str, out: TextIO, *, drive: bool, worker: Worker | None = None,
           timeout: float | None = None, clock: Callable[[], float] = time.monotonic) -> Description:
    """Follow ``key`` until it ends; return its last Description. Raises TimeoutError after ``timeout`` s."""
    progress = Progress(out, clock())
    give_up = None if timeout is None else clock() + timeout
    wf = Workflow(key, backend)
    while True:
        wake_at = None
        moved = False
        if drive:
            advanced = operations.advance(backend, key, wf)
            moved = bool(advanced.dispatched)
            if isinstance(advanced.result, Pending):
                wake_at = advanced.result.wake_at
            if worker is not None:
                moved = bool(worker.run(key)) or moved
            for result in backend.gather(key):
                wf.on_step_result(result.step, result.output, run_id=result.run_id, error=result.error,
                                  item=result.item)
                moved = True
        description = operations.describe(backend, key)
        progress.update(description)
        if description.ended:
            return description
        if give_up is not None and clock() >= give_up:
            raise TimeoutError(f"execution {key} still {description.status} after {timeout:g}s")
        if not moved:
            time.sleep(_pause(backend, wake_at))


def _pause(backend: Backend, wake_at: Any) -> float:
    if wake_at is None:
        return POLL_SECONDS
    return max(0.0, min(POLL_SECONDS, wake_at - backend.clock()))


def timeline_table(timeline: list[dict[str, Any]]) -> str:
    """A timeline (``Description.timeline()``, ``Workflow.timeline()``) as aligned text: step, run,
    duration, status."""
    rows: list[tuple[str, ...]] = [("step", "run", "duration", "status")]
    for row in timeline:
        seconds = row["seconds"]
        rows.append((row["step"], str(row["run_id"]), "-" if seconds is None else f"{seconds:.3f}s", row["status"]))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return "".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() + "\n"
                   for row in rows)
