"""inprocess_runner.py -- InProcessRunner: jobs and results in this process's memory.

Pending jobs wait in a queue until a worker takes them; results wait per
execution until ``gather``. Thread-safe, so workers may run in threads.
"""

from __future__ import annotations

import threading
from collections import deque

from ..results import DispatchJob, StepResult
from .runner import Runner


class InProcessRunner(Runner):
    poll_interval = 0.001

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: deque[DispatchJob] = deque()
        self._results: dict[str, list[StepResult]] = {}

    def dispatch(self, workflow_execution_id: str, jobs: list[DispatchJob]) -> list[StepResult]:
        with self._lock:
            self._pending.extend(jobs)
        return []

    def gather(self, workflow_execution_id: str) -> list[StepResult]:
        with self._lock:
            return self._results.pop(workflow_execution_id, [])

    def list_pending_jobs(self) -> list[DispatchJob]:
        with self._lock:
            return list(self._pending)

    def take_pending_jobs(self) -> list[DispatchJob]:
        with self._lock:
            jobs = list(self._pending)
            self._pending.clear()
            return jobs

    def file_result(self, result: StepResult) -> None:
        with self._lock:
            self._results.setdefault(result.execution_key, []).append(result)
