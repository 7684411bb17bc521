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

Ready jobs wait in one queue that up to ``max_concurrency`` *lanes* (pool
threads) drain, each running one job after another until the queue is
empty: a job costs a queue pop, not a future and a thread wake-up of its
own (a map sends thousands of short jobs).

Known limits: threads, so CPU-bound executors share one core (the GIL);
concurrency pays off for executors that wait (I/O, subprocesses, remote
calls). A job still running when its execution ended (a sibling halted it)
finishes in the background and its result is never gathered, as in the
deployed system. The Runner's ``submit_work_result`` must be thread-safe
(the in-process and SQLite runners are).
"""

from __future__ import annotations

import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor

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
        self._changed = threading.Condition()  # guards everything below; notified as each job ends
        self._pool: ThreadPoolExecutor | None = None
        self._queue: deque[DispatchJob] = deque()  # taken from the runner, not started yet
        self._lanes = 0  # pool threads draining the queue
        self._running = 0  # jobs being executed now
        self._finished = 0  # jobs ended since run() last returned
        self._errors: list[BaseException] = []  # Runner errors from a lane, raised by the next run()

    def run(self, execution_key: str | None = None) -> int:
        """Start every job pending now (of any execution); return how many were started.

        Returns once a job in flight has finished, or at once if none is.
        ``execution_key`` is accepted for the ``Workflow.run`` worker
        protocol and not used: each result is filed under its own job's
        execution. An error from the Runner while submitting a result (not
        from the executor, whose errors are failed attempts) is raised here.
        """
        jobs = self._runner.take_pending_jobs()
        if self.max_concurrency == 1 or (len(jobs) == 1 and not self.in_flight):
            # Sequential, or one job with nothing else running: the calling thread runs it, since a
            # thread hand-off would cost more than the step itself (a chain or a loop, step by step).
            for job in jobs:
                self._work(job)
            return len(jobs)
        with self._changed:
            self._queue.extend(jobs)
            while self._lanes < min(self.max_concurrency, len(self._queue) + self._running):
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(self.max_concurrency, thread_name_prefix="runfox-worker")
                # The pool stays for the next batch (a new pool per batch cost a thread start per step);
                # its idle threads end when the worker is collected.
                self._pool.submit(self._lane)
                self._lanes += 1
            while not self._finished and not self._errors and (self._queue or self._running):
                self._changed.wait()
            self._finished = 0
            if self._errors:
                error, self._errors = self._errors[0], []
                raise error
        return len(jobs)

    @property
    def in_flight(self) -> int:
        """How many jobs are waiting for a lane or running now."""
        with self._changed:
            return len(self._queue) + self._running

    def _lane(self) -> None:
        """Run queued jobs one after another until the queue is empty."""
        while True:
            with self._changed:
                if not self._queue:
                    self._lanes -= 1
                    return
                job = self._queue.popleft()
                self._running += 1
            try:
                self._work(job)
            except BaseException as exc:  # noqa: BLE001 -- a Runner error: raised by run(), in the caller
                with self._changed:
                    self._errors.append(exc)
            finally:
                with self._changed:
                    self._running -= 1
                    self._finished += 1
                    self._changed.notify_all()

    def _work(self, job: DispatchJob) -> None:
        self._runner.submit_work_result(call_executor(self._executor, job, self._codec))
