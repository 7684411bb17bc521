"""inprocess_worker.py -- InProcessWorker: run pending jobs through a plain executor.

Works with any Runner: take pending jobs, call ``execute(token, inputs)``
(via ``call_executor``: exceptions and bad outputs become failed attempts),
and submit each result under the job's own execution.
"""

from __future__ import annotations

from ..executor import Executor, call_executor
from .runner import Runner


class InProcessWorker:
    def __init__(self, runner: Runner, executor: Executor):
        self._runner = runner
        self._executor = executor

    def run(self, workflow_execution_id: str | None = None) -> int:
        """Work every job pending now (of any execution); return how many ran.

        ``workflow_execution_id`` is accepted for compatibility and not used:
        each result is filed under its own job's execution.
        """
        jobs = self._runner.take_pending_jobs()
        for job in jobs:
            self._runner.submit_work_result(call_executor(self._executor, job))
        return len(jobs)
