"""runner.py -- the Runner contract: short-term state, one task per dispatched job.

A Runner moves jobs to executors and results back. It never touches the
workflow record: the Workflow applies results through the engine, fenced by
run_id, so a runner may deliver a result twice or late without harm.

- ``dispatch`` hands jobs over (idempotent per (execution, step, run_id)); it
  returns results only for jobs it ran locally and synchronously.
- ``gather`` returns results ready for one execution, each exactly once.
- ``take_pending_jobs`` gives each pending job to exactly one caller (worker
  harnesses); ``list_pending_jobs`` only looks.
- ``submit_work_result`` files a worker's result under the job's own
  execution: ``submit_work_result(step_result)``, or the runfox library's
  ``submit_work_result(workflow_execution_id, op, output)`` (no run_id: the
  step's latest dispatched run). Runners implement ``file_result``.

``dispatch`` and ``gather`` return ``StepResult`` values, which unpack as the
runfox library's ``(op, output)`` pairs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Protocol, runtime_checkable

from ..results import DispatchJob, StepResult


@runtime_checkable
class Worker(Protocol):
    """Anything ``Workflow.run(worker=...)`` can drive: works the pending jobs it can, now.

    ``InProcessWorker`` is one; so is an adapter over an external process.
    The argument is the execution being run (a worker may ignore it and
    work every pending job, filing each result under its own execution).
    """

    def run(self, workflow_execution_id: str) -> Any: ...


class Runner(ABC):
    #: Seconds ``Workflow.run()`` sleeps between polls of ``gather``.
    poll_interval: float = 0.01

    @abstractmethod
    def dispatch(self, workflow_execution_id: str, jobs: list[DispatchJob]) -> list[StepResult]:
        """Hand ``jobs`` to executors; return results of any run synchronously here."""

    @abstractmethod
    def gather(self, workflow_execution_id: str) -> list[StepResult]:
        """Return (once each) the results ready for this execution; never blocks."""

    @abstractmethod
    def list_pending_jobs(self) -> list[DispatchJob]:
        """Snapshot of jobs not yet taken by a worker, across all executions."""

    @abstractmethod
    def take_pending_jobs(self) -> list[DispatchJob]:
        """Claim and return pending jobs; no other caller gets the same job."""

    def submit_work_result(self, result: StepResult | str, op: str | None = None, output: Any = None, *,
                           run_id: int | None = None, error: dict[str, str] | None = None) -> None:
        """File a worker's result: a ``StepResult``, or (workflow_execution_id, op, output[, run_id, error])."""
        self.file_result(as_step_result(result, op, output, run_id, error))

    @abstractmethod
    def file_result(self, result: StepResult) -> None:
        """File a worker's result under ``result.execution_key`` (``run_id`` None: the latest run)."""


def as_step_result(result: StepResult | str, op: str | None = None, output: Any = None, run_id: int | None = None,
                   error: dict[str, str] | None = None) -> StepResult:
    """A ``StepResult`` from either form ``submit_work_result`` accepts; TypeError names a mixed call."""
    if isinstance(result, StepResult):
        if op is not None or output is not None or run_id is not None or error is not None:
            raise TypeError("submit_work_result: pass a StepResult alone, or (workflow_execution_id, op, output)")
        return result
    if not isinstance(result, str) or not isinstance(op, str):
        raise TypeError("submit_work_result takes a StepResult or (workflow_execution_id: str, op: str, output)")
    return StepResult(result, op, run_id, output=output, error=error)
