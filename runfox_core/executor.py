"""executor.py -- calling a user's ``execute(op, inputs) -> dict`` safely.

Every worker harness (in-process, SQLite, the SQS Lambda harness) runs jobs
through ``call_executor``, so they agree on one rule: an exception, or a
return value that is not a JSON object within the payload limit, is a
failed attempt carrying the error type and message, never an output.

Executors never see a reference: ``call_executor`` reads every reference in
the job's inputs before calling ``execute`` (a reference that cannot be read
is a failed attempt, ``BadReferenceError``, and ``execute`` is not called),
and packs the return with the worker's codec, so a large output leaves by
reference (``payloads.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from .errors import PayloadError
from .payloads import NO_BLOBS, Codec
from .results import DispatchJob, StepResult

log = logging.getLogger("runfox_core")

Executor = Callable[[str, dict[str, Any]], Any]


def call_executor(execute: Executor, job: DispatchJob, codec: Codec = NO_BLOBS) -> StepResult:
    """Run ``job`` through ``execute`` and return its result (never raises for executor faults):
    references in the inputs read first, the output packed with ``codec`` after."""
    try:
        inputs = codec.unpack(job.inputs)
    except PayloadError as exc:
        log.warning("step %r run %d of %s: %s", job.op, job.run_id, job.workflow_execution_id, exc,
                    extra={"execution": job.workflow_execution_id, "step": job.op, "run_id": job.run_id})
        return StepResult(job.workflow_execution_id, job.op, job.run_id,
                          error={"type": type(exc).__name__, "message": f"step {job.op!r} inputs: {exc}"})
    try:
        output = execute(job.token, inputs)
    except Exception as exc:  # the executor's own failure is a failed attempt
        # one line naming the step, run, execution and error (the fields ride in ``extra`` too, for JSON logs)
        log.warning("step %r run %d of %s: executor raised %s: %s", job.op, job.run_id, job.workflow_execution_id,
                    type(exc).__name__, exc, extra={"execution": job.workflow_execution_id, "step": job.op,
                                                    "run_id": job.run_id, "error": repr(exc)})
        return StepResult(job.workflow_execution_id, job.op, job.run_id,
                          error={"type": type(exc).__name__, "message": str(exc)})
    try:
        output, _ = codec.pack(output, f"step {job.op!r} output")
    except PayloadError as exc:
        return StepResult(job.workflow_execution_id, job.op, job.run_id,
                          error={"type": type(exc).__name__, "message": str(exc)})
    return StepResult(job.workflow_execution_id, job.op, job.run_id, output=output)
