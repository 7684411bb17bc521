"""events.py -- sending events and completing callbacks of ``wait`` steps.

The two ways the world answers a waiting step (``engine/wait.py``), each one
optimistic transaction on the execution, with any Backend:

- ``send(backend, key, name, payload, event_id)``: deliver event ``name`` to
  the first step waiting for it whose ``match`` holds, or keep it for a wait
  to come. Idempotent by ``name`` and ``event_id`` together (the same id
  under another name is another event): the same event again changes
  nothing and answers what the first one did. An event nobody waits for (an
  ended execution, an unknown name, every waiting step finished, no match)
  raises ``EventRefusedError`` naming the field, and changes nothing.
- ``answer(backend, token, output=..., error=..., heartbeat=...)``: a worker
  anywhere completes a callback token (from ``describe``): an output is the
  step's output, an error a failed attempt (retried under ``max_attempts``),
  a heartbeat pushes the step's heartbeat deadline on. A stale or forged
  token raises ``EventRefusedError`` and changes nothing.

Each claims, in the same commit, the steps it made ready (as the router
does with a result), and returns their jobs with the handle that committed:
``operations.send_event`` and ``operations.complete_callback`` send them and
advance from there.

The advance Lambda takes both as actions (``parse_action``; samples in
``events/send_event.json`` and ``events/callback.json``):
``{"execution", "action": "send_event", "event", "payload", "event_id"}``
and ``{"action": "callback", "token", "output" | "error" | "heartbeat": true}``.

Cost: the header is read alone (``Workflow.resume``; on DynamoDB a
strongly consistent GetItem, 1 read unit), then in one call (a BatchGetItem,
1 read unit per small record) the waiting steps' records (a callback: its
step's record alone, which holds the token's nonce; a wait's claim is never
written ahead, so its record says it began: only a claim the previous
release wrote ahead has its dependency read too, ``transitions.claimed_step``),
the mailbox of the event's name when the header counts events kept for it,
and the records the steps it makes ready read at their claim, less those the header holds (on DynamoDB the records
riding in it, read with it: ``load_steps_after``; when it holds them all, as
for a chain's wait, nothing is read but the header); the answer is one
commit. An event needs no record of its
own to be recognised again: the waiting steps' records say which event their
run took (``engine/wait.py``), and only when one of them has run before
(run_id > 0) is the event's retired record read, in one more call. A
delivered event writes nothing beside the wait's record, nor does a callback
or a heartbeat. Only a callback to a wait begun by the previous release reads
its ``~wait~`` record, in one more call.
Header first is what makes reads in several calls as safe
as one snapshot (``engine/txn.py``): a record changed after the header was
read was changed by a commit that bumped the version, so the delivery's
commit fails its version check and runs again on fresh data. One
TransactGetItems would save a call but bill every item twice (6 read units
for the usual three items instead of 4).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from .backend.base import Backend
from .engine import transitions as tx
from .engine import wait
from .engine.txn import Txn
from .engine.wait import EventReceipt, EventRefusedError
from .errors import PayloadError
from .payloads import check_payload
from .results import Cancelled, Complete, DispatchJob, Failed, Halt, Pending
from .spec import Plan
from .workflow import Workflow

__all__ = ["EventReceipt", "EventRefusedError", "Sent", "answer", "parse_action", "send"]

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


class Sent(NamedTuple):
    """What ``send`` or ``answer`` did: the event's receipt (``answer``: None), what the step's
    result did, the handle that committed it, and the jobs of the steps it claimed (not sent yet)."""

    receipt: EventReceipt | None
    result: Pending | Complete | Halt | Failed | Cancelled | None
    handle: Workflow
    jobs: list[DispatchJob]
    settled: bool = False  # the commit claimed everything it made ready: no advance is owed
    wake_at: float | None = None  # the execution's next timer after the commit (arm a wake for it)


def send(backend: Backend, key: str, name: str, payload: dict[str, Any] | None, event_id: str) -> Sent:
    """Deliver or keep event ``name`` for execution ``key``; raises EventRefusedError (nothing
    changed) or ExecutionNotFoundError. Send the jobs, then advance (``operations.send_event`` does)."""
    payload = {} if payload is None else payload
    wait.check_event(name, payload, event_id)
    plan = backend.plan(key)
    waiting = [p.id for p in plan.steps.values() if p.kind == wait.WaitKind.name and p.config.event == name]
    wanted = _records_read(plan, waiting)
    wf = Workflow.resume(key, backend)  # the header alone: the records come next, in one read

    def transition(txn: Txn, now: float) -> tuple[bool, Sent]:
        # the mailbox too when the header counts events kept for the name (a duplicate may be there)
        txn.prefetch([*wanted, *([wait.mailbox_id(name)] if txn.header.kept.get(name) else [])], [])
        changed, receipt = wait.deliver(txn, name, payload, event_id, now)
        return changed, _then(txn, now, wf, receipt, tx.terminal_result(txn), changed)

    return wf.transact(transition)


def answer(backend: Backend, token: str, output: Any = None, error: dict[str, Any] | None = None,
           heartbeat: bool = False) -> Sent:
    """Apply a callback for the wait ``token`` names: exactly one of ``output`` (a JSON object),
    ``error`` ({"type", "message"}) or ``heartbeat=True``. Raises EventRefusedError (nothing
    changed). Send the jobs, then advance (``operations.complete_callback`` does)."""
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
        wanted = _records_read(backend.plan(key), [sid])  # the token's data is on the step's record
        wf = Workflow.resume(key, backend)  # the header alone: the records come next, in one read
    except KeyError:
        raise EventRefusedError("not a callback token: it names no execution that exists", "token") from None

    def transition(txn: Txn, now: float) -> tuple[bool, Sent]:
        txn.prefetch(wanted, [])
        changed, result = wait.complete(txn, sid, run_id, nonce, output, error, heartbeat, now)
        return changed, _then(txn, now, wf, None, tx.terminal_result(txn) or result, changed)

    return wf.transact(transition, about=sid)


def _records_read(plan: Plan, steps: list[str]) -> list[str]:
    """The records an answer to ``steps`` reads, read in one call after the header (module docstring):
    theirs, and what the steps their completion makes ready read at their claim (that claim rides
    in the same commit)."""
    then = {s for sid in steps if sid in plan.steps for d in plan.steps[sid].dependents
            for refs in (plan.steps[d].input_refs, plan.steps[d].kind_refs) if not refs.all_steps for s in refs.steps}
    return [*dict.fromkeys([*steps, *sorted(then)])]


def _then(txn: Txn, now: float, wf: Workflow, receipt: EventReceipt | None, result: Any, changed: bool) -> Sent:
    """Claim, in this commit, what the answer made ready (within one commit's limits: if some are
    left, or nothing was committed, the advance that follows does the rest)."""
    if not changed or tx.terminal_result(txn) is not None:
        return Sent(receipt, result, wf, [], settled=changed)
    store = txn.store
    sids = tx.claimable(txn, now, store.max_steps_per_commit)
    jobs = tx.claim(txn, sids, now, getattr(store, "max_bytes_per_commit", None)) if sids else []
    ended = tx.terminal_result(txn)  # an input that cannot resolve fails the execution at its claim
    return Sent(receipt, ended or result, wf, jobs, settled=ended is not None or not tx.claimable(txn, now, 1),
                wake_at=tx.next_timer(txn.header))
