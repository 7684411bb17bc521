"""inprocess_worker.py -- InProcessWorker: run pending jobs through a plain executor, concurrently.

Works with any Runner: take pending jobs, call ``execute(token, inputs)``
(via ``call_executor``: exceptions and bad outputs become failed attempts),
and submit each result under the job's own execution.

Ready jobs run at once, on up to ``max_concurrency`` threads, the way the
deployed system runs them on separate Lambdas. ``run()`` returns as soon as
one job in flight has finished (or at once, when none is in flight), so the
caller (``Workflow.run``) applies each result when it arrives, while its
siblings are still running: a step's ``end_time``, and so its duration in
``Workflow.timeline()``, is its own, not the sum or the maximum of the jobs
that were ready with it. Steps that became ready are dispatched while
slower siblings still run.

A lone job with nothing else in flight runs in the calling thread (a chain
or a loop step by step): a thread hand-off would cost more than the step.
``max_concurrency=1`` runs each job in the calling thread, one after
another, in dispatch order: nothing runs in the background, and results are
applied in a fixed order (for tests that compare runs step by step).

References in a job's inputs are read before ``execute`` runs, and a large
return is packed after it (``call_executor`` with the worker's ``codec``;
by default the runner's, ``blob_homes.worker_codec``).

Known limits: threads, so CPU-bound executors share one core (the GIL);
concurrency pays off for executors that wait (I/O, subprocesses, remote
calls). A job still running when its execution ended (a sibling halted it)
finishes in the background and its result is never gathered, as in the
deployed system. The Runner's ``submit_work_result`` must be thread-safe
(the in-process and SQLite runners are).
"""

from __future__ import annotations

import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from ..executor import Executor, call_executor
from ..payloads import Codec
from ..results import DispatchJob
from .blob_homes import worker_codec
from .runner import Runner

DEFAULT_MAX_CONCURRENCY = 8  # threads per worker: jobs that wait on I/O overlap; more would mostly queue


class InProcessWorker:
    """Run the jobs a Runner holds through ``executor``, up to ``max_concurrency`` at a time."""

    def __init__(self, runner: Runner, executor: Executor, *, max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
                 codec: Codec | None = None):
        if not isinstance(max_concurrency, int) or isinstance(max_concurrency, bool) or max_concurrency < 1:
            raise ValueError(f"max_concurrency must be an integer >= 1, got {max_concurrency!r}")
        self._runner = runner
        self._executor = executor
        self._codec = codec if codec is not None else worker_codec(runner)
        self.max_concurrency = max_concurrency
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._in_flight: set[Future[None]] = set()

    def run(self, execution_key: str | None = None) -> int:
        """Start every job pending now (of any execution); return how many were started.

        Returns once a job in flight has finished, or at once if none is.
        ``execution_key`` is accepted for the ``Workflow.run`` worker
        protocol and not used: each result is filed under its own job's
        execution. An error from the Runner while submitting a result (not
        from the executor, whose errors are failed attempts) is raised here.
        """
        jobs = self._runner.take_pending_jobs()
        if self.max_concurrency == 1 or (len(jobs) == 1 and not self._in_flight):
            # Sequential, or one job with nothing else running: the calling thread runs it, since a
            # thread hand-off would cost more than the step itself (a chain or a loop, step by step).
            for job in jobs:
                self._work(job)
            return len(jobs)
        with self._lock:
            if jobs and self._pool is None:
                self._pool = ThreadPoolExecutor(self.max_concurrency, thread_name_prefix="runfox-worker")
            for job in jobs:
                assert self._pool is not None
                self._in_flight.add(self._pool.submit(self._work, job))
            waiting = set(self._in_flight)
        if not waiting:
            return len(jobs)
        done, _ = wait(waiting, return_when=FIRST_COMPLETED)
        with self._lock:
            # The pool stays for the next batch (a new pool per batch cost a thread start per step);
            # its idle threads end when the worker is collected.
            self._in_flight -= done
        for future in done:
            future.result()  # re-raise a Runner error
        return len(jobs)

    @property
    def in_flight(self) -> int:
        """How many jobs are running now."""
        with self._lock:
            return sum(1 for future in self._in_flight if not future.done())

    def _work(self, job: DispatchJob) -> None:
        self._runner.submit_work_result(call_executor(self._executor, job, self._codec))
