"""messages.py -- the message contract between the engine and executors.

Every message is one JSON object with a ``kind``. Workers read ``job``
messages from the queue of the job's dispatch token and send ``result``
messages back; the result-router also accepts ``deadline`` and ``wake``
messages (timers it sends itself with a delivery delay) and ``job`` messages
arriving from an op's dead-letter queue (the job was never answered).

job     {"kind": "job", "execution": str, "step": str, "token": str,
         "run_id": int, "inputs": {...}, "timeout_seconds": float|null}
result  {"kind": "result", "execution": str, "step": str, "run_id": int,
         "output": {...}}                          -- a successful attempt
        {"kind": "result", "execution": str, "step": str, "run_id": int,
         "error": {"type": str, "message": str}}   -- a failed attempt
deadline {"kind": "deadline", "execution": str, "step": str, "run_id": int,
          "deadline": float}                       -- epoch seconds
wake    {"kind": "wake", "execution": str, "at": float}  -- re-drive advance() at "at"
                                                   (epoch s; optional: now)

Jobs and results of a ``map`` step carry one more field, ``"item": {"index":
int, "run_id": int, "batch": bool}`` (the result echoes the job's): which job
of the map (an item, or a batch) and its own run, the fence of that job. It is
absent from every other message, so messages without it mean what they
always did. With ``"batch": true`` the job's ``inputs`` is ``{"batch": [...]}``
and a successful result's ``output`` is ``{"batch": [...]}``, one entry per item.

``execution`` is the workflow execution id (``{workflow_id}#{execution_id}``),
at most ``MAX_EXECUTION_KEY_CHARS`` characters; ``step`` the step id (1-64
letters, digits, ``_`` or ``-``, as in a spec); ``token`` what the executor
switches on; ``run_id`` the fence, an integer from 0 to ``MAX_RUN_ID``: a
result is applied only while its step is in progress at that run.
Parsing never trusts a field: a bad message raises ``MessageError`` naming it,
so a message that could never address a stored record (an over-long key, a
step id no spec allows, a run id no store holds) is dropped, not retried.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .errors import MessageError
from .expressions import is_identifier
from .payloads import encode_json
from .results import DispatchJob, ItemRef, StepResult

JOB = "job"
RESULT = "result"
DEADLINE = "deadline"
WAKE = "wake"
KINDS = (JOB, RESULT, DEADLINE, WAKE)

MAX_EXECUTION_KEY_CHARS = 256  # ours are 68 (32 hex + '#' + 35); DynamoDB's partition key holds 2,048 bytes
MAX_RUN_ID = 2**53 - 1  # the largest integer every JSON reader keeps exactly


@dataclass(frozen=True)
class DeadlineMessage:
    execution: str
    step: str
    run_id: int
    deadline: float


@dataclass(frozen=True)
class WakeMessage:
    execution: str
    at: float | None = None  # the time it was armed for (epoch s): arriving earlier, it is re-armed


Message = DispatchJob | StepResult | DeadlineMessage | WakeMessage


def _item(item: ItemRef | None, body: dict[str, Any]) -> dict[str, Any]:
    if item is not None:
        body["item"] = {"index": item.index, "run_id": item.run_id, "batch": item.batch}
    return body


def job_message(job: DispatchJob) -> dict[str, Any]:
    return _item(job.item, {
        "kind": JOB,
        "execution": job.execution_key,
        "step": job.step,
        "token": job.token,
        "run_id": job.run_id,
        "inputs": job.inputs,
        "timeout_seconds": job.timeout_seconds,
    })


def result_message(result: StepResult) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": RESULT,
        "execution": result.execution_key,
        "step": result.step,
        "run_id": result.run_id,
    }
    if result.error is not None:
        body["error"] = {"type": str(result.error.get("type")), "message": str(result.error.get("message"))}
    else:
        body["output"] = result.output
    return _item(result.item, body)


def deadline_message(execution: str, step: str, run_id: int, deadline: float) -> dict[str, Any]:
    return {"kind": DEADLINE, "execution": execution, "step": step, "run_id": run_id, "deadline": deadline}


def wake_message(execution: str, at: float | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": WAKE, "execution": execution}
    if at is not None:
        body["at"] = at
    return body


def encode(body: dict[str, Any]) -> str:
    return encode_json(body)


def _field(body: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    if name not in body:
        raise MessageError(f"{body.get('kind', 'message')} message is missing field {name!r}")
    value = body[name]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        expected = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise MessageError(
            f"{body.get('kind', 'message')} message field {name!r} must be {expected}, got {type(value).__name__}"
        )
    if isinstance(value, str) and not value:
        raise MessageError(f"{body.get('kind', 'message')} message field {name!r} is empty")
    return value


def decode(raw: str | bytes | dict[str, Any]) -> Message:
    """Parse one message (JSON text or an already-parsed dict) into its typed form."""
    if isinstance(raw, dict):
        body = raw
    else:
        try:
            body = json.loads(raw)
        except (TypeError, ValueError) as exc:
            raise MessageError(f"message is not JSON: {exc}") from None
        except RecursionError:
            raise MessageError("message JSON is nested too deeply") from None
    if not isinstance(body, dict):
        raise MessageError(f"message must be a JSON object, got {type(body).__name__}")
    kind = body.get("kind")
    if kind not in KINDS:
        raise MessageError(f"message field 'kind' must be one of {', '.join(KINDS)}, got {kind!r}")
    execution = _field(body, "execution", str)
    if len(execution) > MAX_EXECUTION_KEY_CHARS:
        raise MessageError(f"{kind} message field 'execution' is {len(execution):,} characters; "
                           f"an execution key has at most {MAX_EXECUTION_KEY_CHARS}")
    if kind == WAKE:
        return WakeMessage(execution, float(_field(body, "at", (int, float))) if "at" in body else None)
    step = _field(body, "step", str)
    if not is_identifier(step):
        shown = step if len(step) <= 80 else f"{step[:80]}... ({len(step):,} characters)"
        raise MessageError(f"{kind} message field 'step' {shown!r} is not a step id "
                           "(1-64 letters, digits, '_' or '-')")
    run_id = _field(body, "run_id", int)
    if not 0 <= run_id <= MAX_RUN_ID:
        raise MessageError(f"{kind} message field 'run_id' must be from 0 to {MAX_RUN_ID}, got {run_id}")
    if kind == DEADLINE:
        return DeadlineMessage(execution, step, run_id, float(_field(body, "deadline", (int, float))))
    item = _decode_item(kind, body)
    if kind == JOB:
        timeout = body.get("timeout_seconds")
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))):
            raise MessageError("job message field 'timeout_seconds' must be a number or null")
        return DispatchJob(
            execution_key=execution,
            step=step,
            inputs=_field(body, "inputs", dict),
            run_id=run_id,
            token=_field(body, "token", str),
            timeout_seconds=timeout,
            item=item,
        )
    has_output, has_error = "output" in body, "error" in body
    if has_output == has_error:
        raise MessageError("result message must carry exactly one of 'output' or 'error'")
    if has_error:
        error = _field(body, "error", dict)
        for name in ("type", "message"):
            if not isinstance(error.get(name), str):
                raise MessageError(f"result message field 'error.{name}' must be a string")
        return StepResult(execution, step, run_id, error={"type": error["type"], "message": error["message"]},
                          item=item)
    # The output is passed through as sent: the engine judges it (not a dict,
    # too large) and records a failed attempt rather than dropping the message.
    return StepResult(execution, step, run_id, output=body["output"], item=item)


def _decode_item(kind: str, body: dict[str, Any]) -> ItemRef | None:
    """The optional ``item`` of a job or result (a map step's job); MessageError names what is wrong."""
    if "item" not in body or body["item"] is None:
        return None
    raw = _field(body, "item", dict)
    values = []
    for name in ("index", "run_id"):
        value = raw.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_RUN_ID:
            raise MessageError(f"{kind} message field 'item.{name}' must be an integer from 0 to {MAX_RUN_ID}, "
                               f"got {value!r}")
        values.append(value)
    batch = raw.get("batch", False)
    if not isinstance(batch, bool):
        raise MessageError(f"{kind} message field 'item.batch' must be true or false, got {batch!r}")
    return ItemRef(values[0], values[1], batch)
