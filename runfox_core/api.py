"""api.py -- the JSON entry points: check a start or advance payload, report problems as data.

Owns the contract of the start payload ``{"spec": <YAML text or object>,
"inputs": {...}, "name": <optional string>}`` and of the advance payload
``{"action": <one of ADVANCE_ACTIONS>, "execution": <key>, ...}`` (the keys each
action takes: ``ACTION_KEYS``; see ``events/``), for the start and advance
Lambdas and anything else that takes them as JSON:

- ``parse_start(payload, tokens)`` -> ``StartRequest(spec, inputs, name)``,
  after every check, including that each dispatch token of the spec is
  deployed (``tokens``: the queue map's keys). ``inputs`` are the ones the
  execution will store (the spec's declared defaults applied). Any payload
  gets a value or one of ``REJECTED``, never another exception. Nothing is
  written.
- ``start(backend, request)``: ``operations.start`` for a parsed request
  (a name already used for a different spec or inputs is refused; the same
  name and request find the same execution, so a retried start is harmless).
- ``parse_advance(payload)`` -> ``AdvanceRequest(execution, action, reason, options)``:
  ``action`` is ``advance`` (the default), ``cancel``, ``history``, ``list``
  (no execution), ``redrive`` or ``rerun``; ``options`` the action's other
  keys, checked. Or ``WaitRequest(execution, action, args)`` for
  ``send_event`` / ``callback`` (answers to wait steps; their arguments:
  ``events.parse_action``). ``run_advance(backend, request)`` runs its operation.
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

from . import events, operations, payloads
from .errors import (
    ExecutionExistsError,
    ExecutionNotFoundError,
    ExecutionStatusError,
    PayloadError,
    Problem,
    RunfoxError,
    SpecError,
)
from .listing import ListQuery
from .spec import compile_spec, load_yaml

MAX_START_PAYLOAD_BYTES = 1024 * 1024  # bytes of JSON: 1 MiB, well under Lambda's 6 MB invoke limit
MAX_NAME_LENGTH = 128  # characters
NAME_PATTERN = re.compile(rf"[A-Za-z0-9][A-Za-z0-9_.:-]{{0,{MAX_NAME_LENGTH - 1}}}")
START_KEYS = ("spec", "inputs", "name")
#: what each advance action takes besides "action" (and what type each key must be)
ACTION_KEYS: dict[str, dict[str, type]] = {
    "advance": {"execution": str},
    "cancel": {"execution": str, "reason": str},
    "history": {"execution": str, "after": str, "limit": int},
    "list": {"status": str, "name_prefix": str, "since": str, "until": str, "limit": int, "cursor": str},
    "redrive": {"execution": str, "inputs": dict, "name": str},
    "rerun": {"execution": str, "step": str, "new": bool, "inputs": dict, "name": str},
}
ADVANCE_KEYS = ("action", *dict.fromkeys([*(k for keys in ACTION_KEYS.values() for k in keys), *events.ACTION_KEYS]))
ADVANCE_ACTIONS = (*ACTION_KEYS, *events.ACTIONS)
_KINDS = {str: "text", int: "an integer", bool: "true or false", dict: "an object"}
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
    execution: str  # "" for list
    action: str  # one of ADVANCE_ACTIONS
    reason: str | None
    options: dict[str, Any] = {}  # noqa: RUF012 -- the action's other keys (never mutated)


class WaitRequest(NamedTuple):
    """An advance payload that answers a wait step: ``send_event`` or ``callback``."""

    execution: str
    action: str  # one of events.ACTIONS
    args: dict[str, Any]  # the operation's keyword arguments (events.parse_action)


#: Errors that mean "bad request": answer with ``error_body``; anything else is an infrastructure fault.
REJECTED: tuple[type[Exception], ...] = (RequestError, SpecError, PayloadError, ExecutionExistsError,
                                         ExecutionNotFoundError, ExecutionStatusError, events.EventRefusedError)


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
        unknown = [step for step in plan.steps.values() if step.token and step.token not in tokens]  # "": no job
        if unknown:
            raise UnknownOpError([
                Problem(f"no executor is deployed for op {step.token!r}", step=step.id,
                        field="op" if step.token == step.id else "fn")
                for step in unknown])
    return StartRequest(spec, inputs, name)


def parse_advance(payload: Any) -> AdvanceRequest | WaitRequest:
    """The execution, action and options of an advance payload; raise ``RequestError`` naming what is wrong."""
    body = _object(payload, ADVANCE_KEYS)
    action = body.get("action", "advance")
    if action in events.ACTIONS:
        takes = ("action", "execution", *events.ACTION_KEYS_OF[action])
        extra = sorted(k for k in body if k not in takes)
        if extra:
            raise RequestError(f"action {action} takes no {extra[0]!r} (it takes: {', '.join(takes[1:])})",
                               field=extra[0])
        waited_on, args = events.parse_action(action, body)
        return WaitRequest(waited_on, action, args)
    if action not in ADVANCE_ACTIONS:
        raise RequestError(f"'action' must be one of {', '.join(ADVANCE_ACTIONS)}; got {_short(action)}",
                           field="action")
    allowed = ACTION_KEYS[action]
    for name, value in body.items():
        if name == "action":
            continue
        if name not in allowed:
            raise RequestError(f"action {action} takes no {name!r} (it takes: {', '.join(allowed)})", field=name)
        wanted = allowed[name]
        if not isinstance(value, wanted) or (wanted is int and isinstance(value, bool)):
            raise RequestError(f"{name!r} must be {_KINDS[wanted]}; got {_short(value)}", field=name)
    key = body.get("execution", "")
    if "execution" in allowed and (not key or len(key) > MAX_EXECUTION_KEY_LENGTH):
        raise RequestError("'execution' must be an execution key (a non-empty string)", field="execution")
    if action == "rerun" and not body.get("step"):
        raise RequestError("action rerun needs 'step': the step to run again with everything downstream of it",
                           field="step")
    reason = body.get("reason")
    if reason is not None and len(reason) > MAX_REASON_LENGTH:
        raise RequestError(f"'reason' must be text of at most {MAX_REASON_LENGTH} characters, with action cancel",
                           field="reason")
    options = {k: v for k, v in body.items() if k not in ("action", "execution", "reason")}
    return AdvanceRequest(key, action, reason, options)


def run_advance(backend: Any, request: AdvanceRequest | WaitRequest) -> Any:
    """The operation an advance payload asks for; its result has ``to_dict()``. Raises one of ``REJECTED``
    for a request the execution does not allow (nothing changed)."""
    if isinstance(request, WaitRequest):
        if request.action == events.SEND_EVENT:
            return operations.send_event(backend, request.execution, **request.args)
        return operations.complete_callback(backend, **request.args)
    o = request.options
    try:
        if request.action == "history":
            return operations.history(backend, request.execution, o.get("after"), o.get("limit", 1000))
        if request.action == "list":
            return operations.list_executions(backend, ListQuery(**o))
    except (ValueError, TypeError) as exc:  # a bad cursor, time, status or limit: the message names it
        if isinstance(exc, REJECTED):
            raise
        raise RequestError(str(exc)) from None
    if request.action == "cancel":
        return operations.cancel(backend, request.execution, request.reason)
    if request.action == "redrive":
        return operations.redrive(backend, request.execution, o.get("inputs"), o.get("name"))
    if request.action == "rerun":
        return operations.rerun(backend, request.execution, o["step"], new=o.get("new", False),
                                inputs=o.get("inputs"), name=o.get("name"))
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
    elif isinstance(exc, ExecutionStatusError):
        error.update(field=error["field"] or "execution", status=exc.status)
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
