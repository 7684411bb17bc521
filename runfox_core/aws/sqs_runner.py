"""sqs_runner.py -- SQSRunner: jobs go out on one SQS queue per op, results come back pushed.

Owns the short-term side of the AWS backend:

- ``dispatch`` validates every job first (unknown token -> ``DispatchError``,
  bad inputs -> ``PayloadError``; nothing written or sent), then sends one
  ``job`` message per job to its op's queue, and for each job with
  ``timeout_seconds`` a ``deadline`` message to the results queue, delayed
  up to 15 minutes (the result-router re-delays deadlines further out).
  Re-dispatching the same run resends its message: executors' results are
  fenced by run_id, so duplicates are harmless.
- Only when built with a ``tasks_table`` (yours: the deployment has none), it
  first writes an audit row per (execution, step, run_id) -- pk = execution
  key, sk = ``<step>#<run_id>``, with ``token``, ``inputs`` (JSON),
  ``status``, ``created_at`` and the TTL ``expires_at`` (``task_ttl_seconds``
  after dispatch, default a week). The table needs the workflows table's key
  schema (``tables.create_table(..., ttl=True)`` builds one) and the runner's
  role ``dynamodb:BatchWriteItem`` on it. The deployed engine passes none,
  and the stack creates no tasks table: nothing reads the row, and
  everything in it is derived from the step's record (``token`` from the
  spec; ``run_id``, ``inputs``, ``start_time`` stored at claim). Leaving it
  out saves a write unit and a DynamoDB round trip on every step's critical
  path; the claim committed before the send is still what prevents double
  dispatch, and the unsent entry still what re-emits a lost send.
- ``schedule_wake`` / ``submit_work_result`` send ``wake`` / ``result``
  messages to the results queue.

Known limits, by design: results are pushed to the result-router (an SQS
consumer), so ``gather`` raises instead of polling; SQS cannot be looked at
without taking messages, so ``list_pending_jobs`` raises. ``take_pending_jobs``
(for a worker outside Lambda) receives from every op queue and deletes what
it received at once: at-most-once, so a worker that dies holding jobs loses
them until their step deadline fires -- set ``timeout_seconds`` on such ops,
or use the Lambda executor (``executor.py``), which is at-least-once.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from .. import messages
from ..backend.runner import Runner
from ..errors import DispatchError, MessageError, RunfoxError
from ..payloads import check_payload, encode_json
from ..results import DispatchJob, StepResult
from . import _items as it
from . import _sqs
from ._clients import default_client
from ._keys import PK, SK, TTL_ATTRIBUTE, task_sk

log = logging.getLogger("runfox_core.aws")

QueueMap = Mapping[str, str] | Callable[[str], str | None]
TASK_DISPATCHED = "dispatched"  # ``status`` of a task row written by dispatch
DEFAULT_TASK_TTL_SECONDS = 7 * 24 * 3600  # seconds an audit row lives (one week)
_RETRIES = 8


class SQSRunner(Runner):
    """Dispatch through SQS; see the module docstring for what each method sends."""

    def __init__(
        self,
        queue_map: QueueMap,
        results_queue_url: str | None = None,
        *,
        tasks_table: str | None = None,
        sqs_client: Any = None,
        dynamodb_client: Any = None,
        task_ttl_seconds: int = DEFAULT_TASK_TTL_SECONDS,
        clock: Callable[[], float] = time.time,
    ):
        """Deadline timers go out only for jobs that carry ``timeout_seconds``: a deadline counts
        once the engine has recorded it in the header at claim time (op defaults are applied
        there, by ``Backend(op_defaults=...)``). ``tasks_table`` (optional) gets an audit row
        per dispatched job; the engine never reads it (see the module docstring)."""
        self.queue_map = queue_map
        self.tasks_table = tasks_table
        self.results_queue_url = results_queue_url
        self.task_ttl_seconds = task_ttl_seconds
        self.clock = clock
        self._sqs = sqs_client
        self._dynamodb = dynamodb_client
        self._lock = threading.Lock()

    @property
    def sqs(self) -> Any:
        with self._lock:
            if self._sqs is None:
                self._sqs = default_client("sqs")
            return self._sqs

    @property
    def dynamodb(self) -> Any:
        with self._lock:
            if self._dynamodb is None:
                self._dynamodb = default_client("dynamodb")
            return self._dynamodb

    def queue_url(self, token: str) -> str | None:
        """The queue of dispatch token ``token``, or None if no queue serves it."""
        if callable(self.queue_map):
            try:
                return self.queue_map(token)
            except KeyError:
                return None
        return self.queue_map.get(token)

    def _results_url(self, what: str) -> str:
        if not self.results_queue_url:
            raise RunfoxError(f"SQSRunner has no results_queue_url, so it cannot send {what}")
        return self.results_queue_url

    # ---------------------------------------------------------------- dispatch

    def dispatch(self, workflow_execution_id: str, jobs: list[DispatchJob]) -> list[StepResult]:
        """Send a job message per job (and write its audit row, with a ``tasks_table``); returns []
        (results arrive pushed)."""
        unique = list({(j.execution_key, j.step, j.run_id, j.item): j for j in jobs}.values())
        planned = [self._validate(job) for job in unique]  # everything checked before anything is written
        if not planned:
            return []
        now = self.clock()
        if self.tasks_table is not None:
            self._write_tasks(unique, now)
        by_queue: dict[str, list[tuple[str, float]]] = {}
        for _job, url, body in planned:
            by_queue.setdefault(url, []).append((body, 0))
        for url, entries in by_queue.items():
            _sqs.send(self.sqs, url, entries, "job messages")
        deadlines = [
            (messages.encode(messages.deadline_message(
                job.execution_key, job.step, job.run_id, now + float(job.timeout_seconds))),
             math.ceil(float(job.timeout_seconds)))
            for job in unique
            if job.timeout_seconds is not None
        ]
        if deadlines:
            _sqs.send(self.sqs, self._results_url("deadline messages"), deadlines, "deadline messages")
        return []

    def _validate(self, job: DispatchJob) -> tuple[DispatchJob, str, str]:
        where = f"execution {job.execution_key!r} step {job.step!r}"
        url = self.queue_url(job.token)
        if not url:
            raise DispatchError(f"{where}: no queue for dispatch token {job.token!r}")
        check_payload(job.inputs, f"{where} inputs")
        if job.timeout_seconds is not None and not self.results_queue_url:
            raise DispatchError(f"{where} has timeout_seconds but the SQSRunner has no results_queue_url")
        return job, url, messages.encode(messages.job_message(job))

    def _write_tasks(self, jobs: list[DispatchJob], now: float) -> None:
        table = self.tasks_table
        assert table is not None  # dispatch writes audit rows only with a tasks_table
        created_at = datetime.fromtimestamp(now, UTC).isoformat()
        expires_at = int(now) + int(self.task_ttl_seconds)
        requests = [
            {"PutRequest": {"Item": {
                PK: it.s(job.execution_key),
                SK: it.s(task_sk(job.step, job.run_id)),
                "step": it.s(job.step),
                "run_id": it.n(job.run_id),
                "token": it.s(job.token),
                "inputs": it.s(encode_json(job.inputs)),
                "status": it.s(TASK_DISPATCHED),
                "created_at": it.s(created_at),
                TTL_ATTRIBUTE: it.n(expires_at),
            }}}
            for job in jobs
        ]
        for start in range(0, len(requests), it.MAX_BATCH_WRITE_ITEMS):
            pending: dict[str, Any] = {table: requests[start : start + it.MAX_BATCH_WRITE_ITEMS]}
            for attempt in range(_RETRIES + 1):
                pending = self.dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
                if not pending:
                    break
                if attempt == _RETRIES:
                    raise RunfoxError(f"table {table!r}: BatchWriteItem left items unprocessed")
                time.sleep(min(1.0, 0.02 * 2**attempt))

    # ------------------------------------------------------------------ timers

    def schedule_wake(self, workflow_execution_id: str, at_epoch_seconds: float) -> None:
        """Have the result-router call ``advance()`` on this execution at (or after) ``at_epoch_seconds``.

        SQS delays at most 15 minutes; a wake that arrives early is re-armed by
        the router for the rest (one header read, one send: ``driver.rearm_wake``).
        """
        body = messages.encode(messages.wake_message(workflow_execution_id, at_epoch_seconds))
        _sqs.send_one(self.sqs, self._results_url("wake messages"), body, at_epoch_seconds - self.clock())

    def schedule_deadline(self, workflow_execution_id: str, step: str, run_id: int, at_epoch_seconds: float) -> None:
        """Re-arm the deadline timer of (step, run_id) (the router calls this while it is not yet due)."""
        body = messages.encode(messages.deadline_message(workflow_execution_id, step, run_id, at_epoch_seconds))
        _sqs.send_one(self.sqs, self._results_url("deadline messages"), body, at_epoch_seconds - self.clock())

    def file_result(self, result: StepResult) -> None:
        """Send a worker's result to the result-router (an unsendable output becomes a PayloadError result).
        Raises MessageError for a result without the job's run_id: the router could not fence it."""
        if result.run_id is None:
            raise MessageError(f"result for step {result.step!r} of {result.execution_key} has no run_id: "
                               "on SQS pass the job's run_id (submit_work_result(StepResult(...)))")
        _sqs.send_one(self.sqs, self._results_url("results"), _sqs.result_body(result))

    # ---------------------------------------------------- polling (not in Lambda)

    def gather(self, workflow_execution_id: str) -> list[StepResult]:
        raise RunfoxError(
            "SQSRunner does not gather: results are pushed to the result-router through the results queue, "
            "which applies them with Workflow.resume(key, backend).on_step_result(...). Workflow.run() "
            "needs a polled runner (InProcessRunner)."
        )

    def list_pending_jobs(self) -> list[DispatchJob]:
        raise RunfoxError(
            "SQSRunner cannot list pending jobs: SQS has no way to look at messages without taking them. "
            "Use take_pending_jobs() to claim jobs, or the queue's ApproximateNumberOfMessages metric."
        )

    def take_pending_jobs(self) -> list[DispatchJob]:
        """Receive up to 10 jobs from each op queue and delete them (at-most-once; see module docstring).

        Malformed messages are logged and deleted: they can never succeed.
        Needs a dict ``queue_map`` (a callable cannot list its queues).
        """
        if callable(self.queue_map):
            raise RunfoxError("take_pending_jobs needs queue_map as a dict: a callable cannot list its queues")
        jobs: list[DispatchJob] = []
        for url in dict.fromkeys(self.queue_map.values()):
            received = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            handles = []
            for msg in received.get("Messages", []):
                handles.append(msg["ReceiptHandle"])
                try:
                    job = messages.decode(msg["Body"])
                    if not isinstance(job, DispatchJob):
                        raise MessageError(f"expected a job message, got {type(job).__name__}")
                except MessageError as exc:
                    log.error("dropping malformed job message from %s: %s", url, exc)
                    continue
                jobs.append(job)
            if handles:
                resp = self.sqs.delete_message_batch(
                    QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(handles)]
                )
                for failed in resp.get("Failed") or []:  # redelivered later: a duplicate, fenced by run_id
                    log.warning("could not delete a taken job from %s: %s", url, failed.get("Code"))
        return jobs
