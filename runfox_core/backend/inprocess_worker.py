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
own (a map sends thousands of short jobs). A lane takes no lock per job:
it pops the queue and notes the job's end in a deque (both atomic), and
takes the worker's lock only to leave or to wake a caller blocked in
``run()``. Why: a lane that held the lock when the interpreter switched
threads made the caller, blocked on it, wait for the GIL once the lock was
free, and lanes blocking on the lock while the caller committed handed the
GIL back to it early; a map then settled, at random and for the whole run,
into commits of a few results each instead of a window's worth (about 3x
the time per item, at 1,000 and 10,000 items as often as at 100,000).

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
        self._pool: ThreadPoolExecutor | None = None
        # Lanes take jobs from ``_queue`` and put one entry per ended job in ``_ended`` (None, or the Runner
        # error it met) without taking a lock: deque appends and pops are atomic. Everything else is the
        # callers' bookkeeping, under ``_changed``, which a lane takes only to leave or to wake a waiter.
        self._queue: deque[DispatchJob] = deque()  # taken from the runner, not started yet
        self._ended: deque[BaseException | None] = deque()  # jobs ended, not yet counted by a caller
        self._changed = threading.Condition(threading.Lock())
        self._waiting = 0  # callers blocked in run() until a job ends (lanes wake them only then)
        self._lanes = 0  # pool threads draining the queue
        self._handed = 0  # jobs given to lanes whose end no caller has counted yet
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
            self._handed += len(jobs)
            self._count_ended()  # so that _handed is what waits or runs now
            while self._lanes < min(self.max_concurrency, self._handed):
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(self.max_concurrency, thread_name_prefix="runfox-worker")
                # The pool stays for the next batch (a new pool per batch cost a thread start per step);
                # its idle threads end when the worker is collected.
                self._pool.submit(self._lane)
                self._lanes += 1
            while not self._finished and not self._errors and self._handed:
                self._waiting += 1  # before looking again: a lane that ends a job after this wakes us
                try:
                    if not self._count_ended():
                        self._changed.wait()
                        self._count_ended()
                finally:
                    self._waiting -= 1
            self._finished = 0
            if self._errors:
                error, self._errors = self._errors[0], []
                raise error
        return len(jobs)

    @property
    def in_flight(self) -> int:
        """How many jobs are waiting for a lane or running now."""
        with self._changed:
            self._count_ended()
            return self._handed

    def _count_ended(self) -> int:
        """Count the jobs lanes ended since last asked (the caller holds ``_changed``); how many."""
        ended = 0
        while True:
            try:
                error = self._ended.popleft()
            except IndexError:
                break
            ended += 1
            if error is not None:
                self._errors.append(error)
        self._handed -= ended
        self._finished += ended
        return ended

    def _lane(self) -> None:
        """Run queued jobs one after another until the queue is empty.

        A job costs no lock here (see ``__init__``): a lane that held one while the interpreter
        switched threads would make a caller blocked on it wait a whole switch interval for the
        GIL once it is free, per commit of the caller (the commits of a map's thousands of short
        jobs then went several times slower, at random)."""
        while True:
            try:
                job = self._queue.popleft()
            except IndexError:
                with self._changed:  # run() fills the queue under this lock: look again before leaving
                    if not self._queue:
                        self._lanes -= 1
                        return
                continue
            error: BaseException | None = None
            try:
                self._work(job)
            except BaseException as exc:  # noqa: BLE001 -- a Runner error: raised by run(), in the caller
                error = exc
            self._ended.append(error)  # before looking for a waiter: run() looks at _ended after waiting += 1
            if self._waiting:
                with self._changed:
                    self._changed.notify_all()

    def _work(self, job: DispatchJob) -> None:
        self._runner.submit_work_result(call_executor(self._executor, job, self._codec))
