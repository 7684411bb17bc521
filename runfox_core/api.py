"""api.py -- the JSON entry points: check a start or advance payload, report problems as data.

Owns the contract of the start payload ``{"spec": <YAML text or object>,
"inputs": {...}, "name": <optional string>}`` and of the advance payload
``{"execution": <key>, "action": "advance" | "cancel", "reason": <optional>}``, for the start and advance Lambdas and anything else
that takes them as JSON:

- ``parse_start(payload, tokens)`` -> ``StartRequest(spec, inputs, name)``,
  after every check, including that each dispatch token of the spec is
  deployed (``tokens``: the queue map's keys). ``inputs`` are the ones the
  execution will store (the spec's declared defaults applied). Any payload
  gets a value or one of ``REJECTED``, never another exception. Nothing is
  written.
- ``start(backend, request)``: ``operations.start`` for a parsed request
  (a name already used for a different spec or inputs is refused; the same
  name and request find the same execution, so a retried start is harmless).
- ``parse_advance(payload)`` -> ``AdvanceRequest(execution, action, reason)``:
  ``action`` is ``advance`` (the default) or ``cancel``.
- ``error_body(exc)``: ``{"error": {"type", "message", "step", "field"}}``
  for any error in ``REJECTED``; callers answer with it instead of raising.

Inputs larger than the invoke payload allows are given by reference:
``"inputs": {"$ref": "s3://<the kit's bucket>/<key>"}`` (``sha256`` and
``bytes`` optional, checked when given) is read from the kit's blob store
(``payloads.load_start_inputs``; the caller's Backend must be built, which
registers the store); a reference elsewhere, or to nothing, is a
``BadReferenceError`` on field ``inputs``.

Pure: no boto3, no environment. Known limits: the payload is capped at
``MAX_START_PAYLOAD_BYTES`` of JSON (a spec that large is a mistake, and the
cap bounds parse time); names are short and plain because they become a
DynamoDB key and appear in logs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from typing import Any, NamedTuple

from . import operations, payloads
from .errors import (
    ExecutionEndedError,
    ExecutionExistsError,
    ExecutionNotFoundError,
    PayloadError,
    Problem,
    RunfoxError,
    SpecError,
)
from .spec import compile_spec, load_yaml

MAX_START_PAYLOAD_BYTES = 1024 * 1024  # bytes of JSON: 1 MiB, well under Lambda's 6 MB invoke limit
MAX_NAME_LENGTH = 128  # characters
NAME_PATTERN = re.compile(rf"[A-Za-z0-9][A-Za-z0-9_.:-]{{0,{MAX_NAME_LENGTH - 1}}}")
START_KEYS = ("spec", "inputs", "name")
ADVANCE_KEYS = ("execution", "action", "reason")
ADVANCE_ACTIONS = ("advance", "cancel")
MAX_REASON_LENGTH = 1024  # characters: a note for operators, kept in the header
MAX_EXECUTION_KEY_LENGTH = 512  # characters: real keys are {md5}#{timestamp id}, about 70


class RequestError(RunfoxError, ValueError):
    """Raised when a payload is not usable as a request (shape, keys, name, size); nothing was written."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class UnknownOpError(SpecError):
    """Raised when a step's dispatch token has no deployed queue; ``problems`` names each step."""


class StartRequest(NamedTuple):
    spec: dict[str, Any]
    inputs: dict[str, Any]
    name: str | None


class AdvanceRequest(NamedTuple):
    execution: str
    action: str  # one of ADVANCE_ACTIONS
    reason: str | None


#: Errors that mean "bad request": answer with ``error_body``; anything else is an infrastructure fault.
REJECTED: tuple[type[Exception], ...] = (RequestError, SpecError, PayloadError, ExecutionExistsError,
                                         ExecutionNotFoundError, ExecutionEndedError)


def parse_start(payload: Any, tokens: Collection[str] | None = None) -> StartRequest:
    """Check a start payload (a dict, or its JSON text); raise one of ``REJECTED`` on any problem.

    ``tokens``: the deployed dispatch tokens; None skips that check.
    """
    body = _object(payload, START_KEYS)
    if "spec" not in body:
        raise RequestError("payload has no 'spec' (YAML text or a mapping)", field="spec")
    spec = body["spec"]
    if isinstance(spec, str):
        spec = load_yaml(spec)
    elif not isinstance(spec, dict):
        raise RequestError(f"'spec' must be YAML text or a mapping, got {type(spec).__name__}", field="spec")
    inputs = body.get("inputs")
    if isinstance(inputs, dict) and payloads.REF_KEY in inputs:
        try:
            inputs = payloads.load_start_inputs(inputs)
        except PayloadError as exc:
            exc.field = "inputs"  # type: ignore[attr-defined]  # read by error_body
            raise
    if inputs is None:
        inputs = {}
    elif not isinstance(inputs, dict):
        raise RequestError(f"'inputs' must be an object, got {type(inputs).__name__}", field="inputs")
    name = body.get("name")
    if name is not None and (not isinstance(name, str) or not NAME_PATTERN.fullmatch(name)):
        raise RequestError(
            f"'name' must be 1-{MAX_NAME_LENGTH} letters, digits, '_', '.', ':' or '-', "
            f"starting with a letter or digit; got {_short(name)}", field="name")
    plan = compile_spec(spec, inputs)  # only JSON values, in the spec and the inputs alike
    inputs = plan.with_defaults(inputs)  # what the execution will store: a retried start compares equal
    if tokens is not None:
        unknown = [step for step in plan.steps.values() if step.token not in tokens]
        if unknown:
            raise UnknownOpError([
                Problem(f"no executor is deployed for op {step.token!r}", step=step.id,
                        field="op" if step.token == step.id else "fn")
                for step in unknown])
    return StartRequest(spec, inputs, name)


def parse_advance(payload: Any) -> AdvanceRequest:
    """The execution and action of an advance payload; raise ``RequestError`` naming what is wrong."""
    body = _object(payload, ADVANCE_KEYS)
    key = body.get("execution")
    if not isinstance(key, str) or not key or len(key) > MAX_EXECUTION_KEY_LENGTH:
        raise RequestError("'execution' must be an execution key (a non-empty string)", field="execution")
    action = body.get("action", "advance")
    if action not in ADVANCE_ACTIONS:
        raise RequestError(f"'action' must be one of {', '.join(ADVANCE_ACTIONS)}; got {_short(action)}",
                           field="action")
    reason = body.get("reason")
    if reason is not None and (action != "cancel" or not isinstance(reason, str) or len(reason) > MAX_REASON_LENGTH):
        raise RequestError(f"'reason' must be text of at most {MAX_REASON_LENGTH} characters, with action cancel",
                           field="reason")
    return AdvanceRequest(key, action, reason)


def run_advance(backend: Any, request: AdvanceRequest) -> operations.Advanced:
    """The operation an advance payload asks for: ``operations.advance`` or ``operations.cancel``."""
    if request.action == "cancel":
        return operations.cancel(backend, request.execution, request.reason)
    return operations.advance(backend, request.execution)


def execution_named(body: str) -> str | None:
    """The execution a queue message names (for log correlation), or None if it names none."""
    try:
        execution = json.loads(body).get("execution")
    except (ValueError, AttributeError, RecursionError):
        return None
    return execution if isinstance(execution, str) else None


def start(backend: Any, request: StartRequest) -> operations.Advanced:
    """``operations.start`` for a parsed request; raises ``ExecutionExistsError`` if the name is
    already used for a different spec or inputs."""
    return operations.start(backend, request.spec, request.inputs, request.name)


def error_body(exc: BaseException) -> dict[str, Any]:
    """``{"error": {"type", "message", "step", "field"}}`` (plus ``problems`` for a spec error)."""
    error: dict[str, Any] = {"type": type(exc).__name__, "message": str(exc), "step": None,
                             "field": getattr(exc, "field", None)}
    if isinstance(exc, SpecError):
        error.update(step=exc.first.step, field=exc.first.field, problems=[p.to_dict() for p in exc.problems])
    elif isinstance(exc, ExecutionExistsError):
        error.update(field="name", execution=exc.existing_key)
    elif isinstance(exc, ExecutionEndedError):
        error.update(field="execution", status=exc.status)
    elif isinstance(exc, ExecutionNotFoundError):
        error.update(field="execution")
    elif not isinstance(exc, RunfoxError):  # never echo an unexpected exception's text to a caller
        error.update(type="InternalError", message="internal error; see the function's logs")
    return {"error": error}


def _object(payload: Any, allowed: tuple[str, ...]) -> dict[str, Any]:
    """The payload as a dict, within the size cap and with no unknown keys."""
    if isinstance(payload, (str, bytes, bytearray)):
        size = len(payload.encode("utf-8") if isinstance(payload, str) else payload)
        _check_size(size)
        try:
            payload = json.loads(payload)
        except (ValueError, RecursionError) as exc:
            raise RequestError(f"payload is not JSON: {exc}") from None
    elif isinstance(payload, dict):
        try:
            _check_size(len(payloads.encode_json(payload)))
        except (TypeError, ValueError, RecursionError) as exc:
            raise RequestError(f"payload is not JSON-serialisable: {exc}") from None
    if not isinstance(payload, dict):
        raise RequestError(f"payload must be a JSON object, got {type(payload).__name__}")
    unknown = sorted(str(k) for k in payload if k not in allowed)
    if unknown:
        raise RequestError(f"unknown payload keys {unknown} (allowed: {', '.join(allowed)})", field=unknown[0])
    return payload


def _check_size(size: int) -> None:
    if size > MAX_START_PAYLOAD_BYTES:
        raise RequestError(f"payload is {size:,} bytes of JSON; the limit is {MAX_START_PAYLOAD_BYTES:,} bytes")


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."
