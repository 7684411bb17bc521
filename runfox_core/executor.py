"""executor.py -- calling a user's ``execute(op, inputs) -> dict`` safely.

Every worker harness (in-process, SQLite, the SQS Lambda harness) runs jobs
through ``call_executor``, so they agree on one rule: an exception, or a
return value that is not a JSON object within the payload limit, is a
failed attempt carrying the error type and message, never an output.

A job of a ``map`` step that sends batches (``job.item.batch``) carries
``{"batch": [inputs, ...]}``: the executor is called with that list and must
return a list of as many outputs, in order (each any JSON value); the result
is ``{"batch": [...]}``. Anything else is a failed attempt of the whole batch.

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
    batch = job.item is not None and job.item.batch
    try:
        inputs = codec.unpack(job.inputs)
    except PayloadError as exc:
        log.warning("step %r run %d of %s: %s", job.step, job.run_id, job.execution_key, exc,
                    extra={"execution": job.execution_key, "step": job.step, "run_id": job.run_id})
        return StepResult(job.execution_key, job.step, job.run_id, item=job.item,
                          error={"type": type(exc).__name__, "message": f"step {job.step!r} inputs: {exc}"})
    try:
        output = execute(job.token, inputs["batch"] if batch else inputs)
        if batch:
            output = _batch_output(output, len(inputs["batch"]))
    except Exception as exc:  # the executor's own failure is a failed attempt
        # one line naming the step, run, execution and error (the fields ride in ``extra`` too, for JSON logs)
        log.warning("step %r run %d of %s: executor raised %s: %s", job.step, job.run_id, job.execution_key,
                    type(exc).__name__, exc, extra={"execution": job.execution_key, "step": job.step,
                                                    "run_id": job.run_id, "error": repr(exc)})
        return StepResult(job.execution_key, job.step, job.run_id,
                          error={"type": type(exc).__name__, "message": str(exc)}, item=job.item)
    try:
        output, _ = codec.pack(output, f"step {job.step!r} output")
    except PayloadError as exc:
        return StepResult(job.execution_key, job.step, job.run_id,
                          error={"type": type(exc).__name__, "message": str(exc)}, item=job.item)
    return StepResult(job.execution_key, job.step, job.run_id, output=output, item=job.item)


class BatchOutputError(TypeError):
    """Raised (and reported as a failed attempt) when an executor answers a batch with anything but a
    list of one output per input."""


def _batch_output(output: Any, size: int) -> dict[str, Any]:
    if not isinstance(output, list) or len(output) != size:
        got = f"a list of {len(output)}" if isinstance(output, list) else type(output).__name__
        raise BatchOutputError(f"a batch of {size} inputs needs a list of {size} outputs, in order; got {got}")
    return {"batch": output}
