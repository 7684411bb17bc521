"""wait.py -- the ``wait`` step kind: pause for an event, a callback or a time, at no cost while waiting.

A wait step sends no job. Once the engine claims it, it is IN_PROGRESS and
waits for one of:

- ``{event: NAME, match?, timeout_seconds?, heartbeat_seconds?}``: an event
  of that name sent with ``send_event``; ``match`` (JSON Logic over
  ``event`` and the usual ``input``/``steps``/``state``) must hold for it.
  The event's payload becomes the step's output.
- ``{callback: true, timeout_seconds?, heartbeat_seconds?}``: its callback
  token (shown by ``describe``; an event wait with ``heartbeat_seconds`` has
  one too, for its heartbeats) completed by a worker anywhere with an
  output, an error or a heartbeat.
- ``{seconds: N}`` or ``{until: <ISO 8601 text or JSON Logic yielding it>}``:
  a time, at most ``MAX_WAIT_SECONDS`` (a year) ahead. Its output is ``{}``.

Timers are the engine's step deadlines (``header.deadlines``): a time wait
sets its deadline to its time and succeeds when it expires (``expire``); an
event or callback wait sets the earlier of its timeout and its next
heartbeat, and fails the attempt when it expires (``TimeoutError`` or
``HeartbeatTimeoutError``), so ``max_attempts``, ``retry`` and branches work
as for any failure. Nothing polls: a backend wakes the execution at its next
deadline (``Pending.wake_at``; on AWS a delayed wake message re-armed every
15 minutes, ``driver.py``).

A wait that hands out a token (a callback wait, or an event wait with
``heartbeat_seconds``: ``hands_token``) keeps it on its own step record
(``StepRecord.callback``: its nonce, and the next ``heartbeat_at`` once a
heartbeat pushed it on), written by the commit that begins the wait,
rewritten by each heartbeat, and cut to the nonce when the attempt ends
(``WaitKind.replacing``); a retry draws a new nonce. Its timers need no more: such
a record is its commit's own (never written ahead, below), so its
``start_time`` is when they were armed (``_timers``). A record that small
rides in the header with the previous step's (on DynamoDB: "Inline
records"), so the commit that begins the wait is the header's one update.
A plain event wait has none: it needs no token.

What else a wait keeps lives in records of its own beside the step records,
in a reserved namespace no step id can take (step ids never contain ``~``):

- ``~wait~<step>``: where the previous release kept a wait's token data.
  Never written for a wait that begins now; read only for a wait in
  progress whose step record has no token data (one begun before an
  upgrade: ``_legacy``), whose token, heartbeats, timers and ``describe``
  then work from it as before, for one read more per callback.
- ``~mailbox~<name>``: events that arrived before any step waited for them,
  oldest first, each as ``[event_id, payload]``, consumed by the first wait
  for that name that begins and matches. Bounded: at most
  ``MAX_PAYLOAD_BYTES`` of JSON per name. The header counts them per name
  (``header.kept``), in the same commit that writes the mailbox, so under
  the same version fence: a wait that begins reads its mailbox only when
  the header it was claimed on counts events for its name, and a name with
  none costs the claim no read (on DynamoDB a BatchGetItem, 2 read units,
  per wait saved). An event kept is likewise added to a mailbox without
  reading it when the count says it is empty.
- ``~event~<name>~<event_id>``: a retired event, ``{name, disposition:
  delivered, step, run_id}`` of the run that took it, written in the commit
  that replaces that run's record with another run's (a ``set`` branch's
  reset, a retry, a rerun: ``WaitKind.replacing``, called by ``Txn.put_step``, is the one place).

An event is idempotent by its name and ``event_id`` together (the same id
under another name is another event), and what became of it is kept where
a send reads anyway: the record of the run that took it carries the id
(``StepRecord.event_id``), an event kept is in its mailbox, and only an id
whose run was replaced has a record of its own. So a send reads the records
of the steps that wait for the name (``_seen``), the mailbox only when the
header counts events for the name, and the retired record only when one of
those steps has run before (run_id > 0); a wait that takes an event writes
nothing beside its own record. The same id again answers what the first
did (``duplicate``) and changes nothing.

A wait for an event or a callback keeps its own history events on its
record (``WaitKind.keeps_events``, ``history.py``): the id of its ``waiting``
event, set by the commit that begins it, and of its ``step_completed``; what
they say is the record's (its start and end times, run, attempt, a callback's
nonce, kept once the attempt is over for that event) or the spec's (the
event's name). So they cost the log nothing: on DynamoDB its buffer rides in
the header and is put as an item as it fills, and logged, a completed wait's
two events made it fill (0.08 of a PutItem a wait; ``bench/aws_calls.py``
now counts 0.005, the steps around it logging in two commits). When another run
replaces the record (a loop, a retry, a rerun), its events move to
``~ran~<step>~<run>`` in the same commit (``StepKind.replacing``).

Such a claim is never written ahead of the commit that begins it: the id
it keeps is a position in that very commit, which another claimer's commit
would not share (``WaitKind.draws_at_claim``; a callback's nonce is drawn at
random besides). Its record in progress is always its commit's, and a
callback is checked against the nonce on it at its run. A wait until a time
keeps no events (its ``waiting`` event says the time, which its record does
not hold), and its claim, like a task's, may be written ahead
(``Commit.claims``): until that commit lands the step has not begun,
whatever its record says, and its timers are the ones that commit armed,
never the record's ``start_time`` (which may be another claimer's:
``_armed_at``). The previous release wrote every wait's claim ahead but a
callback's: such a claim left behind is still read through
``transitions.as_claimed`` (an event for it is kept for the wait to come).

Known limits: one event completes one step (the first waiting step in spec
order whose ``match`` holds); an early event is kept only while some step
that waits for its name has not begun yet; a mailbox past its size refuses
further early events with a clear error. A copy of an execution (``rerun``
with ``new``) remembers the events its copied steps took and those still
kept, and forgets those of the steps it runs afresh (``retired_step``): they
take events anew. An event delivered by a version that kept an
``~event~<event_id>`` record per event is not recognised by this one (its
duplicate may be taken as a new event).
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .. import expressions
from ..errors import PayloadError, Problem, RunfoxError
from ..expressions import References
from ..history import EventType as Ev
from ..payloads import MAX_PAYLOAD_BYTES, check_payload, encode_json
from ..spec import _is_upstream  # the spec's one DAG walk (a kind's block is checked as the spec's own fields)
from ..status import TERMINAL_WORKFLOW_STATUSES, StepStatus
from . import kinds, transitions
from .records import StepRecord

if TYPE_CHECKING:
    from ..results import DispatchJob
    from ..spec import Plan, StepPlan
    from .txn import Txn

MAX_WAIT_SECONDS = 366 * 86400  # a year (a leap year included): the longest wait, timeout or heartbeat
CLOCK_SLACK_SECONDS = 0.001  # a deadline this close counts as reached
MAX_EVENT_ID_CHARS = 128
EVENT_ID = re.compile(rf"[A-Za-z0-9][A-Za-z0-9_.:-]{{0,{MAX_EVENT_ID_CHARS - 1}}}")
EVENT_KEYS = ("event", "match", "timeout_seconds", "heartbeat_seconds")
CALLBACK_KEYS = ("callback", "timeout_seconds", "heartbeat_seconds")
TIME_KEYS = ("seconds", "until")

# Reserved record ids (never a step id: those are letters, digits, '_' and '-').
WAIT_RECORD = "~wait~"
EVENT_RECORD = "~event~"
MAILBOX_RECORD = "~mailbox~"

DELIVERED = "delivered"  # an event's disposition: completed a waiting step
KEPT = "kept"  # arrived before its wait began; consumed when it does


class EventRefusedError(RunfoxError, ValueError):
    """Raised when an event or a callback cannot be accepted (nobody waits for it, it does not
    match, the token is stale or forged, the payload is not a JSON object); nothing changed.
    ``field`` names what was wrong."""

    def __init__(self, message: str, field: str | None = None, execution: str | None = None):
        super().__init__(message)
        self.field = field
        self.execution = execution  # set when the token named an execution that exists


@dataclass(frozen=True)
class WaitConfig:
    """A wait step's compiled block: exactly one of ``event``, ``callback``, ``seconds``, ``until``."""

    event: str | None = None
    callback: bool = False
    match: Any = None
    timeout_seconds: float | None = None
    heartbeat_seconds: float | None = None
    seconds: float | None = None
    until: Any = None

    @property
    def timed(self) -> bool:
        """A wait for a time (``seconds``/``until``), not for an event or a callback."""
        return self.seconds is not None or self.until is not None


@dataclass(frozen=True)
class EventReceipt:
    """What ``send_event`` did: ``delivered`` to ``step`` at ``run_id``, or ``kept`` for a wait to come.
    ``duplicate``: this event_id was seen before, and nothing changed this time."""

    event_id: str
    name: str
    disposition: str
    step: str | None = None
    run_id: int | None = None
    duplicate: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"event_id": self.event_id, "event": self.name, "disposition": self.disposition,
                "step": self.step, "run_id": self.run_id, "duplicate": self.duplicate}


# ---------------------------------------------------------------- the kind


class WaitKind(kinds.StepKind):
    """A step that waits for an event, a callback or a time (see the module docstring)."""

    name = "wait"
    key = "wait"

    def compile(self, sid: str, block: Any, ctx: kinds.CompileContext,
                problems: list[Problem]) -> tuple[Any, References]:
        return _compile(sid, block, ctx, problems)

    def token(self, sid: str, fn: str | None, config: Any) -> str | None:
        return None  # sends no job

    def draws_at_claim(self, config: Any) -> bool:
        return self.keeps_events(config)  # its ``waiting`` event's id (and a callback's nonce, drawn at random)

    def keeps_events(self, config: Any) -> bool:
        return not config.timed  # a wait until a time logs its ``waiting``: the time is not on its record

    def events_of(self, p: StepPlan, record: StepRecord) -> list[dict[str, Any]]:
        """Its ``waiting`` event (as ``begin`` would have logged it) and ``step_completed``."""
        events = super().events_of(p, record)
        own = record.own_events or {}
        if Ev.WAITING in own:
            waiting = {"id": own[Ev.WAITING], "type": str(Ev.WAITING), "at": kinds.at_of(record.start_time),
                       "step": p.id, "run_id": record.run_id, "attempt": record.attempt}
            if p.config.event is not None:
                waiting["event"] = p.config.event
            if record.callback is not None:
                waiting["nonce"] = record.callback["nonce"]  # read as the whole token (``with_tokens``)
            events.insert(0, waiting)
        return events

    def begin(self, txn: Txn, p: StepPlan, record: StepRecord, now: float) -> list[DispatchJob]:
        config: WaitConfig = p.config
        if config.timed:
            at, error = _time_of(txn, p, now)
            if error is not None:
                transitions.finish_attempt(txn, p.id, None, error, now)
            elif at <= now:
                transitions.finish_attempt(txn, p.id, {}, None, now)
            else:
                _arm(txn, p, record.run_id, at)
                txn.event(Ev.WAITING, now, step=p.id, run_id=record.run_id, attempt=record.attempt,
                          until=transitions.iso(at))
            return []
        timeout_at = now + config.timeout_seconds if config.timeout_seconds is not None else None
        heartbeat_at = now + config.heartbeat_seconds if config.heartbeat_seconds is not None else None
        if hands_token(config):  # its timers: ``_timers``
            record = record.evolve(callback={"nonce": secrets.token_urlsafe(16)})
        # its ``waiting`` event is kept on the record (``events_of``), which is therefore its commit's own:
        # never written ahead (``draws_at_claim``)
        txn.put_step(txn.own_event(record, Ev.WAITING))
        _arm(txn, p, record.run_id, *(t for t in (timeout_at, heartbeat_at) if t is not None))
        if config.event is not None:
            _consume_kept(txn, p, now)
        return []

    def replacing(self, txn: Txn, p: StepPlan, replaced: StepRecord | None, record: StepRecord) -> StepRecord:
        """The one place a record that took an event (``StepRecord.event_id``) gives way to another run
        of its step, whatever replaces it (a ``set`` branch's reset, a retry, a rerun): the event's id is
        retired in the same commit (``retire``), so a duplicate of the event still changes nothing; the
        events the run kept move to a record of their own (``StepKind.replacing``). And the one place a
        wait's token data (``StepRecord.callback``) goes when its attempt ends, however it ends: a record
        not in progress keeps only the nonce, for the ``waiting`` event it keeps (which shows the token
        it handed out), and no heartbeat (no reader looks at it there)."""
        record = super().replacing(txn, p, replaced, record)  # the events it kept (``kinds.ran_record_id``)
        if record.callback is not None and record.status != StepStatus.IN_PROGRESS:
            keep = (record.own_events or {}).get(Ev.WAITING) is not None  # its ``waiting`` event shows the token
            record = record.evolve(callback={"nonce": record.callback["nonce"]} if keep else None)
        if replaced is not None and replaced.event_id is not None and replaced.run_id != record.run_id:
            record = retire(txn, replaced, record)
        return record

    def expire(self, txn: Txn, p: StepPlan, record: StepRecord, now: float, send: bool) -> list[DispatchJob]:
        config: WaitConfig = p.config
        due = now + CLOCK_SLACK_SECONDS  # times rebuilt from the stored start may differ in the last microsecond
        if config.timed and p.timeout_seconds is None:
            transitions.finish_attempt(txn, p.id, {}, None, now)  # the time came
            return []
        if config.timed:
            at, _ = _time_of(txn, p, now, start=_armed_at(txn, p, record, {}))
            if at <= due:
                transitions.finish_attempt(txn, p.id, {}, None, now)
                return []
            return super().expire(txn, p, record, now, send)
        data = record.callback or {}  # pushed on by each heartbeat
        if not data and config.heartbeat_seconds is not None:  # a wait begun by the previous release
            data = _legacy(txn, p.id, record.run_id)[1]
        timeout_at, heartbeat_at = _timers(p, _armed_at(txn, p, record, data), data)
        if heartbeat_at is not None and heartbeat_at <= due and (timeout_at is None or heartbeat_at < timeout_at):
            error = {"type": "HeartbeatTimeoutError",
                     "message": f"no heartbeat within heartbeat_seconds={config.heartbeat_seconds:g}"}
        elif timeout_at is not None and timeout_at <= due:
            waited = f"event {config.event!r}" if config.event else "its callback"
            error = {"type": "TimeoutError", "message": f"no {waited} within timeout_seconds={config.timeout_seconds:g}"}
        else:
            return super().expire(txn, p, record, now, send)  # the step's own timeout_seconds came first
        transitions.finish_attempt(txn, p.id, None, error, now)
        return []


def _started(record: StepRecord) -> float:
    return datetime.fromisoformat(record.start_time).timestamp() if record.start_time else 0.0


def _timers(p: StepPlan, started: float, data: dict[str, Any]) -> tuple[float | None, float | None]:
    """(timeout_at, heartbeat_at) of a wait for an event or a callback armed at ``started``: its
    ``timeout_seconds`` and ``heartbeat_seconds`` from then, or the heartbeat a callback pushed on
    (``data``: the token data)."""
    config: WaitConfig = p.config
    timeout_at = started + config.timeout_seconds if config.timeout_seconds is not None else None
    heartbeat_at = None
    if config.heartbeat_seconds is not None:
        heartbeat_at = float(data.get("heartbeat_at", started + config.heartbeat_seconds))
    return timeout_at, heartbeat_at


def _armed_at(txn: Txn | None, p: StepPlan, record: StepRecord, data: dict[str, Any]) -> float:
    """When the attempt's timers were armed: the clock of the claim that committed them.

    Not the record's ``start_time``: a claim written ahead of its commit (``Commit.claims``) may leave
    in place another claimer's record of the same claim, whose clock read earlier (minutes, if its
    process died) or later. What the commit itself wrote says: a wait that hands out a token is never
    written ahead, so its record is its commit's own, ``start_time`` included (the previous release's
    ``~wait~`` record kept ``since``); else the deadline, armed once at the claim to the earliest of
    the wait's own offset and the step's ``timeout_seconds`` (``txn`` None: not read).
    """
    if data.get("since") is not None:
        return float(data["since"])
    if record.callback is not None or txn is None:
        return _started(record)
    config: WaitConfig = p.config
    offsets = [o for o in (config.seconds if config.timed else config.timeout_seconds, p.timeout_seconds)
               if o is not None]
    entry = txn.header.deadlines.get(p.id)
    if offsets and config.until is None and config.heartbeat_seconds is None \
            and entry is not None and int(entry[0]) == record.run_id:
        return float(entry[1]) - min(offsets)
    return _started(record)  # (a wait until a time reads no start: its time is absolute)


def _arm(txn: Txn, p: StepPlan, run_id: int, *times: float) -> None:
    """Set the step's deadline to the earliest of ``times`` and any deadline the engine set at claim."""
    current = txn.header.deadlines.get(p.id)
    candidates = [*times, *([current[1]] if current and int(current[0]) == run_id else [])]
    if candidates:
        txn.header.deadlines[p.id] = [run_id, min(candidates)]


def _time_of(txn: Txn, p: StepPlan, now: float, start: float | None = None) -> tuple[float, dict[str, str] | None]:
    """When a time wait ends (epoch s), or the error that fails its attempt."""
    config: WaitConfig = p.config
    if config.seconds is not None:
        return (start if start is not None else now) + config.seconds, None
    try:
        value = expressions.resolve(config.until, txn.context(p.kind_refs))
    except Exception as exc:  # noqa: BLE001 -- a missing path or an operator that raised fails the attempt
        return now, {"type": "InputError", "message": f"step {p.id!r}, "
                                                      f"{expressions.describe_failure('wait.until', config.until, exc)}"}
    at, problem = parse_time(value)
    if problem is None and at - now > MAX_WAIT_SECONDS:
        problem = f"is {at - now:,.0f} s away; a wait lasts at most {MAX_WAIT_SECONDS:,} s (a year)"
    if problem is not None:
        return now, {"type": "InputError", "message": f"step {p.id!r}, wait.until {problem}"}
    return at, None


def parse_time(value: Any) -> tuple[float, str | None]:
    """Epoch seconds of ISO 8601 text (no offset: UTC), or (0, what is wrong with it)."""
    if not isinstance(value, str):
        return 0.0, f"must be ISO 8601 text, got {type(value).__name__} {str(value)[:60]!r}"
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return 0.0, f"{value[:60]!r} is not an ISO 8601 time (e.g. 2027-01-31T09:00:00Z)"
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp(), None


# ------------------------------------------------------------- compiling


def _compile(sid: str, block: Any, ctx: kinds.CompileContext, problems: list[Problem]) -> tuple[Any, References]:
    def problem(message: str, field: str = "wait") -> None:
        problems.append(Problem(message, step=sid, field=field))

    if not isinstance(block, dict):
        problem("must be a mapping with one of event, callback, seconds or until")
        return None, References()
    modes = [k for k in ("event", "callback", "seconds", "until") if k in block]
    if len(modes) != 1:
        problem(f"needs exactly one of event, callback, seconds or until; got {', '.join(modes) or 'none'}")
        return None, References()
    allowed = EVENT_KEYS if modes == ["event"] else CALLBACK_KEYS if modes == ["callback"] else (modes[0],)
    for k in block:
        if k not in allowed:
            problem(f"unknown key {k!r} for a wait on {modes[0]} (allowed: {', '.join(allowed)})", f"wait.{k}")
    refs = References()
    durations: dict[str, float | None] = {}
    for name in ("timeout_seconds", "heartbeat_seconds", "seconds"):
        value = block.get(name)
        if value is None or name not in allowed:
            durations[name] = None
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or not 0 < value <= MAX_WAIT_SECONDS:
            problem(f"must be a number of seconds in (0, {MAX_WAIT_SECONDS}] (a year), got {value!r}", f"wait.{name}")
        durations[name] = float(value)
    event = block.get("event")
    if "event" in block and not expressions.is_identifier(event):
        problem(f"event {event!r} must be a name of 1-64 letters, digits, '_' or '-'", "wait.event")
    if "callback" in block and block["callback"] is not True:
        problem(f"callback must be true, got {block['callback']!r}", "wait.callback")
    match = block.get("match")
    if match is not None and "match" in allowed:
        _expression(sid, "match", match, ctx, problems, refs, strict=True, extra_root="event")
    until = block.get("until")
    if until is not None:
        if isinstance(until, str):
            _, bad = parse_time(until)
            if bad:
                problem(bad, "wait.until")
        elif isinstance(until, dict) and expressions.is_operation(until):
            _expression(sid, "until", until, ctx, problems, refs, strict=True)
        else:
            problem("must be ISO 8601 text or a JSON Logic expression yielding it", "wait.until")
    config = WaitConfig(event=event if isinstance(event, str) else None, callback=block.get("callback") is True,
                        match=match, timeout_seconds=durations["timeout_seconds"],
                        heartbeat_seconds=durations["heartbeat_seconds"], seconds=durations["seconds"], until=until)
    return config, refs


def _expression(sid: str, name: str, value: Any, ctx: kinds.CompileContext, problems: list[Problem],
                refs: References, strict: bool, extra_root: str | None = None) -> None:
    field = f"wait.{name}"
    for msg in expressions.check(value, field, strict):
        problems.append(Problem(msg, step=sid, field=field))
    found = expressions.references(value)
    for root in sorted(found.unknown_roots - {extra_root}):
        problems.append(Problem(f"reads {root!r}: paths must start with "
                                f"{'event., ' if extra_root else ''}input., steps. or state.", step=sid, field=field))
    for ref in sorted(found.steps):
        if ref not in ctx.known:
            problems.append(Problem(f"references unknown step {ref!r}", step=sid, field=field))
        elif ctx.acyclic and not _is_upstream(ref, sid, ctx.deps):
            problems.append(Problem(f"reads steps.{ref} but {ref!r} is not upstream: add it to depends_on",
                                    step=sid, field=field))
    found.unknown_roots.clear()
    ctx.readers.append((found, sid, field, field))
    refs.merge(found)


# ---------------------------------------------------------- reserved records


def wait_record_id(sid: str) -> str:
    return f"{WAIT_RECORD}{sid}"


def hands_token(config: WaitConfig) -> bool:
    """Whether a wait of ``config`` hands out a callback token: a wait for a callback, or for an event
    with ``heartbeat_seconds`` (its heartbeats). A plain event wait and a time wait hand out none."""
    return not config.timed and (config.callback or config.heartbeat_seconds is not None)


def _legacy(txn: Txn, sid: str, run_id: int) -> tuple[StepRecord | None, dict[str, Any]]:
    """The ``~wait~`` record of ``sid`` at ``run_id`` and its data, of a wait begun by the previous
    release (which kept its token there, not on the step's record); (None, {}) when there is none."""
    wait = _read(txn, [wait_record_id(sid)]).get(wait_record_id(sid))
    if wait is None or wait.run_id != run_id or not wait.output:
        return None, {}
    return wait, wait.output


def _read(txn: Txn, ids: list[str]) -> dict[str, StepRecord]:
    """Reserved records ``ids`` that exist, as this transaction sees them (read with the step
    records when not known yet). They are written only in commits, which bump the header
    version, so a transition built on them commits only if none changed since it read them."""
    txn.prefetch(ids, [])
    return {i: rec for i in ids if (rec := txn.step(i)).output is not None}


def _data_record(rid: str, data: dict[str, Any]) -> StepRecord:
    return StepRecord(step_id=rid, token="", status=StepStatus.COMPLETE, output=data)


def mailbox_id(name: str) -> str:
    """The record of the events kept for ``name`` (read when ``header.kept`` counts some)."""
    return f"{MAILBOX_RECORD}{name}"


def retired_id(name: str, event_id: str) -> str:
    """The record of event ``event_id`` of ``name`` once the run that took it is replaced."""
    return f"{EVENT_RECORD}{name}~{event_id}"


def takes_events(p: StepPlan) -> bool:
    """Whether step ``p`` waits for an event (so its record may keep an event's id)."""
    return p.kind == WaitKind.name and p.config.event is not None


def retire(txn: Txn, replaced: StepRecord, record: StepRecord) -> StepRecord:
    """``replaced`` took an event and ``record``, of another run of its step, replaces it
    (``WaitKind.replacing``): write the event's retired record in the same commit; return ``record``
    without the event's id (a record built by ``evolve`` from ``replaced`` inherits it)."""
    assert replaced.event_id is not None
    name = txn.plan.steps[replaced.step_id].config.event
    txn.put_step(_data_record(retired_id(name, replaced.event_id), {
        "name": name, "disposition": DELIVERED, "step": replaced.step_id, "run_id": replaced.run_id}))
    return record.evolve(event_id=None) if record.event_id == replaced.event_id else record


def retired_step(rid: str, record: StepRecord) -> str | None:
    """The step whose run took the event of retired record ``rid`` (None: ``rid`` is not one); a copy
    of an execution leaves out those of the steps it runs afresh (``operations.rerun``)."""
    return record.output.get("step") if rid.startswith(EVENT_RECORD) and record.output else None


def _matches(txn: Txn, p: StepPlan, payload: dict[str, Any]) -> bool:
    """Whether ``payload`` satisfies the step's ``match`` (no match: any payload). Raises what the
    expression raised (a missing path reads as null)."""
    config: WaitConfig = p.config
    if config.match is None:
        return True
    context = {**txn.context(p.kind_refs), "event": payload}
    return expressions.condition_holds(config.match, context, [])


def _kept(txn: Txn, name: str) -> list[list[Any]]:
    """The events kept for ``name``, oldest first, each ``[event_id, payload]``: its mailbox, read only
    when the header counts events kept for the name (``header.kept``; none: no read)."""
    if not txn.header.kept.get(name):
        return []
    rid = mailbox_id(name)
    mailbox = _read(txn, [rid]).get(rid)
    return list((mailbox.output or {}).get("events", [])) if mailbox is not None else []


def _consume_kept(txn: Txn, p: StepPlan, now: float) -> None:
    """A wait for an event begins: the oldest kept event of its name that matches completes it (and
    its record keeps the event's id). The mailbox is read only when the header counts events kept
    for the name (``header.kept``)."""
    config: WaitConfig = p.config
    assert config.event is not None
    kept = _kept(txn, config.event)
    rid = mailbox_id(config.event)
    for i, (event_id, payload) in enumerate(kept):
        try:
            if not _matches(txn, p, payload):
                continue
        except Exception:  # noqa: BLE001 -- an event the match cannot judge stays kept
            continue
        txn.put_step(_data_record(rid, {"events": kept[:i] + kept[i + 1:]}))
        _count_kept(txn, config.event, len(kept) - 1)
        transitions.finish_attempt(txn, p.id, payload, None, now, event_id=event_id)
        return


def kept_counts(records: dict[str, StepRecord]) -> dict[str, int]:
    """``header.kept`` of an execution whose records are ``records`` (a copy seeded from another's)."""
    return {rid[len(MAILBOX_RECORD):]: len(rec.output.get("events", [])) for rid, rec in records.items()
            if rid.startswith(MAILBOX_RECORD) and rec.output and rec.output.get("events")}


def _count_kept(txn: Txn, name: str, count: int) -> None:
    """Set the header's count of events kept for ``name``, in the commit that writes its mailbox."""
    if count:
        txn.header.kept[name] = count
    else:
        txn.header.kept.pop(name, None)


# ------------------------------------------------------------ transitions


def check_event(name: Any, payload: Any, event_id: Any) -> None:
    """Raise ``EventRefusedError`` naming the field unless the event is well formed."""
    if not expressions.is_identifier(name):
        raise EventRefusedError(f"event name {str(name)[:80]!r} must be 1-64 letters, digits, '_' or '-'", "name")
    if not isinstance(event_id, str) or not EVENT_ID.fullmatch(event_id):
        raise EventRefusedError(f"event_id {str(event_id)[:80]!r} must be 1-{MAX_EVENT_ID_CHARS} letters, digits, "
                                "'_', '.', ':' or '-', starting with a letter or digit", "event_id")
    try:
        check_payload(payload, f"event {name!r} payload")
    except PayloadError as exc:
        raise EventRefusedError(str(exc), "payload") from None


def deliver(txn: Txn, name: str, payload: dict[str, Any], event_id: str, now: float) -> tuple[bool, EventReceipt]:
    """Complete the first waiting step whose wait is for ``name`` and matches, or keep the event
    for a wait to come; refuse it (``EventRefusedError``, nothing changed) when no step can take it.
    An event already seen (``_seen``) answers what became of it, and changes nothing."""
    h = txn.header
    if h.status in TERMINAL_WORKFLOW_STATUSES:
        raise EventRefusedError(f"execution {txn.key} has ended ({h.status}); no step waits for event {name!r}",
                                "execution")
    waiting = [p for p in txn.plan.steps.values() if takes_events(p) and p.config.event == name]
    if not waiting:
        names = sorted({p.config.event for p in txn.plan.steps.values() if takes_events(p)})
        raise EventRefusedError(f"no step of execution {txn.key} waits for event {name!r} "
                                f"(events waited for: {', '.join(names) or 'none'})", "name")
    txn.prefetch([p.id for p in waiting], [])
    seen = _seen(txn, name, event_id, [p.id for p in waiting])
    if seen is not None:
        return False, seen
    txn.prefetch_schedule([p.id for p in waiting])
    unmatched: list[str] = []
    to_come = False
    for p in waiting:
        rec = transitions.claimed_step(txn, p.id)  # a claim written ahead, never committed: still to come
        if rec.status in (StepStatus.READY, StepStatus.RETRY):
            to_come = True
            continue
        if rec.status != StepStatus.IN_PROGRESS:
            continue
        try:
            holds = _matches(txn, p, payload)
        except Exception as exc:  # noqa: BLE001 -- whatever an operator raised refuses the event
            raise EventRefusedError(f"step {p.id!r}, {expressions.describe_failure('wait.match', p.config.match, exc)}",
                                    "payload") from None
        if not holds:
            unmatched.append(p.id)
            continue
        transitions.finish_attempt(txn, p.id, payload, None, now, event_id=event_id)
        h.updated_at = transitions.iso(now)
        return True, EventReceipt(event_id, name, DELIVERED, p.id, rec.run_id)
    if not to_come:
        why = (f"step {', '.join(repr(s) for s in unmatched)} waits for it but its match does not hold"
               if unmatched else f"every step that waits for it ({', '.join(p.id for p in waiting)}) has finished")
        raise EventRefusedError(f"event {name!r} refused: {why}", "payload" if unmatched else "name")
    return True, _keep(txn, name, payload, event_id, now)


def _seen(txn: Txn, name: str, event_id: str, waiting: list[str]) -> EventReceipt | None:
    """What became of event ``event_id`` of ``name`` if it came before (a duplicate's receipt), from
    the records of the steps ``waiting`` for the name: one whose run took it; else the mailbox, read
    only when the header counts events kept for the name; else, only when one of those steps has run
    before (run_id > 0), the event's retired record (``retire``)."""
    for sid in waiting:
        rec = txn.step(sid)
        if rec.event_id == event_id:
            return EventReceipt(event_id, name, DELIVERED, sid, rec.run_id, duplicate=True)
    if any(kept_id == event_id for kept_id, _ in _kept(txn, name)):
        return EventReceipt(event_id, name, KEPT, duplicate=True)
    if any(txn.step(sid).run_id > 0 for sid in waiting):
        rid = retired_id(name, event_id)
        retired = _read(txn, [rid]).get(rid)
        if retired is not None and retired.output:
            data = retired.output
            return EventReceipt(event_id, name, data["disposition"], data.get("step"), data.get("run_id"),
                                duplicate=True)
    return None


def _keep(txn: Txn, name: str, payload: dict[str, Any], event_id: str, now: float) -> EventReceipt:
    """Keep the event in its name's mailbox (which says it came, for a duplicate) for a wait to come."""
    kept = [*_kept(txn, name), [event_id, payload]]
    size = len(encode_json(kept).encode())
    if size > MAX_PAYLOAD_BYTES:
        raise EventRefusedError(f"event {name!r} arrived before any step waits for it, and the events kept for "
                                f"it would take {size:,} bytes of JSON; the limit is {MAX_PAYLOAD_BYTES:,}", "payload")
    txn.put_step(_data_record(mailbox_id(name), {"events": kept}))
    _count_kept(txn, name, len(kept))
    txn.header.updated_at = transitions.iso(now)
    return EventReceipt(event_id, name, KEPT)


# --------------------------------------------------------------- callbacks


def callback_token(key: str, sid: str, run_id: int, nonce: str) -> str:
    """The opaque token that completes step ``sid`` at ``run_id`` of execution ``key``."""
    raw = "\n".join((key, sid, str(run_id), nonce)).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def with_tokens(key: str, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """History ``events`` of execution ``key`` as readers see them: a ``waiting`` event stored with its
    callback's nonce (the token's one part not in the event already) carries the whole token instead.
    The token repeats the execution key, about 150 bytes that do not compress: stored in each such
    event, it filled the history buffer riding in a DynamoDB header three times as fast."""
    return [{k: v for k, v in e.items() if k != "nonce"}
            | {"token": callback_token(key, e["step"], int(e["run_id"]), str(e["nonce"]))}
            if e.get("type") == Ev.WAITING and "nonce" in e else e for e in events]


def parse_token(token: Any) -> tuple[str, str, int, str]:
    """(execution, step, run_id, nonce) of a callback token; ``EventRefusedError`` if it is not one."""
    bad = EventRefusedError("not a callback token (copy it whole from describe or the step's history)", "token")
    if not isinstance(token, str) or not 0 < len(token) <= 1024:
        raise bad
    try:
        parts = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode().split("\n")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise bad from None
    if len(parts) != 4 or not parts[2].isdigit() or not expressions.is_identifier(parts[1]):
        raise bad
    return parts[0], parts[1], int(parts[2]), parts[3]


def complete(txn: Txn, sid: str, run_id: int, nonce: str, output: Any, error: dict[str, Any] | None,
             heartbeat: bool, now: float) -> tuple[bool, Any]:
    """Apply a callback: a heartbeat pushes the heartbeat deadline on; an output or an error ends
    the attempt like a task's result. A token for a wait that is over is refused."""
    h = txn.header
    p = txn.plan.steps.get(sid)
    if p is None or p.kind != WaitKind.name or p.config.timed:
        raise EventRefusedError(f"step {sid!r} of execution {txn.key} is not a wait for an event or callback", "token")
    if h.status in TERMINAL_WORKFLOW_STATUSES:
        raise EventRefusedError(f"execution {txn.key} has ended ({h.status}); step {sid!r} waits no more", "token")
    rec = txn.step(sid)  # committed: a claim that draws a nonce is never written ahead (``draws_at_claim``)
    data: dict[str, Any] = rec.callback or {}
    legacy = None
    if not data and rec.status == StepStatus.IN_PROGRESS and rec.run_id == run_id and hands_token(p.config):
        legacy, data = _legacy(txn, sid, run_id)  # a wait begun by the previous release: one read more
    if rec.status != StepStatus.IN_PROGRESS or rec.run_id != run_id or not data \
            or not secrets.compare_digest(str(data.get("nonce")), nonce):
        raise EventRefusedError(f"the token is for step {sid!r} run {run_id}, which is not waiting any more "
                                f"(it is {rec.status} at run {rec.run_id})", "token", txn.key)
    h.updated_at = transitions.iso(now)
    if heartbeat:
        if p.config.heartbeat_seconds is None:
            return False, None  # nothing to push on; a heartbeat is harmless
        beat = now + p.config.heartbeat_seconds
        timeout_at = _timers(p, _armed_at(txn, p, rec, data), data)[0]
        data = {**data, "heartbeat_at": beat}
        txn.put_step(rec.evolve(callback=data) if legacy is None else legacy.evolve(output=data))
        h.deadlines.pop(sid, None)
        _arm(txn, p, run_id, beat, *([timeout_at] if timeout_at is not None else []))
        return True, None
    if error is not None:
        return True, transitions.finish_attempt(txn, sid, None, error, now)
    if not isinstance(output, dict):
        raise EventRefusedError(f"a callback's output must be a JSON object, got {type(output).__name__}", "output")
    return True, transitions.finish_attempt(txn, sid, output, None, now)


def waiting_callbacks(key: str, stored: dict[str, StepRecord], plan: Plan) -> dict[str, dict[str, Any]]:
    """Per waiting step, its callback token and timers, from every stored record of ``key``
    (for ``describe``): the token data on each step record in progress, or, for a wait begun by the
    previous release, its ``~wait~`` record at the step's run."""
    out: dict[str, dict[str, Any]] = {}
    for rid, rec in stored.items():
        data = rec.callback
        if rid.startswith(WAIT_RECORD):  # the previous release's: only when its step's record has none
            sid, wait = rid[len(WAIT_RECORD):], rec
            rec = stored.get(sid) or wait
            if rec.callback is not None or rec.run_id != wait.run_id or rec is wait:
                continue
            data = wait.output
        else:
            sid = rid
        if not data or rec.status != StepStatus.IN_PROGRESS or sid not in plan.steps:
            continue
        timeout_at, heartbeat_at = _timers(plan.steps[sid], _armed_at(None, plan.steps[sid], rec, data), data)
        out[sid] = {"token": callback_token(key, sid, rec.run_id, str(data.get("nonce"))), "run_id": rec.run_id,
                    "timeout_at": _iso_or_none(timeout_at), "heartbeat_at": _iso_or_none(heartbeat_at)}
    return out


def _iso_or_none(ts: Any) -> str | None:
    return transitions.iso(ts) if ts is not None else None


WAIT = kinds.register(WaitKind())
