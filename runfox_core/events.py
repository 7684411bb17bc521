"""events.py -- sending events and completing callbacks of ``wait`` steps.

The two ways the world answers a waiting step (``engine/wait.py``), each one
optimistic transaction on the execution, with any Backend:

- ``send(backend, key, name, payload, event_id)``: deliver event ``name`` to
  the first step waiting for it whose ``match`` holds, or keep it for a wait
  to come. Idempotent by ``event_id``: the same event_id again changes
  nothing and answers what the first one did. An event nobody waits for (an
  ended execution, an unknown name, every waiting step finished, no match)
  raises ``EventRefusedError`` naming the field, and changes nothing.
- ``answer(backend, token, output=..., error=..., heartbeat=...)``: a worker
  anywhere completes a callback token (from ``describe``): an output is the
  step's output, an error a failed attempt (retried under ``max_attempts``),
  a heartbeat pushes the step's heartbeat deadline on. A stale or forged
  token raises ``EventRefusedError`` and changes nothing.

Neither advances the execution: ``operations.send_event`` and
``operations.complete_callback`` do, so the steps they made ready are sent.

The advance Lambda takes both as actions (``parse_action``; samples in
``events/send_event.json`` and ``events/callback.json``):
``{"execution", "action": "send_event", "event", "payload", "event_id"}``
and ``{"action": "callback", "token", "output" | "error" | "heartbeat": true}``.

Cost: the header, the waiting steps' records and the event's dedup record
are read in one store call (``Workflow.resume``), and the delivery is one
commit.
"""

from __future__ import annotations

from typing import Any

from .backend.base import Backend
from .engine import wait
from .engine.wait import EventReceipt, EventRefusedError
from .errors import PayloadError
from .payloads import check_payload
from .results import Complete, Failed, Halt, Pending
from .workflow import Workflow

__all__ = ["EventReceipt", "EventRefusedError", "answer", "parse_action", "send"]

SEND_EVENT = "send_event"
CALLBACK = "callback"
ACTIONS = (SEND_EVENT, CALLBACK)
ACTION_KEYS_OF = {SEND_EVENT: ("event", "payload", "event_id"), CALLBACK: ("token", "output", "error", "heartbeat")}
ACTION_KEYS = tuple(k for keys in ACTION_KEYS_OF.values() for k in keys)
MAX_EXECUTION_KEY_CHARS = 512  # as the advance payload's (api.MAX_EXECUTION_KEY_LENGTH)


def action_of(key: str) -> str:
    """The action a payload key belongs to."""
    return next(action for action, keys in ACTION_KEYS_OF.items() if key in keys)


def parse_action(action: str, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(execution key, keyword arguments of ``operations.send_event``/``complete_callback``) of an
    advance payload whose action is ``send_event`` or ``callback``; ``EventRefusedError`` names the
    field that is wrong. Nothing is read or written."""
    if action == SEND_EVENT:
        key = body.get("execution")
        if not isinstance(key, str) or not 0 < len(key) <= MAX_EXECUTION_KEY_CHARS:
            raise EventRefusedError("'execution' must be an execution key (a non-empty string)", "execution")
        name, payload, event_id = body.get("event"), body.get("payload", {}), body.get("event_id")
        wait.check_event(name, payload, event_id)
        return key, {"name": name, "payload": payload, "event_id": event_id}
    token = body.get("token")
    key = wait.parse_token(token)[0]
    if body.get("execution", key) != key:
        raise EventRefusedError("the token is for another execution than 'execution' names", "execution")
    heartbeat = body.get("heartbeat", False)
    if not isinstance(heartbeat, bool):
        raise EventRefusedError(f"'heartbeat' must be true or false, got {type(heartbeat).__name__}", "heartbeat")
    return key, {"token": token, "output": body.get("output"), "error": body.get("error"), "heartbeat": heartbeat}


def send(backend: Backend, key: str, name: str, payload: dict[str, Any] | None, event_id: str) -> EventReceipt:
    """Deliver or keep event ``name`` for execution ``key``; raises EventRefusedError (nothing
    changed) or ExecutionNotFoundError. Call ``operations.advance`` next (``operations.send_event`` does)."""
    payload = {} if payload is None else payload
    wait.check_event(name, payload, event_id)
    plan = backend.plan(key)
    waiting = [p.id for p in plan.steps.values() if p.kind == wait.WaitKind.name and p.config.event == name]
    wf = Workflow.resume(key, backend, steps=[*waiting, f"{wait.EVENT_RECORD}{event_id}"])
    return wf.transact(lambda txn, now: wait.deliver(txn, name, payload, event_id, now))


def answer(backend: Backend, token: str, output: Any = None, error: dict[str, Any] | None = None,
           heartbeat: bool = False) -> tuple[str, Pending | Complete | Halt | Failed | None]:
    """Apply a callback for the wait ``token`` names: exactly one of ``output`` (a JSON object),
    ``error`` ({"type", "message"}) or ``heartbeat=True``. Returns (execution key, what the step's
    result did, as ``Workflow.on_step_result``). Raises EventRefusedError (nothing changed)."""
    given = [n for n, v in (("output", output), ("error", error), ("heartbeat", heartbeat or None)) if v is not None]
    if len(given) != 1:
        raise EventRefusedError(f"a callback carries exactly one of output, error or heartbeat; got "
                                f"{', '.join(given) or 'none'}", "output")
    if error is not None and (not isinstance(error, dict) or not all(isinstance(error.get(k), str)
                                                                     for k in ("type", "message"))):
        raise EventRefusedError("a callback's error must be {\"type\": str, \"message\": str}", "error")
    if output is not None:
        try:
            check_payload(output, "callback output")
        except PayloadError as exc:
            raise EventRefusedError(str(exc), "output") from None
    key, sid, run_id, nonce = wait.parse_token(token)
    try:
        wf = Workflow.resume(key, backend, steps=[sid, wait.wait_record_id(sid)])
    except KeyError:
        raise EventRefusedError("not a callback token: it names no execution that exists", "token") from None
    return key, wf.transact(lambda txn, now: wait.complete(txn, sid, run_id, nonce, output, error, heartbeat, now),
                            about=sid)
