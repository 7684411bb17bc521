"""executor.py -- sqs_executor: turn a plain ``execute(token, inputs)`` into an SQS Lambda handler.

``handler = sqs_executor(execute)`` is a whole executor Lambda. For each job
record of the SQS batch it runs ``execute`` through ``call_executor`` (an
exception or an output that is not a JSON object within the payload limit
becomes an error result); once every job has run, it sends their result
messages to the results queue together: SendMessageBatch, up to 10 messages
(and 256 KiB) per call, so a batch of 10 jobs costs one send instead of ten.
With the router named (the ``router_function`` argument, else
``RUNFOX_ROUTER_FUNCTION``, which the kit sets on the executors it builds),
the results are handed to the result-router Lambda instead, by one
asynchronous Invoke per batch (``answers.py``: one queue hop fewer, three SQS
requests less per step); what Invoke refuses goes to the results queue.

Payloads of any size: references in a job's inputs are read before
``execute`` runs, and a large return is written to the kit's bucket and sent
as a reference (``call_executor`` with an S3 codec; bucket from
``RUNFOX_BLOB_BUCKET``, read once, or the ``blobs`` argument). Without a
bucket, values stay inline within ``payloads.MAX_PAYLOAD_BYTES``.

The clock: before each job the harness compares the time the invocation has
left (``context.get_remaining_time_in_millis()``) with what the job may need:
its step timeout (the job's ``timeout_seconds``; without one, the longest job
this container has run) plus a margin for sending the result
(``RUNFOX_JOB_MARGIN_SECONDS``, default 2). The first job of an invocation
always runs (a new invocation would have no more time); a later job that no
longer fits is not started: it is reported as a batch item failure, so SQS redelivers it after
the queue's visibility timeout and no attempt is counted (metric
``JobDeferred``). Size batches so this is rare: ``batch_size x (step timeout
+ margin) <= the function's timeout_seconds`` (see the README); each deferral
still counts one receive towards the queue's ``max_receive_count``.

Failure rules (Powertools ``BatchProcessor`` partial batch responses):

- a record that is not a job message is logged and dropped (it can never
  succeed), never reported failed;
- a failing ``execute`` is a result (a failed attempt), not a record failure;
- only infrastructure errors fail the record, so SQS redelivers it: a
  result SQS refuses (SendMessageBatch reports each entry; a call that
  raises refuses all of its entries) is sent once more, and if refused
  again its job's record fails (metric ``ResultSendFailed``), while the
  results SQS accepted stand; a job that keeps failing reaches the op's
  dead-letter queue, where the result-router turns it into a failed attempt.
  Sending at the end changes no guarantee: a record is reported done only
  once its result is accepted, and an invocation that dies before the
  send (a crash, its timeout) has every job redelivered and run again,
  whose results the router fences by run_id, as for any redelivery.

Concurrent invocations: Lambda gives a container one invocation at a time,
but the local emulator's pollers (the load test's four "instances") call one
handler from several threads at once. Each invocation therefore keeps its
jobs, its results not yet sent and its batch processor to itself
(``_Invocation``): when they lived on the handler, a second invocation
starting emptied the first one's outbox, whose records were then reported
done with their results never sent, and their steps stayed in progress for
ever. Only the container's settings, clients and longest job time are
shared.

The results queue URL is the ``results_queue_url`` argument, else
``RUNFOX_RESULTS_QUEUE_URL``, read once on the first invocation (not at
import); if neither is set, every invocation fails naming the variable. Logs
carry the execution as correlation id; metrics ``StepSucceeded``,
``StepErrored``, ``MalformedJob`` and ``ResultSendFailed`` (Count) go to the namespace of
``POWERTOOLS_METRICS_NAMESPACE``, default ``Runfox``
(``POWERTOOLS_METRICS_DISABLED=true`` turns them off, e.g. in tests).
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from .. import messages
from ..blobs import BlobStore
from ..errors import MessageError, RunfoxError
from ..executor import Executor, call_executor
from ..payloads import Codec
from ..results import DispatchJob
from . import _sqs, answers
from ._clients import default_client
from .config import (
    DEFAULT_JOB_MARGIN_SECONDS,
    ENV_JOB_MARGIN_SECONDS,
    ENV_POWERTOOLS_METRICS_NAMESPACE,
    ENV_POWERTOOLS_SERVICE_NAME,
    ENV_RESULTS_QUEUE_URL,
    ENV_ROUTER_FUNCTION,
    METRICS_NAMESPACE,
    SERVICE_NAME,
    payload_settings,
)
from .s3_blobs import S3BlobStore


def sqs_executor(
    execute: Executor,
    *,
    results_queue_url: str | None = None,
    sqs_client: Any = None,
    logger: Logger | None = None,
    metrics: Metrics | None = None,
    blobs: BlobStore | None = None,
    router_function: str | None = None,
    lambda_client: Any = None,
) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """Return the Lambda handler ``(event, context) -> {"batchItemFailures": [...]}`` for ``execute``.
    ``blobs``: where large values go (default: ``RUNFOX_BLOB_BUCKET``'s bucket, if set).
    ``router_function``: the result-router function to hand results to (default:
    ``RUNFOX_ROUTER_FUNCTION``, if set; else results go to the results queue)."""
    return _SQSExecutor(execute, results_queue_url, sqs_client, logger, metrics, blobs, router_function,
                        lambda_client).handle


class NoTimeLeftError(RunfoxError):
    """Raised when an invocation has no time left for a job: the job goes back to its queue unstarted."""


def _unless_env(name: str, default: str) -> str | None:
    # Powertools prefers an explicit argument over its environment variable,
    # so pass our default only when the variable is not set.
    return None if os.environ.get(name) else default


class _Invocation:
    """What one invocation keeps to itself: its context, its jobs started, its results not yet sent, and
    its batch processor (which holds the batch's records and failures)."""

    def __init__(self, context: Any):
        self.context = context
        self.started = 0
        self.outbox: list[tuple[str, str]] = []  # (record's message id, result body), sent at the end
        self.processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


class _SQSExecutor:
    def __init__(self, execute: Executor, results_queue_url: str | None, sqs_client: Any,
                 logger: Logger | None, metrics: Metrics | None, blobs: BlobStore | None = None,
                 router_function: str | None = None, lambda_client: Any = None):
        self.execute = execute
        self._router = router_function
        self._router_read = router_function is not None
        self._lambda = lambda_client
        self._blobs = blobs
        self._codec: Codec | None = None
        self._results_url = results_queue_url
        self._sqs = sqs_client
        self._lock = threading.Lock()
        # Powertools keeps one metric set per process: two invocations at once (the local emulator's
        # pollers, a test; never Lambda) must not add to it while the other flushes it
        self._metrics_lock = threading.Lock()
        self.logger = logger or Logger(service=_unless_env(ENV_POWERTOOLS_SERVICE_NAME, SERVICE_NAME))
        self.metrics = metrics or Metrics(namespace=_unless_env(ENV_POWERTOOLS_METRICS_NAMESPACE, METRICS_NAMESPACE))
        self._margin: float | None = None
        self._longest = 0.0  # seconds, the longest job this container has run

    def _margin_seconds(self) -> float:
        if self._margin is None:
            raw = os.environ.get(ENV_JOB_MARGIN_SECONDS, "").strip()
            try:
                self._margin = float(raw) if raw else DEFAULT_JOB_MARGIN_SECONDS
            except ValueError:
                raise RunfoxError(f"{ENV_JOB_MARGIN_SECONDS} must be a number of seconds, got {raw!r}") from None
        return self._margin

    def _check_time_left(self, job: DispatchJob, invocation: _Invocation) -> None:
        """Raise ``NoTimeLeftError`` when the invocation cannot fit ``job`` plus the margin."""
        remaining = getattr(invocation.context, "get_remaining_time_in_millis", None)
        if remaining is None or not invocation.started:
            return
        needed = (job.timeout_seconds if job.timeout_seconds is not None else self._longest) + self._margin_seconds()
        left = remaining() / 1000
        if left < needed:
            self._count("JobDeferred", 1)
            raise NoTimeLeftError(f"job {job.step!r} of {job.execution_key} may need {needed:.1f} s, "
                                  f"{left:.1f} s left: deferred to the next delivery")

    def _count(self, name: str, value: int) -> None:
        with self._metrics_lock:
            self.metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)

    def _setup(self) -> tuple[str, Any]:
        with self._lock:
            if not self._results_url:
                self._results_url = os.environ.get(ENV_RESULTS_QUEUE_URL, "").strip()
                if not self._results_url:
                    raise RunfoxError(f"{ENV_RESULTS_QUEUE_URL} is not set: the executor cannot send results")
            if self._sqs is None:
                self._sqs = default_client("sqs")
            if not self._router_read:
                self._router = os.environ.get(ENV_ROUTER_FUNCTION, "").strip() or None
                self._router_read = True
            if self._router is not None and self._lambda is None:
                self._lambda = default_client("lambda")
            if self._codec is None:
                settings = payload_settings()
                blobs = self._blobs
                if blobs is None and settings["blob_bucket"]:
                    blobs = S3BlobStore(settings["blob_bucket"])
                self._codec = Codec(blobs, settings["inline_bytes"])
            return self._results_url, self._sqs

    def handle(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self._setup()
        self._margin_seconds()
        invocation = _Invocation(context)
        try:
            response: dict[str, Any] = dict(process_partial_response(
                event=event, record_handler=functools.partial(self.record, invocation=invocation),
                processor=invocation.processor, context=context))
            unsent = self._send_results(invocation)
            if unsent:
                failures: list[dict[str, str]] = list(response.get("batchItemFailures") or [])
                response["batchItemFailures"] = failures + [{"itemIdentifier": mid} for mid in unsent]
            return response
        finally:
            self.logger.set_correlation_id(None)
            with self._metrics_lock:
                self.metrics.flush_metrics()
                # With POWERTOOLS_METRICS_DISABLED, flush keeps the metrics, which then pile
                # up across invocations and print themselves at 100 values; drop them.
                self.metrics.clear_metrics()

    def _send_results(self, invocation: _Invocation) -> list[str]:
        """Hand the invocation's results to the router (one Invoke per answers event), if it is named;
        send what that refuses, or all of them without it, to the results queue (SendMessageBatch: up to
        10 a call), a refused one once more; return the records of those still refused, to fail."""
        url, sqs = self._setup()
        outbox, invocation.outbox = invocation.outbox, []
        if self._router is not None and outbox:
            refused = answers.hand_over(self._lambda, self._router, [body for _, body in outbox])
            if refused:
                self._count("AnswersRefused", len(refused))
                self.logger.warning("results not handed to the router: sent to the results queue",
                                    extra={"reasons": sorted(set(refused.values()))})
            outbox = [entry for i, entry in enumerate(outbox) if i in refused]
        refused = _sqs.send_twice(sqs, url, [body for _, body in outbox])
        outbox = [entry for i, entry in enumerate(outbox) if i in refused]
        reasons = sorted(set(refused.values()))
        if outbox:
            self._count("ResultSendFailed", len(outbox))
            self.logger.error("results not sent: their jobs go back to the queue",
                              extra={"message_ids": [mid for mid, _ in outbox], "reasons": reasons})
        return [mid for mid, _ in outbox]

    def record(self, record: SQSRecord, invocation: _Invocation) -> None:
        self._setup()
        self.logger.set_correlation_id(None)
        try:
            job = messages.decode(record.body)
            if not isinstance(job, DispatchJob):
                raise MessageError(f"expected a job message, got {type(job).__name__}")
        except MessageError as exc:
            self.logger.error("dropping malformed job message", extra={"message_id": record.message_id,
                                                                       "reason": str(exc)})
            self._count("MalformedJob", 1)
            return
        self.logger.set_correlation_id(job.execution_key)
        with self.logger.append_context_keys(step=job.step, run_id=job.run_id, token=job.token):
            self._check_time_left(job, invocation)
            invocation.started += 1
            started = time.monotonic()
            assert self._codec is not None  # set by _setup
            result = _sqs.checked(call_executor(self.execute, job, self._codec))
            self._longest = max(self._longest, time.monotonic() - started)  # (a race may keep the lesser: harmless)
            invocation.outbox.append((record.message_id, messages.encode(messages.result_message(result))))
            if result.error is None:
                self.logger.info("step succeeded")
                self._count("StepSucceeded", 1)
            else:
                self.logger.warning("step errored", extra={"error": result.error})
                self._count("StepErrored", 1)
