"""dynamodb_store.py -- the Store on one DynamoDB table: a step costs O(1) items.

Key schema (names in ``_keys.py``): partition ``pk`` = execution key
(``{workflow_id}#{execution_id}``), sort key ``sk``:

==================  ==========================================================
sk                  attributes
==================  ==========================================================
``def``             ``data`` (B) zlib(JSON(ExecutionDefinition)), or its first
                    piece; ``parts`` (N) how many pieces. Immutable.
``def#0001``...     ``data`` (B) the next pieces, when the compressed
                    definition exceeds 60,000 bytes. Immutable.
``header``          ``version`` (N) the optimistic-concurrency fence;
                    ``status`` (S); ``unsent`` (M) step -> {``run_id`` (N),
                    ``claimed_at`` (N)}, the inline unsent claims, changed
                    only by per-step deltas; ``body`` JSON of the rest of
                    ExecutionHeader, less its empty schedules and null fields
                    (inline schedule entries, and ``spill``:
                    per schedule [gen, spilled, next_at(, start)]): (S) up to 1 KB,
                    else (B) zlib-compressed; ``pending`` (M) the journal
                    marker while a large commit is half applied; ``stamped``
                    (N) no item expires before it ("Retention"); ``state``
                    (M) key -> JSON text, state entries riding in the
                    header ("Inline state"); ``recs`` (M) step -> {``at``
                    (N), ``r`` (S) JSON of the record less its step id},
                    step records riding in it ("Inline records").
``sched#<s>#<g>#<step>`` ``schedule`` (S), ``step_id`` (S), ``value`` (S) JSON:
                    a spilled entry of schedule s at generation g; unsent
                    ones also ``run_id`` (N). Without ``value``: a tombstone.
``journal#<v>#<i>`` ``data`` (B) zlib(JSON) of piece i of the commit that made
                    version v: items and unsent changes still to apply.
``step#<step_id>``  ``step_id`` (S); ``record`` (S) JSON of the StepRecord (the fields it has), or
                    (B) zlib-compressed when the item would pass 1 KB and that is smaller;
                    ``run_id`` (N) and ``phase`` (S) its run and status ("Claims ahead");
                    ``owner`` (S) on a results record written ahead ("Results slots ahead");
                    ``at`` (N) the version of the commit that wrote (or would write) it.
``state#<key>``     ``state_key`` (S); ``value`` (S) JSON of the value, for an
                    entry not in the header's ``state`` (where it is, this
                    item, if any, is older and never read).
==================  ==========================================================

and the name claim: pk ``name#<name>``, sk ``name``, ``execution`` (S) the
key that holds the name, ``name`` (S). With a retention every item also
carries ``expires_at`` (N), the TTL attribute. Over-long ids are hashed (``_keys.py``).

Why this shape:

- State is one item per key, not shards: DynamoDB bills a write by the size
  of the whole item, so merging 1 KB into a 300 KB shard would cost 300 write
  units; per-key items keep write units per step flat as state grows, and a
  commit writes only the keys it carries (a Put each, no read).
  Small entries cost no item at all: they ride in the header ("Inline state").
- Values are JSON strings, not maps (see ``_items.py``): exact round trips.
- ``unsent`` entries move by ``SET unsent.#s`` / ``REMOVE unsent.#s`` only,
  and ``mark_sent`` is conditional on the entry's run_id and leaves
  ``version`` alone, so it commutes with any commit.

The header (constant in size): each schedule keeps at most
``schedule_inline_bytes`` (8 KB: a step id plus 32 bytes per entry) inline;
a commit that would pass it moves its newest entries to ``sched#`` items in
the same commit (for ``unsent``, only the claims the commit adds: the
inline view may hold entries ``mark_sent`` already removed). So the header
item stays under 5 x 8 KB of entries plus its outcome and error, at any
width. Ordinary workflows never reach the budget (a 200-wide fan-out with
short ids is about 7 KB) and pay nothing for it. A spilled entry is read by
key (one BatchGetItem with the header, for all of a step's entries, or many
steps') or by a Query page on ``sched#<s>#<g>#`` (never a Scan), only when
the header's summary says one may exist or be due; the Query starts after
the schedule's read cursor ``start`` (the sort key, less the prefix, at or
before which every entry is removed: ``records.Schedule``), so claiming a
10,000-wide ready set 50 at a time reads each entry a few times, not once
per claim before it. It is removed by a
transactional Update that drops its ``value`` (a tombstone: the engine's
role may not DeleteItem; reads skip tombstones), and once a schedule's last
spilled entry is gone it moves to a new generation, so tombstones are never
read again. A new execution whose ready set or join counters pass the
budget (a wide static fan-out) writes its spilled entries with
BatchWriteItem *before* its header, under a fresh random generation: until
the header naming it exists they are never read, so a create that fails
(the key or name is taken) leaves only unreferenced items. The invariant
is ``records.py``'s: the header alone says which spilled entries exist, and
they change only in the commit that changes the header.

Consistency: ``commit`` is one TransactWriteItems fenced by ``version``
(with its claims, a map's new results records and what leaves the header
written just before it: "Claims ahead", "Results slots ahead", "Evictions
ahead"), or, when all it writes rides in the header, one conditional
UpdateItem ("Inline records").
``load_snapshot`` reads header, steps and state in one TransactGetItems,
which DynamoDB serialises against transactions (an atomic snapshot). The
separate ``load_*`` calls are each strongly consistent; used together they
are safe only header first (anything newer than the header then carries a
higher version and the commit fails with ``ConflictError``). Loading named
steps or state is one BatchGetItem that also asks for the header, projected
to its key, so a missing execution is told from missing records in one call.
A transition that reads the whole state after its snapshot reads the state
items by one Query, the header's entries known from the snapshot
(``load_state_after``: a fan-in's join, 3 round trips instead of 4); the
records it reads after its header are those the header does not hold
(``load_steps_after``: an event for a wait whose records ride in the header
reads nothing after the header).

Claims ahead (``Commit.claims``): a commit whose claims are records every
claimer of that (step, run_id) makes alike -- a task's or a wait's
(``StepKind.begins_alike``) whose inputs read only upstream outputs and the
workflow's inputs, fixed while the step is not complete since a reset bumps
its run_id (``transitions.claims_ahead``) -- writes each such step record by
one conditional PutItem *before* its TransactWriteItems, which then holds one item
fewer each: 1 write unit instead of 2 (the chain's claim of its next step). A claim
that sends no job (a wait's) rides in the header instead when it fits ("Inline
records"), where the step's next record replaces it and no item is ever written
for it; only when the header has no room does it go ahead like a task's. A
wait that hands out a token draws its nonce at the claim, so its claim is no
claim ahead (``StepKind.draws_at_claim``), and a wait over as it begins (a
kept event, a time past) is no claim (``Txn.to_commit``). Step items carry ``run_id`` (N) and
``phase`` (S, the record's status) for the condition: the put lands only where
there is no record, or one at the same run_id still ``ready`` or ``retry``; if
the record already holds this claim (same run_id, attempt, token and inputs: a
concurrent claimer's, or this transition's before a conflict) it is left as it
is; anything else (the previous attempt still in progress, a result, an older
item without the attributes) goes back into the transaction, as before. The
invariant: *no record past a claim is ever written outside the version
fence.* What a put ahead leaves when its commit loses or its process dies is
an orphan: the record the step's claim at that run will hold, on a step that
what did commit says was not claimed at that run -- the header still lists it
ready, or, when the claim rode in the commit that made it ready (the chain's
case), still counts it among its joins, or its only dependency's record is
not complete. No one acts on it: a reader that could reads the record
through ``transitions.as_claimed``, which reports it not begun (an answer
with no run_id is not applied, an event for the wait is kept for the wait to
come, describe shows the step ready), and every other acts only on committed
proof of the claim at that run: a task's job (so its results), a deadline,
an unsent entry, a callback's nonce (on a claim never written ahead). The
next claim of that run, by any process, finds the record in place and
commits the header. Only run_id, attempt, token and inputs are
the claim's: the record left in place may carry another claimer's
``start_time`` and ``host`` (display only: a wait's timers come from what its
commit armed, ``wait._armed_at``). If the execution ends first the orphan is
reported cancelled like any open step. A commit of several claims (a fan-out,
up to ``max_steps_per_commit``) puts them all at once from a pool of threads
(``PARALLEL_WRITES``, within the client's connection pool: ``factory`` makes
the Lambdas' clients with room for it), so they take the wall time of one
round trip: each claim then costs 1 write unit instead of 2, and a fan-out's
commit that places its result record in the header ("Inline records") is
one UpdateItem. The puts are independent of each other (each its own item
and condition), so their order does not matter; one that fails its
condition goes into the transaction alone, and one that fails otherwise
fails the commit before its update, leaving only orphans. Cost of the
saving: one DynamoDB round trip before the commit (before a task's job is sent: the chain's critical path goes from 2
to 3), and an event for a wait that may be claimed ahead, with one
dependency, reads that dependency's record with it (``events.py``; 1 read
unit when small, none more when the step it makes ready reads it anyway).

Results slots ahead (``Commit.slots``): a commit that applies map results
writes its new results record ``{step}:{run}:results:{n}`` (n: the
window's ``records`` before the commit; ``engine/map.py``) by one
conditional PutItem *before* its TransactWriteItems, which then holds one
item fewer: a record of 6 KB as stored costs 6 write units instead of 12.
Two facts of the engine make this safe: *a record at a slot is read only
once a committed window counts the slot* (readers read records 0 to
``records - 1``, by key, after the header), and *every commit that counts
a slot writes that slot's record itself* (``records`` moves from n to n+1
only in the commit that writes record n). So what a put ahead leaves when
its commit loses, or its process dies, is an orphan at a slot no committed
window counts: no one reads it, and the commit that does take the slot
writes over it (an orphan under a run that ends or is reset before that is
never read, and expires with the execution: it is stamped like every item).
The invariant kept: *no record a commit wrote is ever written outside the
version fence.* The put's condition is that the slot is free
(``attribute_not_exists``) or holds an orphan this store *knows* is one:
each put ahead carries a fresh random ``owner`` token, and only when its
commit is then refused (``ConflictError``: the transaction was cancelled,
nothing of it applied) does the store remember (slot, owner); the next put
ahead at that slot, by any thread of this store, may overwrite the item
only while it still carries that owner. A record a commit wrote carries
either the owner of a put whose commit was *not* refused (never
remembered) or, written inside the transaction, no owner: the condition
fails on it whoever asks, so a process with a stale window (another
process's, another thread's of the same store, or its own retry after a
commit whose reply was lost) can never overwrite a committed slot ahead of
the fence: its put fails, the record goes into its transaction, and the
version check refuses that. Any put that fails its condition (another
writer's orphan, or a lost race) sends the record into the transaction as
before, where, fenced by the version, it overwrites an orphan. A token per
store instance (or per store and expected version) would not do: two
threads of one store, or one retrying on a cached snapshot after a lost
reply, would share it and pass the condition over a committed record.
A commit that journals ("Commits larger than a transaction") keeps its
records in its pieces, as before. Which records go ahead: those of at least
``slot_ahead_min_units`` (2) write units as stored; a smaller one (a
commit of ten 100-byte results compresses to under 1 KB) would save one
write unit for one more call, which would take a map with ``batch: 1``
past one AWS call per item (1.01 instead of 0.91: ``bench/aws_calls.py``).
Cost of the saving: one round trip per record before the commit (on the
result router's path to the jobs the results free), only for the commits
that write one; a commit of more results than one record holds (32 KB of
JSON) opens several and puts them one after the other (about four for
ten jobs of ten 1 KB results). The retry of a commit refused after its
put puts its record again over its own orphan; the record goes into the
transaction instead only when another store left the orphan, or this one
has forgotten it (it remembers the last 1,024: ``_ORPHAN_CACHE``).

Create: an execution without a name is two plain PutItems, each where no
item is: its definition (one piece), then its header; 2 write units where
one transaction of the two cost 4. The header alone says an execution
exists (every read starts from it), so a create that dies between the two
leaves a definition no one reads; the next create of that key writes its
own over it, in the transaction it then takes (a definition is put ahead
only where none is, and inside a transaction only the header's condition
guards the key). A header put refused because the header exists is this
create's own put, retried after a lost reply, when the item found is the
one it put (``ReturnValuesOnConditionCheckFailure``); otherwise the key is
taken. A named create (the name claim and the header must land together)
and a definition in several pieces keep the one transaction of everything.

Inline state (``_place_state``): a commit writes each state entry it merges
into the header's ``state`` map while the header stays within the write
units it takes without them (and the map within ``INLINE_STATE_BYTES``,
1 KB; the header's size counted with ``HEADER_CREATED_BYTES`` for the
attributes set at create, which a commit does not rewrite); an entry that does not fit is an item of its own, and the header
drops any copy of it. The header is written by every commit anyway, so an
entry in it costs nothing: the chain's ``x`` was an item in every commit's
transaction, 2 write units per step (``bench/aws_calls.py``: 8.11 -> 6.11
per step at 200 steps). When the header grows (its history buffer fills, an
error is set) and the entries no longer fit, the largest leave for items
("Evictions ahead"); a new entry that does not fit takes the room of
committed ones when their puts cost less than its own item in the
transaction (one small entry for another: 1 write unit instead of 2), else
it is an item of the commit; an entry goes back into the header only when a
commit changes it, so each placement costs at most what writing it as an
item would have.
Readers overlay the map on the items: the header is read first or in the
same atomic read (``load_snapshot``'s TransactGetItems, ``load_state``'s
BatchGetItem with the header projected to its marker, version and map, the
whole-state Query after a header read), and an entry in the map is the
newer wherever both exist, since the map changes only in the fenced header
update, together with the items the commit writes. The invariant: *at every
version, each state key's value is the header's entry if it has one, else
its item.* To rewrite the map the commit must know it at the version it
builds on: the store remembers it per execution from the last header it
read or wrote (on a miss: one GetItem, which also reads the history buffer). Known
limit: a snapshot asks for a key's item even when its entry is in the header
(the header is read in the same call), 2 read units wasted per key asked.

Inline records (``_place_records``): the step records a commit writes ride
in the header's ``recs`` map, under the same rule as inline state (while the
header stays within the write units it takes without them, and the map
within ``INLINE_RECORD_BYTES``, 1 KB): any record but a map's results slots
(``Results slots ahead``, written ahead), a wait's reserved records included
(its mailbox, an event id retired by a loop), and a claim that sends no job
(a wait's). A record rides as the fields it has, less its step id (the map's
key) and those at their defaults (token "", run and attempt 0): a wait's
claim in about 100 bytes, a small result about 180. A new record that does not fit takes
the room of committed records, largest first, put ahead as evictions, up to
what it would cost as an item of the transaction: each committed record
leaves the header by a put of its own sooner or later, so evicting it early
costs nothing more unless the execution would have ended with it inline,
and the commit stays the header's one UpdateItem. A commit whose every
write then rides in the header is one
conditional UpdateItem: 1 write unit for a header under 1 KB, where a
transaction of the header and a record cost 4 (each item billed twice). The
chain's result commit is such a commit (its record and state entry in the
header, its next claim written ahead): ``bench/aws_calls.py``, chain of 200,
from 6.15 to 4.12 write units per step; so is the commit that begins a wait
(its claim, with a callback's nonce, and the previous step's record in the
header), and the answer's commit that completes it (the wait's completed
record in place of its claim): a completed wait costs about 2 write units
(``bench/aws_calls.py``, the wait rows: 7.3 for an event before). A record
leaves the header one of two ways, each 1 write unit where an item of the
transaction costs 2. When the commit claimed jobs, after they are sent,
``mark_sent`` puts each record the commit placed as its item (*write
behind*: a conditional PutItem, ``at`` <= the commit's version or no ``at``)
and, in the same UpdateItem that drops the unsent entries, removes the
header's copies, each conditioned on still being the copy of that version.
Otherwise (no job followed, or its process died first) the copy stays in
the header, read like any, until a commit that needs the room puts it as
its item ahead of its update ("Evictions ahead"); a commit that ends the
execution leaves its records there for good. Readers overlay the map on the
items exactly as for inline state (the header read first or in the same
atomic read); a commit rewriting a step's record drops the header's copy (a
claim written ahead counts). The invariant: *at every version, each step's
record is the header's copy if it has one, else its item*; and an item is
written only with a record committed at its ``at`` or later (a write behind
or an eviction never goes back: its condition), so a copy leaves the header
only once its item holds it. A commit of the header alone has no
ClientRequestToken to make botocore's retry after a lost reply idempotent:
a refusal whose returned item (``ReturnValuesOnConditionCheckFailure``) is
this very update at the next version is the commit landing.

Evictions ahead (``_write_ahead``): a state entry or step record leaving
the header (it no longer fits, or makes room for a new entry) holds a
committed value: the one at the version the commit builds on. Its item is
put before the fenced update by a conditional PutItem carrying ``at`` (for a
state entry that version, for a record the version that committed it),
landing only where the item is absent or holds an ``at`` no later: 1 write
unit where an item of the transaction costs 2 (``bench/aws_calls.py``, the
fan-out/in of 200, whose partial results overflow the header's room for
state: 5.12 -> 4.31 write units per step). Safe because the invariant of
the inline maps holds at every version: while the header holds a copy, the
item is never read, so a put whose commit then loses (or whose process
dies) leaves an item holding a value the header overlays, committed at or
before it; and once a commit drops the copy, the item holds the value the
copy held, put before that commit. What the condition keeps out is a stale
evictor going back over a value a later commit wrote (that item's ``at`` is
later): its put is refused, and the entry goes into its transaction, which
the version check then refuses. Two evictors of the same version put the
same value. The items a commit writes itself carry ``at`` = its version.
The puts go in one wave with the commit's claims (``_each``); a commit that
claims jobs with no claim written ahead keeps its evictions in its
transaction instead, since a wave of their own would add a round trip
before its jobs are sent. An item written before this release has no ``at``:
its eviction goes into the transaction.

Commits larger than a transaction (journal items, the ``pending`` marker, ``_settle``): ``_ddb_journal.py``.

Retention (``expires_at`` stamped at write, renewed while running): ``_ddb_retention.py``.

History (the header's ``log`` buffer and ``history#`` items): ``_ddb_history.py``.

Listing (the ``by_status``, ``by_start`` and ``by_name`` indexes): ``_ddb_listing.py``.

Known limits (checked before any write; ``ItemTooLargeError`` /
``CommitTooLargeError``, both ``StoreLimitError``: the engine then ends the
execution ``failed`` naming the limit, never retries it forever): any item
at most 400 KB (a step record, a state entry, the header); a commit whose
items over 350 KB (too large to journal) do not fit in one 4 MB transaction;
a definition at most about 3.9 MB compressed. The header is bounded (above)
at any width. In a run wide enough to spill, a claim or result touches a
few more items (a spilled entry written and later tombstoned: 4 write units
each), and a Query page read again from the cursor rereads the entries of
it not yet claimed (up to ``SPILL_PAGE_ITEMS`` / ``max_steps_per_commit``
times). ``max_steps_per_commit`` (50) is how
many claims one commit takes, so jobs go out as they are claimed.
"""

from __future__ import annotations

import contextvars
import functools
import json
import random
import secrets
import threading
import time
import uuid
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..backend.store import Store
from ..engine.records import (
    ABSENT,
    SCHEDULES,
    Commit,
    ExecutionDefinition,
    ExecutionHeader,
    Schedule,
    StepRecord,
    entry_value,
)
from ..errors import ConflictError, ExecutionExistsError, ExecutionNotFoundError, RunfoxError
from ..listing import start_time
from ..payloads import encode_json
from ..status import TERMINAL_WORKFLOW_STATUSES, StepStatus
from . import _items as it
from ._clients import default_client, error_code
from ._ddb_common import _remember, log
from ._ddb_history import LOG, HistoryMixin
from ._ddb_history import LOG_FLUSH_BEHIND_BYTES as LOG_FLUSH_BEHIND_BYTES  # (tests import it from here)
from ._ddb_journal import MAX_UNSENT_DELTAS, PENDING, JournalMixin, _marker
from ._ddb_listing import LISTED, ListingMixin
from ._ddb_retention import EXPIRING, STAMPED, RetentionMixin
from ._ddb_retention import RENEW_SLACK_SECONDS as RENEW_SLACK_SECONDS  # (tests import it from here)
from ._keys import (
    PK,
    SK,
    SK_DEF,
    SK_HEADER,
    SK_NAME,
    STATE_PREFIX,
    STEP_PREFIX,
    TTL_ATTRIBUTE,
    def_chunk_sk,
    name_pk,
    spill_prefix,
    spill_sk,
    state_sk,
    step_sk,
)
from .exceptions import CommitTooLargeError, ItemTooLargeError

DEF_PIECE_BYTES = 60_000  # compressed definition bytes per item: every item of a 10,000-step spec under 64 KB
INLINE_STATE = "state"  # header attribute (M): state key -> JSON text, the entries riding in the header ("Inline state")
RECS = "recs"  # header attribute (M): step -> {at (N), r (S) JSON}, step records riding in the header ("Inline records")
AT = "at"  # step item attribute (N): the version of the commit that wrote (or would write) its record
_RECORD_ATTRIBUTES = (PK, SK, "step_id", "record", "state_key", "value", "schedule", "status", PENDING, EXPIRING,
                      STAMPED, "version", INLINE_STATE, RECS)  # what step/state loads read (the header's fields
# that ``_settle`` looks at, and its inline state entries at its version)
_RETRIES = 8  # attempts for unprocessed keys and transaction conflicts on reads
SCHEDULE_INLINE_BYTES = 8 * 1024  # per schedule: entries past it are spilled to items of their own
SPILL_PAGE_ITEMS = 200  # spilled entries per Query page (due() stops reading once it has enough)
OWNER = "owner"  # step item attribute: the token of the put that wrote a results slot ahead ("Results slots ahead")
OWNER_BYTES = 12  # random bytes of an owner token (written as twice as many hex digits)
SLOT_AHEAD_MIN_UNITS = 2  # write units (as stored) from which a results-slot record goes ahead of its commit
_ORPHAN_CACHE = 1024  # records put ahead for refused commits that a store remembers (to reuse their slots)
INLINE_STATE_BYTES = 1024  # at most this many bytes of state entries ride in the header
INLINE_RECORD_BYTES = 1024  # at most this many bytes of step records ride in the header
PARALLEL_WRITES = 50  # single-item writes a store has in flight at once (claims ahead, records behind)
_INLINE_CACHE = 1024  # executions whose inline state at a version a store remembers
# bytes of the header's attributes a commit never rewrites (``listed``, ``started``, ``stamped``, a name of
# up to 128 characters): counted in the header's size when placing inline state
HEADER_CREATED_BYTES = 200
_CREATED_ATTRIBUTES = ("listed", "started", STAMPED, "name")  # what HEADER_CREATED_BYTES stands for


def _inline_size(entries: dict[str, str]) -> int:
    """Bytes the header's inline state attribute takes with ``entries`` (0 when there are none)."""
    return it.item_size({INLINE_STATE: {"M": {k: {"S": text} for k, text in entries.items()}}}) if entries else 0


def _recs_of(header_item: dict[str, Any]) -> dict[str, tuple[int, str]]:
    """The records riding in a header item ("Inline records"): step -> (the version that put it there,
    its JSON text)."""
    return {sid: (int(v["M"][AT]["N"]), v["M"]["r"]["S"]) for sid, v in header_item.get(RECS, {}).get("M", {}).items()}


def _record_dict(record: StepRecord) -> dict[str, Any]:
    """A record as stored: the fields it has (one left out reads as its default, ``StepRecord.from_dict``)."""
    return {k: v for k, v in record.to_dict().items() if v is not None}


_REC_DEFAULTS = {"token": "", "run_id": 0, "attempt": 0}  # what a record riding in the header leaves out


def _rec_text(record: StepRecord) -> str:
    """A record's JSON as it rides in the header's ``recs``: as stored, less its step id (the map's key)
    and the fields at their defaults (``_REC_DEFAULTS``): a wait's claim in about 100 bytes."""
    d = _record_dict(record)
    del d["step_id"]
    return encode_json({k: v for k, v in d.items() if k not in _REC_DEFAULTS or v != _REC_DEFAULTS[k]})


def _rec_of(sid: str, text: str) -> StepRecord:
    """The record ``_rec_text`` wrote for ``sid`` (or an older release's whole JSON)."""
    return StepRecord.from_dict({"step_id": sid, **_REC_DEFAULTS, **json.loads(text)})


def _recs_value(recs: dict[str, tuple[int, str]]) -> dict[str, Any]:
    """``recs`` as the header's attribute value (NULL: none, the attribute removed)."""
    if not recs:
        return {"NULL": True}
    return {"M": {sid: {"M": {AT: it.n(at), "r": it.s(text)}} for sid, (at, text) in recs.items()}}


def _chunks(seq: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


def _backoff(attempt: int) -> None:
    time.sleep(random.uniform(0, min(1.0, 0.02 * 2**attempt)))


def _reason_codes(exc: BaseException) -> list[str]:
    reasons = getattr(exc, "response", {}).get("CancellationReasons") or []
    return [r.get("Code") or "None" for r in reasons]


class _Spilled:
    """The spilled schedule entries of one execution (``records.SpillSource``): read by key in one
    BatchGetItem, or a page at a time by a Query on their prefix -- never a Scan."""

    def __init__(self, store: DynamoDBStore, key: str):
        self.store, self.key = store, key

    def fetch(self, wanted: list[tuple[str, int, str]]) -> dict[tuple[str, str], Any]:
        keys = [self.store._key(self.key, spill_sk(name, gen, sid)) for name, gen, sid in wanted]
        _, items = self.store._batch_get_checked(self.key, keys)
        return {(item["schedule"]["S"], item["step_id"]["S"]): entry_value(item["schedule"]["S"], it.from_js(item["value"]))
                for item in items if "value" in item}

    def pages(self, name: str, gen: int, after: str | None = None) -> Iterator[tuple[list[tuple[str, Any]], str | None]]:
        yield from self.store._spill_pages(self.key, name, gen, after)

    def position(self, name: str, gen: int, key: str) -> str:
        return spill_sk(name, gen, key)[len(spill_prefix(name, gen)):]


class DynamoDBStore(JournalMixin, HistoryMixin, RetentionMixin, ListingMixin, Store):
    """Executions in the DynamoDB table ``table`` (key schema: module docstring)."""

    max_steps_per_commit = 50
    slot_ahead_min_units = SLOT_AHEAD_MIN_UNITS
    max_bytes_per_commit = it.MAX_TRANSACTION_BYTES - 64 * 1024
    schedule_inline_bytes = SCHEDULE_INLINE_BYTES
    inline_state_bytes = INLINE_STATE_BYTES
    inline_record_bytes = INLINE_RECORD_BYTES

    def __init__(self, table: str, client: Any = None, *, execution_ttl_seconds: int | None = None,
                 clock: Callable[[], float] = time.time):
        """``execution_ttl_seconds``: keep a finished execution's items this long after it ends, then let
        DynamoDB TTL delete them (see ``_ddb_retention.py``); None keeps them forever.
        ``clock``: epoch seconds the stamps count from (DynamoDB TTL compares them with wall time)."""
        if execution_ttl_seconds is not None and execution_ttl_seconds < 1:
            raise ValueError(f"execution_ttl_seconds must be >= 1 (or None), got {execution_ttl_seconds!r}")
        self.table = table
        self.execution_ttl_seconds = execution_ttl_seconds
        self.clock = clock
        self._client = client
        self._client_lock = threading.Lock()
        self._logs: OrderedDict[str, tuple[int, list[dict[str, Any]]]] = OrderedDict()  # key -> (version, log)
        self._stamps: OrderedDict[str, tuple[int | None, str]] = OrderedDict()  # key -> (stamped, status) last seen
        # (execution, sk) -> owner of a record this store put ahead for a commit that was refused
        self._orphans: OrderedDict[tuple[str, str], str] = OrderedDict()
        # key -> (version, the header's inline state entries at that version: key -> JSON text, and its
        # inline records: step -> (at, JSON text))
        self._inline: OrderedDict[str, tuple[int, dict[str, str], dict[str, tuple[int, str]]]] = OrderedDict()
        self._created: OrderedDict[str, int] = OrderedDict()  # key -> bytes of its header's created attributes
        # key -> step -> item (its ``at`` the version that placed it): records this store's commits placed in
        # the header, to be put as items and dropped from it by the mark_sent that follows ("Inline records")
        self._behind: OrderedDict[str, dict[str, dict[str, Any]]] = OrderedDict()
        self._pool: ThreadPoolExecutor | None = None  # for ``_each``, made on first use

    @property
    def client(self) -> Any:
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    self._client = default_client("dynamodb")
        return self._client

    # -- keys and items ---------------------------------------------------

    def _each(self, fn: Callable[[Any], Any], args: list[Any]) -> list[Any]:
        """``[fn(a) for a in args]``, up to ``PARALLEL_WRITES`` at once (and no more than the client's
        connection pool holds): single-item writes that are independent of each other take one round
        trip of wall time instead of one each. Every call runs to its end; the first error is then raised.
        Known limit: in X-Ray these calls hang under the invocation, not under the handler's subsegment
        (the X-Ray SDK keeps its context per thread; each runs in a copy of the caller's contextvars)."""
        if len(args) <= 1:
            return [fn(a) for a in args]
        with self._client_lock:
            if self._pool is None:
                pool_size = getattr(getattr(getattr(self.client, "meta", None), "config", None),
                                    "max_pool_connections", None) or 10
                self._pool = ThreadPoolExecutor(max_workers=min(PARALLEL_WRITES, pool_size),
                                                thread_name_prefix="runfox-dynamodb")
            pool = self._pool
        # each in a copy of the caller's context: what the caller set (contextvars) holds for its calls too
        futures = [pool.submit(contextvars.copy_context().run, fn, a) for a in args]
        errors = [f.exception() for f in futures]  # (waits for each)
        for error in errors:
            if error is not None:
                raise error
        return [f.result() for f in futures]

    @staticmethod
    def _key(pk: str, sk: str) -> dict[str, Any]:
        return {PK: it.s(pk), SK: it.s(sk)}

    def _header_item(self, key: str, header: ExecutionHeader) -> dict[str, Any]:
        item = self._key(key, SK_HEADER)
        item.update(self._header_attrs(header))
        item["unsent"] = {"M": {step: self._unsent_value(entry) for step, entry in header.unsent.inline.items()}}
        return item

    @staticmethod
    def _header_attrs(header: ExecutionHeader) -> dict[str, Any]:
        body = header.to_dict()
        for name in ("version", "status", "unsent"):
            body.pop(name)
        for name in SCHEDULES:  # what it does not hold reads as empty, or None (from_dict)
            if body.get(name) == {}:
                del body[name]
        for name in ("outcome", "error"):
            if body.get(name, 0) is None:
                del body[name]
        # compressed past 1 KB (``_items.zjs``): the ready set of a wide fan-out shrinks ~5x
        return {"version": it.n(header.version), "status": it.s(str(header.status)), "body": it.zjs(body)}

    @staticmethod
    def _unsent_value(entry: list[float]) -> dict[str, Any]:
        return {"M": {"run_id": it.n(int(entry[0])), "claimed_at": it.n(float(entry[1]))}}

    def _header_from_item(self, key: str, item: dict[str, Any]) -> ExecutionHeader:
        body = item["body"]
        d = it.from_zjs(body)
        d["version"] = int(item["version"]["N"])
        d["status"] = item["status"]["S"]
        d["unsent"] = {
            step: [int(v["M"]["run_id"]["N"]), it.from_n(v["M"]["claimed_at"])]
            for step, v in item.get("unsent", {}).get("M", {}).items()
        }
        return ExecutionHeader.from_dict(d, source=_Spilled(self, key))

    def _spill_item(self, key: str, schedule: Schedule, step: str, value: Any) -> dict[str, Any]:
        item = self._key(key, spill_sk(schedule.name, schedule.gen, step))
        item["schedule"] = it.s(schedule.name)
        item["step_id"] = it.s(step)
        item["value"] = it.js(value)
        if schedule.name == "unsent":  # what mark_sent's conditional delete checks
            item["run_id"] = it.n(int(value[0]))
        return item

    def _tombstone(self, key: dict[str, Any]) -> dict[str, Any]:
        """The transaction action that removes a spilled entry: its value goes, its key stays (the engine
        is granted no DeleteItem; a tombstone is never read, and its generation is dropped once empty)."""
        return {"Update": {"TableName": self.table, "Key": key, "UpdateExpression": "REMOVE #v, #r",
                           "ExpressionAttributeNames": {"#v": "value", "#r": "run_id"}}}

    def _spill_pages(self, key: str, name: str, gen: int,
                     after: str | None = None) -> Iterator[tuple[list[tuple[str, Any]], str | None]]:
        """Schedule ``name``'s spilled entries at generation ``gen`` whose sort key follows the prefix's
        ``after`` (the schedule's read cursor), a Query page at a time, each with where it stopped
        (the sort key after the prefix of the last item it read, a tombstone or not; None at the end)."""
        prefix = spill_prefix(name, gen)
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "#pk = :pk AND begins_with(#sk, :prefix)",
            "ProjectionExpression": "#st, #v",
            "FilterExpression": "attribute_exists(#v)",  # not the tombstones
            "ExpressionAttributeNames": {"#pk": PK, "#sk": SK, "#st": "step_id", "#v": "value"},
            "ExpressionAttributeValues": {":pk": it.s(key), ":prefix": it.s(prefix)},
            "ConsistentRead": True,
            "Limit": SPILL_PAGE_ITEMS,
        }
        if after is not None:
            kwargs["ExclusiveStartKey"] = self._key(key, prefix + after)
        while True:
            resp = self.client.query(**kwargs)
            last = resp.get("LastEvaluatedKey")
            entries = [(item["step_id"]["S"], entry_value(name, it.from_js(item["value"]))) for item in resp.get("Items", [])]
            yield entries, (last[SK]["S"][len(prefix):] if last else None)
            if last is None:
                return
            kwargs["ExclusiveStartKey"] = last

    def _step_item(self, key: str, record: StepRecord, at: int | None = None) -> dict[str, Any]:
        item = self._key(key, step_sk(record.step_id))
        item["step_id"] = it.s(record.step_id)
        if at is not None:  # what a record written behind is conditioned on ("Inline records")
            item[AT] = it.n(at)
        item["run_id"] = it.n(record.run_id)  # what a claim written ahead is conditioned on ("Claims ahead")
        item["phase"] = it.s(str(record.status))
        item["record"] = it.zjs(_record_dict(record), it.item_size(item) + len("record"))  # past 1 KB: see _items.py
        return item

    def _state_item(self, key: str, state_key: str, value: Any, at: int | None = None) -> dict[str, Any]:
        item = self._key(key, state_sk(state_key))
        item["state_key"] = it.s(state_key)
        if at is not None:  # what an eviction put ahead is conditioned on ("Evictions ahead")
            item[AT] = it.n(at)
        item["value"] = it.js(value)
        return item

    @staticmethod
    def _check_size(item: dict[str, Any], what: str, step: str | None = None) -> int:
        size = it.item_size(item)
        if size > it.MAX_ITEM_BYTES:
            raise ItemTooLargeError(f"{what} is {size:,} bytes; a DynamoDB item holds at most {it.MAX_ITEM_BYTES:,}",
                                    step=step)
        return size

    @staticmethod
    def _conflict(key: str, version: int) -> ConflictError:
        """The refusal of a commit or read built on header ``version`` that has since moved on."""
        return ConflictError(f"execution {key!r} changed since version {version} (or does not exist)")

    def _not_found(self, key: str) -> ExecutionNotFoundError:
        return ExecutionNotFoundError(f"no execution {key!r} in table {self.table!r}")

    # -- create -----------------------------------------------------------

    def create(self, definition: ExecutionDefinition, header: ExecutionHeader) -> None:
        key = definition.key
        expires_at = self._stamp_for(self.clock())
        spilled = self._spill_at_creation(key, header)
        data = zlib.compress(encode_json(definition.to_dict()).encode("utf-8"))
        pieces = [data[i : i + DEF_PIECE_BYTES] for i in range(0, len(data), DEF_PIECE_BYTES)]
        items = []
        for i, piece in enumerate(pieces):
            item = self._key(key, def_chunk_sk(i))
            item["data"] = {"B": piece}
            if i == 0:
                item["parts"] = it.n(len(pieces))
            items.append(item)
        head = self._header_item(key, header)
        head.update({"listed": it.s(LISTED), "started": it.s(start_time(definition.created_at))})
        if definition.name is not None:
            head["name"] = it.s(definition.name)
        items.append(head)
        if expires_at is not None:  # every item born stamped ahead, and the header says from when ("Retention")
            head[STAMPED] = it.n(expires_at)
            for item in items:
                item[TTL_ATTRIBUTE] = it.n(expires_at)
        total = sum(self._check_size(item, f"execution {key!r} {item[SK]['S']} item") for item in items)
        if total > it.MAX_TRANSACTION_BYTES or len(items) > it.MAX_TRANSACTION_ITEMS - 1:
            raise CommitTooLargeError(
                f"execution {key!r}: the definition is {len(data):,} bytes compressed; "
                f"one DynamoDB transaction holds at most {it.MAX_TRANSACTION_BYTES:,} bytes"
            )
        if spilled:
            if expires_at is not None:
                for item in spilled:
                    item[TTL_ATTRIBUTE] = it.n(expires_at)
            self._batch_put(spilled)  # invisible until the header naming their generation exists
        names = {"#pk": PK}
        # "Create": without a name, the definition goes before its header, each by one plain put
        ahead = definition.name is None and len(pieces) == 1 and self._put_new(items[0])
        self._note_created_bytes(key, head)
        if ahead:
            self._put_header(key, head)
            self._note_created(key, header, expires_at)
            return
        actions: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": item,
                    # the header's condition alone guards the key: a definition with no header is an
                    # unreferenced leftover of a create that died between its two writes
                    **({"ConditionExpression": "attribute_not_exists(#pk)", "ExpressionAttributeNames": names}
                       if item is head else {}),
                }
            }
            for item in items
        ]
        if definition.name is not None:
            claim = self._key(name_pk(definition.name), SK_NAME)
            claim["execution"] = it.s(key)
            claim["name"] = it.s(definition.name)
            if expires_at is not None:
                claim[TTL_ATTRIBUTE] = it.n(expires_at)
            actions.append(
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": claim,
                        "ConditionExpression": "attribute_not_exists(#pk)",
                        "ExpressionAttributeNames": names,
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                }
            )
        try:
            self._transact_write(actions, retry_conflicts=True)
        except Exception as exc:
            if error_code(exc) != "TransactionCanceledException":
                raise
            reasons = getattr(exc, "response", {}).get("CancellationReasons") or []
            if "ConditionalCheckFailed" not in _reason_codes(exc):
                raise
            if definition.name is not None and len(reasons) == len(actions):
                claim_reason = reasons[-1]
                if claim_reason.get("Code") == "ConditionalCheckFailed":
                    holder = (claim_reason.get("Item") or {}).get("execution", {}).get("S")
                    holder = holder or self.find_by_name(definition.name)
                    raise ExecutionExistsError(
                        f"name {definition.name!r} is taken by execution {holder!r}", existing_key=holder
                    ) from None
            raise ExecutionExistsError(f"execution {key!r} already exists", existing_key=key) from None
        self._note_created(key, header, expires_at)

    def _created_bytes(self, key: str) -> int:
        """The bytes of the header's attributes set at create (``_CREATED_ATTRIBUTES``), which a commit does
        not rewrite: as last seen in a whole header item, else ``HEADER_CREATED_BYTES`` (a bound)."""
        with self._client_lock:
            return self._created.get(key, HEADER_CREATED_BYTES)

    def _note_created_bytes(self, key: str, header_item: dict[str, Any]) -> None:
        """Note the created attributes' bytes of a whole header item (one with its ``body``)."""
        if "body" in header_item:
            size = it.item_size({k: header_item[k] for k in _CREATED_ATTRIBUTES if k in header_item})
            with self._client_lock:
                _remember(self._created, key, size, _INLINE_CACHE)

    def _note_created(self, key: str, header: ExecutionHeader, expires_at: int | None) -> None:
        self._note_inline(key, header.version, {}, {})  # a new header holds no state entries nor records
        if expires_at is not None:
            self._note_stamp(key, expires_at, str(header.status))

    def _put_new(self, item: dict[str, Any]) -> bool:
        """Put ``item`` where nothing is; False when something is (a definition of the same key)."""
        try:
            self.client.put_item(TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(#pk)",
                                 ExpressionAttributeNames={"#pk": PK})
            return True
        except Exception as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            return False

    def _put_header(self, key: str, head: dict[str, Any]) -> None:
        """Put a new execution's header where none is; ``ExecutionExistsError`` when one is, unless it
        is this very item (its own put, retried by botocore after a lost reply)."""
        try:
            self.client.put_item(TableName=self.table, Item=head, ConditionExpression="attribute_not_exists(#pk)",
                                 ExpressionAttributeNames={"#pk": PK}, ReturnValuesOnConditionCheckFailure="ALL_OLD")
        except Exception as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            if getattr(exc, "response", {}).get("Item") != head:
                raise ExecutionExistsError(f"execution {key!r} already exists", existing_key=key) from None

    def _spill_at_creation(self, key: str, header: ExecutionHeader) -> list[dict[str, Any]]:
        """The items of the entries a new header cannot hold inline (the ready set of a wide static
        fan-out, the join counters of a wide graph), each schedule under a fresh random generation:
        written before the header, they stay unreferenced (never read) unless this create succeeds,
        so a create that fails (the key is taken) cannot touch the existing execution's entries."""
        items = []
        for schedule in header.schedules():
            fresh = random.getrandbits(31) + 1
            if schedule.spill_overflow(self.schedule_inline_bytes):
                schedule.gen = fresh
                for step, value in schedule.changes().items():
                    item = self._spill_item(key, schedule, step, value)
                    self._check_size(item, f"execution {key!r}: {schedule.name} entry of step {step!r}", step=step)
                    items.append(item)
        return items

    def _batch_put(self, items: list[dict[str, Any]]) -> None:
        for chunk in _chunks(items, it.MAX_BATCH_WRITE_ITEMS):
            request: dict[str, Any] = {self.table: [{"PutRequest": {"Item": item}} for item in chunk]}
            for attempt in range(_RETRIES + 1):
                request = self.client.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
                if not request:
                    break
                if attempt == _RETRIES:
                    raise RunfoxError(f"table {self.table!r}: BatchWriteItem left items unprocessed "
                                      f"after {_RETRIES} retries")
                _backoff(attempt)

    def _transact_write(self, actions: list[dict[str, Any]], retry_conflicts: bool = False) -> None:
        token = str(uuid.uuid4())  # botocore's own retries reuse it: a lost reply is not a conflict
        for attempt in range(_RETRIES):
            try:
                self.client.transact_write_items(TransactItems=actions, ClientRequestToken=token)
                return
            except Exception as exc:
                codes = _reason_codes(exc)
                if not (retry_conflicts and "TransactionConflict" in codes and "ConditionalCheckFailed" not in codes):
                    raise
                if attempt == _RETRIES - 1:
                    raise
                _backoff(attempt)
                token = str(uuid.uuid4())

    def find_by_name(self, name: str) -> str | None:
        resp = self.client.get_item(TableName=self.table, Key=self._key(name_pk(name), SK_NAME), ConsistentRead=True)
        item = resp.get("Item")
        return item["execution"]["S"] if item else None

    # -- loads ------------------------------------------------------------

    def exists(self, key: str) -> bool:
        resp = self.client.get_item(
            TableName=self.table,
            Key=self._key(key, SK_HEADER),
            ConsistentRead=True,
            ProjectionExpression="#pk",
            ExpressionAttributeNames={"#pk": PK},
        )
        return "Item" in resp

    def load_definition(self, key: str) -> ExecutionDefinition:
        # Not cached here: the Backend caches definitions per process.
        items = sorted(self._query_prefix(key, SK_DEF), key=lambda item: item[SK]["S"])
        if not items:
            raise self._not_found(key)
        parts = int(items[0]["parts"]["N"])
        if len(items) != parts:
            raise RunfoxError(f"execution {key!r}: definition has {len(items)} of {parts} pieces")
        data = b"".join(bytes(item["data"]["B"]) for item in items)
        return ExecutionDefinition.from_dict(json.loads(zlib.decompress(data)))

    def load_header(self, key: str) -> ExecutionHeader:
        resp = self.client.get_item(TableName=self.table, Key=self._key(key, SK_HEADER), ConsistentRead=True)
        if "Item" not in resp:
            raise self._not_found(key)
        if self._settle(resp["Item"], key):
            return self.load_header(key)
        self._remember_log(key, resp["Item"])
        self._remember_inline(key, resp["Item"])
        self._note_created_bytes(key, resp["Item"])
        return self._header_from_item(key, resp["Item"])

    def _all(self, key: str, prefix: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The header (projected to its marker, version and inline state) and every item under
        ``prefix``, read after finishing any half-applied commit (header first)."""
        while True:
            head = self._head(key)
            pending = _marker(head)
            if pending is None:
                return head, self._query_prefix(key, prefix)
            self._drain(key, pending)

    def load_steps(self, key: str, step_ids: Iterable[str] | None = None) -> dict[str, StepRecord]:
        if step_ids is None:
            head, items = self._all(key, STEP_PREFIX)
            return self._steps_from(items, self._remember_inline(key, head)[1])
        wanted = list(dict.fromkeys(step_ids))
        head, items = self._batch_get_checked(key, [self._key(key, step_sk(s)) for s in wanted])
        return self._steps_from(items, self._remember_inline(key, head)[1], wanted)

    def load_steps_after(self, key: str, version: int, step_ids: Iterable[str]) -> dict[str, StepRecord]:
        """Records ``step_ids``, for a caller that has read the header at ``version`` and commits against it
        (a transition's reads after its snapshot): those the header held inline at that version come from
        that read, as this store knows it (no call); the others by ``load_steps``, after it, so anything
        newer they find makes the commit fail (``ConflictError``), as for ``load_snapshot``'s ordered reads.
        An event for a waiting step reads nothing more than the header when its records ride in it."""
        wanted = list(dict.fromkeys(step_ids))
        with self._client_lock:
            known = self._inline.get(key)
        recs = known[2] if known is not None and known[0] == version else {}
        rest = [s for s in wanted if s not in recs]
        out = {s: _rec_of(s, recs[s][1]) for s in wanted if s in recs}
        return {**out, **self.load_steps(key, rest)} if rest else out

    def load_state(self, key: str, keys: Iterable[str] | None = None) -> dict[str, Any]:
        if keys is None:
            head, items = self._all(key, STATE_PREFIX)
            return self._state_from(items, self._remember_inline(key, head)[0])
        wanted = list(dict.fromkeys(keys))
        head, items = self._batch_get_checked(key, [self._key(key, state_sk(k)) for k in wanted])
        return self._state_from(items, self._remember_inline(key, head)[0], wanted)

    def load_state_after(self, key: str, version: int) -> dict[str, Any]:
        """The whole state, for a caller that has read the header at ``version`` and commits against it
        (a transition reading ``{"var": "state"}``): the inline entries as this store knows them at that
        version (from that read: no header read again) over every state item, by one Query. The Query
        comes after the caller's header read, so anything newer it finds makes the commit fail
        (``ConflictError``), as for ``load_snapshot``'s ordered reads. Without the inline entries at
        that version: ``load_state``."""
        with self._client_lock:
            known = self._inline.get(key)
        if known is None or known[0] != version:
            return self.load_state(key)
        return self._state_from(self._query_prefix(key, STATE_PREFIX), dict(known[1]))

    def load_snapshot(
        self, key: str, step_ids: Iterable[str] | None, state_keys: Iterable[str] | None
    ) -> tuple[ExecutionHeader, dict[str, StepRecord], dict[str, Any]]:
        """Header, the named step records and state entries, as one atomic snapshot.

        One TransactGetItems when everything fits in one (100 items, 4 MB);
        otherwise (or when ``step_ids``/``state_keys`` is None: all of them)
        the header is read first and the rest after, which is equally safe
        for a caller that commits against the returned header's version.
        """
        if step_ids is not None and state_keys is not None:
            steps_wanted = list(dict.fromkeys(step_ids))
            state_wanted = list(dict.fromkeys(state_keys))
            if 1 + len(steps_wanted) + len(state_wanted) <= it.MAX_TRANSACTION_ITEMS:
                snapshot = self._transact_snapshot(key, steps_wanted, state_wanted)
                if snapshot is not None:
                    return snapshot
            step_ids, state_keys = steps_wanted, state_wanted
        header = self.load_header(key)
        return header, self.load_steps(key, step_ids), self.load_state(key, state_keys)

    def _transact_snapshot(
        self, key: str, step_ids: list[str], state_keys: list[str]
    ) -> tuple[ExecutionHeader, dict[str, StepRecord], dict[str, Any]] | None:
        """The snapshot by one TransactGetItems, which leaves out the items of the state entries and
        records the last header this store saw held inline (2 read units each, for an item the header's
        copy would overlay); any of them the header read no longer holds is then read by key, after it
        (safe for a caller that commits against the header's version, as ``load_snapshot`` says)."""
        with self._client_lock:
            known = self._inline.get(key)
        skipped_steps = [s for s in step_ids if known is not None and s in known[2]]
        skipped_state = [k for k in state_keys if known is not None and k in known[1]]
        asked_steps = [s for s in step_ids if s not in skipped_steps]
        asked_state = [k for k in state_keys if k not in skipped_state]
        keys = [self._key(key, SK_HEADER)]
        keys += [self._key(key, step_sk(s)) for s in asked_steps]
        keys += [self._key(key, state_sk(k)) for k in asked_state]
        gets = [{"Get": {"TableName": self.table, "Key": k}} for k in keys]
        for attempt in range(_RETRIES):
            try:
                resp = self.client.transact_get_items(TransactItems=gets)
            except Exception as exc:
                code = error_code(exc)
                if code == "TransactionCanceledException" and "TransactionConflict" in _reason_codes(exc):
                    _backoff(attempt)
                    continue
                if code == "ValidationException":  # e.g. over 4 MB read: fall back to ordered reads
                    return None
                raise
            found = [r.get("Item") for r in resp["Responses"]]
            if not found[0]:
                raise self._not_found(key)
            if self._settle(found[0], key):
                continue
            items = [i for i in found[1:] if i]
            inline, recs = self._remember_inline(key, found[0])
            missed = [self._key(key, step_sk(s)) for s in skipped_steps if s not in recs]
            missed += [self._key(key, state_sk(k)) for k in skipped_state if k not in inline]
            if missed:  # the header no longer holds them: their items, read after it
                items += self._batch_get(missed)
            steps = self._steps_from((i for i in items if i[SK]["S"].startswith(STEP_PREFIX)), recs, step_ids)
            state = self._state_from((i for i in items if i[SK]["S"].startswith(STATE_PREFIX)), inline, state_keys)
            self._remember_log(key, found[0])
            self._note_created_bytes(key, found[0])
            return self._header_from_item(key, found[0]), steps, state
        return None

    @staticmethod
    def _steps_from(items: Iterable[dict[str, Any]], recs: dict[str, tuple[int, str]],
                    wanted: list[str] | None = None) -> dict[str, StepRecord]:
        """Step records from their items, overlaid by ``recs``, those riding in the header (read first,
        or in the same atomic read): an inline record is the newer wherever both exist ("Inline
        records"). ``wanted``: only these steps (None: all)."""
        steps = {record.step_id: record for record in
                 (StepRecord.from_dict(it.from_zjs(item["record"])) for item in items)}
        keep = None if wanted is None else set(wanted)
        for sid, (_, text) in recs.items():
            if keep is None or sid in keep:
                steps[sid] = _rec_of(sid, text)
        return steps

    @staticmethod
    def _state_from(items: Iterable[dict[str, Any]], inline: dict[str, str],
                    wanted: list[str] | None = None) -> dict[str, Any]:
        """State entries from their items, overlaid by ``inline``, those riding in the header (read
        first, or in the same atomic read): an inline entry is the newer wherever both exist
        ("Inline state"). ``wanted``: only these keys (None: all)."""
        state = {item["state_key"]["S"]: it.from_js(item["value"]) for item in items}
        keep = None if wanted is None else set(wanted)
        for k, text in inline.items():
            if keep is None or k in keep:
                state[k] = it.from_js({"S": text})
        return state

    def _query_prefix(self, key: str, prefix: str) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "#pk = :pk AND begins_with(#sk, :prefix)",
            "ExpressionAttributeNames": {"#pk": PK, "#sk": SK},
            "ExpressionAttributeValues": {":pk": it.s(key), ":prefix": it.s(prefix)},
            "ConsistentRead": True,
        }
        items: list[dict[str, Any]] = []
        while True:
            resp = self.client.query(**kwargs)
            items.extend(resp.get("Items", []))
            if "LastEvaluatedKey" not in resp:
                return items
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    def _batch_get_checked(self, key: str,
                           keys: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The header, projected, and the step/state items at ``keys``; raises ExecutionNotFoundError
        if the execution is missing.

        The header rides along in the same BatchGetItem, projected to what
        ``_settle`` reads and its inline state (the projection leaves out the
        header's ``body``), so telling "no such record" from "no such
        execution" costs no extra call.
        """
        found = self._batch_get([self._key(key, SK_HEADER), *keys], projection=_RECORD_ATTRIBUTES)
        items = [item for item in found if item[SK]["S"] != SK_HEADER]
        if len(items) == len(found):
            raise self._not_found(key)
        header = next(item for item in found if item[SK]["S"] == SK_HEADER)
        if self._settle(header, key):
            return self._batch_get_checked(key, keys)
        return header, items

    def _batch_get(self, keys: list[dict[str, Any]], projection: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for chunk in _chunks(keys, it.MAX_BATCH_GET_KEYS):
            request: dict[str, Any] = {self.table: {"Keys": chunk, "ConsistentRead": True}}
            if projection:
                names = {f"#p{i}": name for i, name in enumerate(projection)}
                request[self.table]["ProjectionExpression"] = ", ".join(names)
                request[self.table]["ExpressionAttributeNames"] = names
            for attempt in range(_RETRIES + 1):
                resp = self.client.batch_get_item(RequestItems=request)
                items.extend(resp.get("Responses", {}).get(self.table, []))
                request = resp.get("UnprocessedKeys") or {}
                if not request:
                    break
                if attempt == _RETRIES:
                    raise RunfoxError(
                        f"table {self.table!r}: BatchGetItem left keys unprocessed after {_RETRIES} retries"
                    )
                _backoff(attempt)
        return items

    # -- writes -------------------------------------------------------------

    def commit(self, key: str, commit: Commit) -> None:
        """Apply ``commit`` under the version fence: one TransactWriteItems when it fits, else a
        journaled sequence (see "Commits larger than a transaction" in ``_ddb_journal.py``).
        Schedule entries past the header's inline budget are spilled to items of their own, in
        the same commit ("The header"); ``commit.header`` then says what is stored where.
        With a retention, every item it writes and the header are stamped ahead ("Retention")."""
        header = commit.header
        removes = [s for s in dict.fromkeys(commit.unsent_remove) if s not in commit.unsent_add]
        for sid in removes:  # the header's view of unsent follows the deltas (idempotent after Txn.to_commit)
            header.unsent.discard(sid)
        for sid, entry in commit.unsent_add.items():
            header.unsent[sid] = entry
        moved: list[str] = []
        for schedule in header.schedules():
            # unsent: only this commit's claims may move (the inline view may hold entries mark_sent removed)
            unsent = schedule.name == "unsent"
            spilled = schedule.spill_overflow(self.schedule_inline_bytes, commit.unsent_add if unsent else None)
            moved += spilled if unsent else []
        if self.execution_ttl_seconds is not None:
            self._renew_before_commit(key, header)
        expires_at = self._stamp_for(self.clock())
        puts: list[tuple[dict[str, Any], int]] = []
        for record in commit.steps.values():
            item = self._step_item(key, record, commit.expected_version + 1)
            puts.append((item, self._check_size(item, f"execution {key!r}: step {record.step_id!r} record",
                                                step=record.step_id)))
        deletes: list[dict[str, Any]] = []
        for schedule in header.schedules():
            for step, value in schedule.changes().items():
                if value is ABSENT:
                    deletes.append(self._key(key, spill_sk(schedule.name, schedule.gen, step)))
                    continue
                item = self._spill_item(key, schedule, step, value)
                puts.append((item, self._check_size(item, f"execution {key!r}: {schedule.name} entry of step "
                                                          f"{step!r}", step=step)))
        if expires_at is not None:
            for item, _ in puts:
                item[TTL_ATTRIBUTE] = it.n(expires_at)
        claims = self._claims_ahead(commit, [item for item, _ in puts])  # put ahead below, with the evictions
        # a claim that sends no job (a wait's) rides in the header when it fits, where its step's next
        # record replaces it with no item ever written for it ("Inline records"); else it goes ahead too
        quiet = [(item, record) for item, record in claims if record.step_id not in commit.unsent_add]
        claims = [(item, record) for item, record in claims if record.step_id in commit.unsent_add]
        puts = [(item, size) for item, size in puts if not any(item is c for c, _ in claims)]
        attrs = self._header_attrs(header)
        if expires_at is not None:
            attrs[TTL_ATTRIBUTE] = it.n(expires_at)
        log_after = self._history_for(key, commit, attrs, puts, expires_at)
        inline = header.unsent.inline
        head = {**self._key(key, SK_HEADER), **attrs,
                "unsent": {"M": {s: self._unsent_value(e) for s, e in inline.items()}}}
        base = it.item_size(head) + self._created_bytes(key)
        evicted: list[dict[str, Any]] = []
        state_after = self._place_state(key, commit, base, attrs, puts, evicted, expires_at)
        # (evictions that go into the transaction below cost there what the record they make room for does)
        recs_after, placed = self._place_records(key, commit, base + _inline_size(state_after), attrs, puts,
                                                 evicted, expires_at, ahead=bool(claims or not commit.unsent_add))
        for item, record in quiet:
            if record.step_id not in placed:  # the header could not hold it
                claims.append((item, record))
        for sid in [sid for sid in placed if commit.steps[sid].status == StepStatus.IN_PROGRESS
                    and sid not in commit.unsent_add]:  # a claim that sends no job (a wait's): its next
            del placed[sid]  # record replaces it in the header, so no mark_sent writes it behind
        puts = [(item, size) for item, size in puts if not any(item is c for c, _ in claims)]
        if evicted and commit.unsent_add and not claims:  # a round trip of their own before the jobs: no
            puts += [self._fenced(key, commit, item) for item in evicted]
            evicted = []
        puts += self._write_ahead(key, commit, claims, evicted)
        header_size = self._check_size({**head, **attrs}, f"execution {key!r}: the header")
        deltas: list[tuple[str, list[float] | None]] = [
            (s, inline.get(s)) for s in dict.fromkeys([*commit.unsent_add, *removes, *moved])]
        total = header_size + sum(size for _, size in puts)
        if (1 + len(puts) + len(deletes) <= it.MAX_TRANSACTION_ITEMS and total <= it.MAX_TRANSACTION_BYTES
                and len(deltas) <= MAX_UNSENT_DELTAS):
            ahead, owners = self._write_slots_ahead(key, commit, [item for item, _ in puts])
            rest = [item for item, _ in puts if id(item) not in ahead]
            try:
                if rest or deletes:
                    self._commit_once(key, commit, attrs, rest, deltas, deletes=deletes)
                else:  # the header alone: one conditional UpdateItem, no transaction ("Inline records")
                    self._commit_header(key, commit, attrs, deltas)
            except ConflictError:  # refused, so nothing applied: what it wrote ahead is known to be orphaned
                self._note_orphans(owners)
                raise
        else:
            self._commit_journaled(key, commit, attrs, header_size, puts, deletes, deltas)
        self._note_log(key, commit.expected_version + 1, log_after)
        self._note_inline(key, commit.expected_version + 1, state_after, recs_after)
        with self._client_lock:  # added to any an earlier commit left for a mark_sent that has not come, less
            behind = {**self._behind.get(key, {}), **placed}  # those this one evicted or replaced
            behind = {sid: item for sid, item in behind.items() if recs_after.get(sid, (None,))[0] == int(item[AT]["N"])}
            if behind:
                _remember(self._behind, key, behind, _INLINE_CACHE)
            else:
                self._behind.pop(key, None)
        if self.execution_ttl_seconds is not None:
            with self._client_lock:
                stamped = self._stamps.get(key, (None, ""))[0]
            self._note_stamp(key, stamped, str(header.status))

    def _claims_ahead(self, commit: Commit, items: list[dict[str, Any]]) -> list[tuple[dict[str, Any], StepRecord]]:
        """The items of ``items`` that are claims a store may write ahead (``commit.claims``), with their records."""
        return [(item, commit.steps[item["step_id"]["S"]]) for item in items
                if item[SK]["S"].startswith(STEP_PREFIX) and item["step_id"]["S"] in commit.claims]

    def _write_ahead(self, key: str, commit: Commit, claims: list[tuple[dict[str, Any], StepRecord]],
                     evicted: list[dict[str, Any]]) -> list[tuple[dict[str, Any], int]]:
        """Put the records of a commit's claims and the items of what leaves its header, before its fenced
        update, by one conditional PutItem each, all at once (``_each``: a fan-out of 50 claims is one
        round trip of wall time); returns those whose put did not land, for the transaction.

        A claim's put lands only on a record not yet past the claim: none, or the same run_id still
        ready or retrying. One that finds the same claim already written (a concurrent claimer's, or
        this transition's own before a conflict) leaves it: it is the same record. Any other (the
        step's previous attempt still in progress, a result, an unknown shape) goes back into the
        transaction. See "Claims ahead". An evicted entry's or record's put lands where its item is
        absent or holds a value of its ``at`` or older; otherwise it goes into the transaction with
        the commit's version. See "Evictions ahead".
        """
        puts = [functools.partial(self._put_claim, item, record) for item, record in claims]
        puts += [functools.partial(self._put_not_older, item) for item in evicted]
        landed = self._each(lambda put: put(), puts)
        back = []
        for (item, _), ok in zip(claims, landed[:len(claims)], strict=True):
            if not ok:
                back.append((item, self._check_size(item, f"execution {key!r}: step {item['step_id']['S']!r} record",
                                                    step=item["step_id"]["S"])))
        for item, ok in zip(evicted, landed[len(claims):], strict=True):
            if not ok:
                back.append(self._fenced(key, commit, item))
        return back

    def _fenced(self, key: str, commit: Commit, item: dict[str, Any]) -> tuple[dict[str, Any], int]:
        """An evicted entry's or record's item as the commit's transaction writes it (``at``: its version)."""
        item = {**item, AT: it.n(commit.expected_version + 1)}
        what = (f"step {item['step_id']['S']!r} record" if item[SK]["S"].startswith(STEP_PREFIX)
                else f"state entry {item['state_key']['S']!r}")
        return item, self._check_size(item, f"execution {key!r}: {what}")

    def _put_claim(self, item: dict[str, Any], record: StepRecord) -> bool:
        try:
            self.client.put_item(
                TableName=self.table, Item=item,
                ConditionExpression="attribute_not_exists(#pk) OR (#r = :r AND #ph IN (:ready, :retry))",
                ExpressionAttributeNames={"#pk": PK, "#r": "run_id", "#ph": "phase"},
                ExpressionAttributeValues={":r": it.n(record.run_id), ":ready": it.s(str(StepStatus.READY)),
                                           ":retry": it.s(str(StepStatus.RETRY))},
                ReturnValuesOnConditionCheckFailure="ALL_OLD")
            return True
        except Exception as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            old = getattr(exc, "response", {}).get("Item") or {}
        if "record" not in old:
            return False
        stored = StepRecord.from_dict(it.from_zjs(old["record"]))
        return (stored.status == StepStatus.IN_PROGRESS and stored.run_id == record.run_id
                and stored.attempt == record.attempt and stored.token == record.token
                and encode_json(stored.inputs) == encode_json(record.inputs))

    def _write_slots_ahead(self, key: str, commit: Commit,
                           items: list[dict[str, Any]]) -> tuple[set[int], dict[tuple[str, str], str]]:
        """Write a commit's results-slot records (``commit.slots``) before its fenced update, each by one
        conditional PutItem; returns the ids of the items now in place and the owner token each was
        written with (by key). See "Results slots ahead" in the module docstring.

        A record goes ahead only when it is at least ``slot_ahead_min_units`` write units as stored:
        below that the saving (its units, once) is not worth the call. Any other goes in the
        transaction, as does one whose put finds the slot taken (a record a commit wrote, or an
        orphan this store does not know to be one).
        """
        ahead: set[int] = set()
        owners: dict[tuple[str, str], str] = {}
        if not commit.slots:
            return ahead, owners
        for item in items:
            sk = item[SK]["S"]
            if not sk.startswith(STEP_PREFIX) or item["step_id"]["S"] not in commit.slots:
                continue
            if it.write_units(it.item_size(item) + len(OWNER) + 2 * OWNER_BYTES) < self.slot_ahead_min_units:
                continue
            owner = secrets.token_hex(OWNER_BYTES)  # 96 random bits: no other put ahead ever carries it
            if self._put_slot(key, item, owner):
                ahead.add(id(item))
                owners[(key, sk)] = owner
        return ahead, owners

    def _put_slot(self, key: str, item: dict[str, Any], owner: str) -> bool:
        """Put ``item`` with ``owner`` where its slot is free, or holds an orphan this store left there
        (its own put ahead whose commit was refused). True when it landed."""
        slot = (key, item[SK]["S"])
        with self._client_lock:
            known = self._orphans.pop(slot, None)
        names = {"#pk": PK}
        values: dict[str, Any] = {}
        condition = "attribute_not_exists(#pk)"
        if known is not None:
            names["#o"] = OWNER
            values[":known"] = it.s(known)
            condition += " OR #o = :known"
        try:
            self.client.put_item(TableName=self.table, Item={**item, OWNER: it.s(owner)},
                                 ConditionExpression=condition, ExpressionAttributeNames=names,
                                 **({"ExpressionAttributeValues": values} if values else {}))
            return True
        except Exception as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            return False

    def _note_orphans(self, owners: dict[tuple[str, str], str]) -> None:
        """Remember the records this store put ahead for a commit that was refused: a later put ahead
        at the same slot may overwrite exactly those (``_put_slot``)."""
        with self._client_lock:
            for slot, owner in owners.items():
                _remember(self._orphans, slot, owner, _ORPHAN_CACHE)

    def _commit_once(self, key: str, commit: Commit, attrs: dict[str, Any], puts: list[dict[str, Any]],
                     deltas: list[tuple[str, list[float] | None]], pending: dict[str, Any] | None = None,
                     deletes: list[dict[str, Any]] | None = None) -> None:
        update = self._header_update(key, commit, attrs, deltas, pending)
        actions = [{"Update": update}] + [{"Put": {"TableName": self.table, "Item": item}} for item in puts]
        actions += [self._tombstone(k) for k in deletes or ()]
        try:
            self._transact_write(actions)
        except Exception as exc:
            codes = _reason_codes(exc)
            # TransactionConflict: another transaction held the header; nothing was applied either way.
            if error_code(exc) == "TransactionCanceledException" and (
                "ConditionalCheckFailed" in codes or "TransactionConflict" in codes
            ):
                raise self._conflict(key, commit.expected_version) from None
            raise

    def _commit_header(self, key: str, commit: Commit, attrs: dict[str, Any],
                       deltas: list[tuple[str, list[float] | None]]) -> None:
        """A commit that writes the header alone: its conditional Update by one UpdateItem (1 write unit
        for a header under 1 KB, where a transaction of one item bills 2). A refusal whose item is this
        very update, already applied (botocore retried it after a lost reply), is this commit landing."""
        update = self._header_update(key, commit, attrs, deltas, None)
        try:
            self.client.update_item(**update, ReturnValuesOnConditionCheckFailure="ALL_OLD")
        except Exception as exc:
            code = error_code(exc)
            if code == "ConditionalCheckFailedException" and self._is_own_update(
                    getattr(exc, "response", {}).get("Item") or {}, commit, attrs):
                return
            if code in ("ConditionalCheckFailedException", "TransactionConflictException"):
                raise self._conflict(key, commit.expected_version) from None
            raise

    @staticmethod
    def _is_own_update(found: dict[str, Any], commit: Commit, attrs: dict[str, Any]) -> bool:
        """Whether the header ``found`` is the one this commit's update makes: its version, and its
        body, history buffer and inline entries as set (the body carries the commit's time)."""
        if found.get("version") != attrs["version"] or int(attrs["version"]["N"]) != commit.expected_version + 1:
            return False
        return all(found.get(name) == value or ("NULL" in value and name not in found)
                   for name, value in attrs.items() if name in ("body", "status", LOG, INLINE_STATE, RECS))

    def _header_update(self, key: str, commit: Commit, attrs: dict[str, Any],
                       deltas: list[tuple[str, list[float] | None]], pending: dict[str, Any] | None) -> dict[str, Any]:
        """The conditional header Update of a commit: new body, version, unsent deltas, and the
        journal marker when the commit continues in pieces. Fenced by ``version`` and by the
        absence of an unfinished journal (a commit never builds on a half-applied one)."""
        names = {"#v": "version", "#st": "status", "#b": "body", "#p": PENDING}
        values = {
            ":v": attrs["version"],
            ":st": attrs["status"],
            ":b": attrs["body"],
            ":expected": it.n(commit.expected_version),
        }
        sets = ["#v = :v", "#st = :st", "#b = :b"]
        removes: list[str] = []
        # what rides in the header, set by a commit only when it changes (NULL: removed): the history
        # buffer, the events not yet flushed (``_history_for``), and the inline state (``_place_state``)
        for attr, ref in ((LOG, "log"), (INLINE_STATE, "is"), (RECS, "rc")):
            if attr not in attrs:
                continue
            names[f"#{ref}"] = attr
            if "NULL" in attrs[attr]:
                removes.append(f"#{ref}")
            else:
                values[f":{ref}"] = attrs[attr]
                sets.append(f"#{ref} = :{ref}")
        if TTL_ATTRIBUTE in attrs:  # the header is stamped ahead by every commit, like the items it writes
            names["#x"] = TTL_ATTRIBUTE
            values[":x"] = attrs[TTL_ATTRIBUTE]
            sets.append("#x = :x")
        if pending is not None:
            values[":p"] = {"M": {name: it.n(value) for name, value in pending.items()}}
            sets.append("#p = :p")
        expression = self._unsent_expression(sets, removes, deltas, names, values)
        return {
            "TableName": self.table,
            "Key": self._key(key, SK_HEADER),
            "UpdateExpression": expression,
            "ConditionExpression": "#v = :expected AND attribute_not_exists(#p)",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }

    def _unsent_expression(self, sets: list[str], removes: list[str], deltas: list[tuple[str, list[float] | None]],
                           names: dict[str, str], values: dict[str, Any]) -> str:
        """An update expression of ``sets``/``removes`` plus per-step unsent deltas (None: remove)."""
        sets, removes = list(sets), list(removes)
        for i, (step, entry) in enumerate(deltas):
            names[f"#s{i}"] = step
            if entry is None:
                removes.append(f"#u.#s{i}")
            else:
                values[f":s{i}"] = self._unsent_value(entry)
                sets.append(f"#u.#s{i} = :s{i}")
        if deltas:
            names["#u"] = "unsent"  # DynamoDB rejects unused names
        clauses = []
        if sets:
            clauses.append("SET " + ", ".join(sets))
        if removes:
            clauses.append("REMOVE " + ", ".join(removes))
        return " ".join(clauses)

    # -- inline state (see "Inline state" in the module docstring) ----------------

    def _place_state(self, key: str, commit: Commit, base: int, attrs: dict[str, Any],
                     puts: list[tuple[dict[str, Any], int]], evicted: list[dict[str, Any]],
                     expires_at: int | None) -> dict[str, str]:
        """Place ``commit.state``: each entry rides in the header while the header, ``base`` bytes
        without its inline state, stays within the write units it takes anyway; the others go to
        their own items in the commit (appended to ``puts``). An inline entry that no longer fits,
        or that makes room for a new one (when putting it costs less than the new one's item in the
        transaction), leaves the header with its item put ahead (appended to ``evicted``; see
        "Evictions ahead"). Sets ``attrs[INLINE_STATE]`` when the inline entries change; returns
        them as the header will hold them."""
        current = self._known_inline(key, commit.expected_version)[0]
        after = {k: text for k, text in current.items() if k not in commit.state}
        units = it.write_units(base)

        def fits(entries: dict[str, str]) -> bool:
            size = _inline_size(entries)
            return size <= self.inline_state_bytes and it.write_units(base + size) <= units

        def item_of(k: str, value: Any, at: int) -> dict[str, Any]:
            item = self._state_item(key, k, value, at)
            if expires_at is not None:
                item[TTL_ATTRIBUTE] = it.n(expires_at)
            return item

        def evict(k: str) -> None:  # a committed entry: its value at the version this commit builds on
            evicted.append(item_of(k, it.from_js({"S": after.pop(k)}), commit.expected_version))

        for k in sorted(after, key=lambda k: -len(after[k])):  # the header grew (its history buffer): largest out
            if fits(after):
                break
            evict(k)
        committed = sorted(after, key=lambda k: -len(after[k]))  # what may make room, largest first
        for k, v in commit.state.items():
            text = it.js(v)["S"]
            if fits({**after, k: text}):
                after[k] = text
                continue
            own = item_of(k, v, commit.expected_version + 1)
            worth = it.write_units(it.item_size(own), transactional=True)  # what its item would cost
            room, out, ahead = dict(after), [], 0
            for old in (o for o in committed if o in after):
                ahead += it.write_units(it.item_size(item_of(old, it.from_js({"S": after[old]}), 0)))
                if ahead >= worth:  # evicting more would cost more than the transaction's item
                    break
                del room[old]
                out.append(old)
                if fits({**room, k: text}):
                    for gone in out:
                        evict(gone)
                    after[k] = text
                    break
            if k not in after:
                puts.append((own, self._check_size(own, f"execution {key!r}: state entry {k!r}")))
        if after != current:
            attrs[INLINE_STATE] = {"M": {k: {"S": text} for k, text in after.items()}} if after else {"NULL": True}
        return after

    def _remember_inline(self, key: str,
                         header_item: dict[str, Any]) -> tuple[dict[str, str], dict[str, tuple[int, str]]]:
        """The inline state entries and records of a header item just read (whole, or projected with its
        version), noted as what the next commit on that version builds on."""
        inline = {k: v["S"] for k, v in header_item.get(INLINE_STATE, {}).get("M", {}).items()}
        recs = _recs_of(header_item)
        if "version" in header_item:
            self._note_inline(key, int(header_item["version"]["N"]), inline, recs)
        return inline, recs

    def _note_inline(self, key: str, version: int, inline: dict[str, str], recs: dict[str, tuple[int, str]]) -> None:
        with self._client_lock:
            _remember(self._inline, key, (version, inline, recs), _INLINE_CACHE)

    def _known_inline(self, key: str, version: int) -> tuple[dict[str, str], dict[str, tuple[int, str]]]:
        """The inline state entries and records stored at header ``version``; raises ConflictError if the
        header has moved on. Known from the last header this store read or wrote (on a miss: one GetItem)."""
        with self._client_lock:
            known = self._inline.get(key)
        if known is not None and known[0] == version:
            return dict(known[1]), dict(known[2])
        return self._remember_inline(key, self._head_at(key, version))

    # -- inline records (see "Inline records" in the module docstring) ---------------

    def _place_records(self, key: str, commit: Commit, base: int, attrs: dict[str, Any],
                       puts: list[tuple[dict[str, Any], int]], evicted: list[dict[str, Any]],
                       expires_at: int | None,
                       ahead: bool = True) -> tuple[dict[str, tuple[int, str]], dict[str, Any]]:
        """Place the commit's step records (any but a map's results slots) in the header while it stays
        within the write units it takes without them (``base`` bytes, its inline state counted) and they
        within ``inline_record_bytes``. A record placed is taken out of ``puts``; one already in the
        header that no longer fits leaves it by ``evicted`` ("Evictions ahead"), as do committed ones
        whose room a new record takes, up to what the new one would cost in the transaction (each
        eviction counted at 1 unit when they go ``ahead`` of the update, else at its 2 units in the
        transaction); one the commit rewrites drops the header's copy. Sets ``attrs[RECS]`` when the
        records change; returns them as the
        header will hold them, and the items of those this commit placed (by step) for this store's next
        ``mark_sent`` to write behind (none when the commit ends the execution: no commit follows to
        need the room)."""
        current = self._known_inline(key, commit.expected_version)[1]
        version = commit.expected_version + 1
        rewritten = {item["step_id"]["S"] for item, _ in puts if item[SK]["S"].startswith(STEP_PREFIX)}
        rewritten |= commit.claims  # a claim written ahead replaces the step's record too
        after = {sid: rec for sid, rec in current.items() if sid not in rewritten}
        units = it.write_units(base)

        def fits(recs: dict[str, tuple[int, str]]) -> bool:
            size = it.item_size({RECS: _recs_value(recs)}) if recs else 0
            return size <= self.inline_record_bytes and it.write_units(base + size) <= units

        items: dict[str, dict[str, Any]] = {}

        def item_of(sid: str) -> dict[str, Any]:  # a committed record's item, at its own version (built once)
            if sid not in items:
                at, text = after[sid]
                items[sid] = self._step_item(key, _rec_of(sid, text), at)
                if expires_at is not None:
                    items[sid][TTL_ATTRIBUTE] = it.n(expires_at)
            return items[sid]

        def evict(sid: str) -> None:  # put ahead of the update ("Evictions ahead")
            evicted.append(item_of(sid))
            del after[sid]

        for sid in sorted(after, key=lambda sid: -len(after[sid][1])):  # the header grew: largest out
            if fits(after):
                break
            evict(sid)
        committed = sorted(after, key=lambda sid: -len(after[sid][1]))  # what may make room, largest first
        placed: dict[str, dict[str, Any]] = {}
        for item, size in list(puts):
            sid = item["step_id"]["S"] if item[SK]["S"].startswith(STEP_PREFIX) else ""
            if not sid or sid in commit.slots or sid not in commit.steps:
                continue
            text = _rec_text(commit.steps[sid])
            if fits({**after, sid: (version, text)}):
                after[sid] = (version, text)
                placed[sid] = item
                continue
            # A committed record leaves the header by a put of its own sooner or later (1 write unit),
            # so putting it now to make room costs nothing more unless the execution would have ended
            # with it inline; a new record in the transaction costs 2 units or more, and makes a commit
            # of the header alone a transaction. So committed records make room, up to that cost.
            # (an eviction that goes into the transaction, not ahead, is counted at its 2 units there)
            worth, cost, out = it.write_units(size, transactional=True), 0, []
            room = dict(after)
            for old in (o for o in committed if o in after):
                cost += it.write_units(it.item_size(item_of(old)), transactional=not ahead)
                if cost > worth:
                    break
                del room[old]
                out.append(old)
                if fits({**room, sid: (version, text)}):
                    for gone in out:
                        evict(gone)
                    after[sid] = (version, text)
                    placed[sid] = item
                    break
        puts[:] = [(item, size) for item, size in puts if not any(item is p for p in placed.values())]
        if after != current:
            attrs[RECS] = _recs_value(after)
        if commit.header.status in TERMINAL_WORKFLOW_STATUSES:
            placed = {}  # nothing follows to need the room: they stay in the header
        return after, placed

    def _put_not_older(self, item: dict[str, Any], over_unstamped: bool = False) -> bool:
        """Put ``item`` where its item is absent or holds an ``at`` no later than its own (and, with
        ``over_unstamped``, one with no ``at``); False when the condition refuses it. The one write of an
        eviction ahead and of a record written behind: neither ever goes back over a later commit's value."""
        condition = "attribute_not_exists(#pk) OR " + ("attribute_not_exists(#at) OR " if over_unstamped else "")
        try:
            self.client.put_item(TableName=self.table, Item=item, ConditionExpression=condition + "#at <= :at",
                                 ExpressionAttributeNames={"#pk": PK, "#at": AT},
                                 ExpressionAttributeValues={":at": item[AT]})
            return True
        except Exception as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            return False

    # -- the header's marker and what rides in it -------------------------------------

    def _head(self, key: str) -> dict[str, Any]:
        """The header item projected to its journal marker, version and what rides in it (history
        buffer, inline state); raises if no execution."""
        resp = self.client.get_item(TableName=self.table, Key=self._key(key, SK_HEADER), ConsistentRead=True,
                                    ProjectionExpression="#pk, #p, #v, #s, #r, #log",
                                    ExpressionAttributeNames={"#pk": PK, "#p": PENDING, "#v": "version",
                                                              "#s": INLINE_STATE, "#r": RECS, "#log": LOG})
        if "Item" not in resp:
            raise self._not_found(key)
        return resp["Item"]

    def _head_at(self, key: str, version: int) -> dict[str, Any]:
        """``_head`` of a header still at ``version`` with no commit half-applied, whose history buffer
        and inline state are remembered for the commit that builds on it (one read serves both caches
        on a miss); ConflictError when the header has moved on or the execution does not exist."""
        try:
            head = self._head(key)
        except ExecutionNotFoundError:
            head = {}
        if not head or int(head["version"]["N"]) != version or _marker(head) is not None:
            raise self._conflict(key, version)
        self._remember_log(key, head)
        self._remember_inline(key, head)
        return head

    # -- jobs sent ------------------------------------------------------------------

    def mark_sent(self, key: str, sent: Mapping[str, int]) -> None:
        """Drop each unsent entry whose run_id matches; one UpdateItem when all are inline and match.

        Otherwise (an entry spilled, a newer claim, one already removed) the
        header is read to tell them apart: the inline ones that match go in
        one UpdateItem (one by one if that races), and each spilled one by a
        DeleteItem conditioned on its run_id. None of it touches ``version``.
        """
        with self._client_lock:
            behind = self._behind.pop(key, None)
        drops = self._write_behind(behind) if behind is not None else []
        flushed = self._flush_behind(key) if sent else None
        entries = list(sent.items())
        for n, chunk in enumerate(_chunks(entries, 50)):  # keeps each expression far under 4 KB
            # the first update also drops what was just written behind (records, the history buffer), if
            # it is still as written; when it is not, the entries alone, and those stay (harmless)
            if n == 0 and (drops or flushed is not None) and self._remove_unsent(key, chunk, drops, flushed):
                self._forget_recs(key, drops)
                self._forget_log(key, flushed)
                continue
            if self._remove_unsent(key, chunk):
                continue
            resp = self.client.get_item(TableName=self.table, Key=self._key(key, SK_HEADER), ConsistentRead=True)
            if "Item" not in resp:
                return
            unsent = self._header_from_item(key, resp["Item"]).unsent
            inline = [(s, r) for s, r in chunk if s in unsent.inline and int(unsent.inline[s][0]) == int(r)]
            if inline and not self._remove_unsent(key, inline) and len(inline) > 1:
                for entry in inline:
                    self._remove_unsent(key, [entry])
            if unsent.spilled:
                for step, run_id in chunk:
                    if step not in unsent.inline:
                        self._remove_spilled_unsent(key, unsent.gen, step, run_id)

    def _remove_spilled_unsent(self, key: str, gen: int, step: str, run_id: int) -> None:
        """Tombstone one spilled unsent entry if it still names ``run_id`` (see ``_tombstone``)."""
        try:
            self.client.update_item(TableName=self.table, Key=self._key(key, spill_sk("unsent", gen, step)),
                                    UpdateExpression="REMOVE #v, #r", ConditionExpression="#r = :r",
                                    ExpressionAttributeNames={"#v": "value", "#r": "run_id"},
                                    ExpressionAttributeValues={":r": it.n(int(run_id))})
        except Exception as exc:
            if error_code(exc) not in ("ConditionalCheckFailedException", "TransactionConflictException"):
                raise  # (a conflict leaves the entry: advance() re-emits it, fenced by run_id)

    def _write_behind(self, items: dict[str, dict[str, Any]]) -> list[tuple[str, int]]:
        """Put the records this store's commits placed in the header as their items (by step; each item's
        ``at`` the version of its commit), all at once (``_each``), each unless the item already holds a
        record of a later commit; returns (step, version) of those put, whose header copies may now go
        ("Inline records"). An item without ``at`` (an older release's) is written over."""
        steps = list(items)
        landed = self._each(lambda sid: self._put_not_older(items[sid], over_unstamped=True), steps)
        return [(sid, int(items[sid][AT]["N"])) for sid, ok in zip(steps, landed, strict=True) if ok]

    def _forget_recs(self, key: str, dropped: list[tuple[str, int]]) -> None:
        """Note that the header no longer holds the records ``dropped`` (same version: mark_sent leaves it)."""
        if not dropped:
            return
        with self._client_lock:
            known = self._inline.get(key)
            if known is not None:
                gone = set(dropped)
                recs = {sid: rec for sid, rec in known[2].items() if (sid, rec[0]) not in gone}
                self._inline[key] = (known[0], known[1], recs)

    def _remove_unsent(self, key: str, entries: list[tuple[str, int]], recs: Sequence[tuple[str, int]] = (),
                       log_at: int | None = None) -> bool:
        """One conditional UpdateItem; False if an entry no longer matches. ``recs``: records written
        behind whose header copies go in the same update, each while it is the copy of that version;
        ``log_at``: the history buffer goes too, while the header is at that version (it was flushed).

        ``TransactionConflictException`` (a commit holds the header at that
        moment) is retried with backoff; giving up after ``_RETRIES`` is safe:
        the entries stay unsent and advance() re-emits them after the grace
        period, fenced by run_id.
        """
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        removes, conditions = [], []
        for i, (step, run_id) in enumerate(entries):
            names.update({"#u": "unsent", "#r": "run_id", f"#s{i}": step})
            values[f":r{i}"] = it.n(int(run_id))
            removes.append(f"#u.#s{i}")
            conditions.append(f"#u.#s{i}.#r = :r{i}")
        for i, (sid, version) in enumerate(recs):
            names.update({"#rc": RECS, "#at": AT, f"#q{i}": sid})
            values[f":q{i}"] = it.n(version)
            removes.append(f"#rc.#q{i}")
            conditions.append(f"#rc.#q{i}.#at = :q{i}")
        if log_at is not None:
            names.update({"#log": LOG, "#v": "version"})
            values[":v"] = it.n(log_at)
            removes.append("#log")
            conditions.append("#v = :v")
        for attempt in range(_RETRIES):
            try:
                self.client.update_item(
                    TableName=self.table,
                    Key=self._key(key, SK_HEADER),
                    UpdateExpression="REMOVE " + ", ".join(removes),
                    ConditionExpression=" AND ".join(conditions),
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                )
                return True
            except Exception as exc:
                code = error_code(exc)
                if code == "ConditionalCheckFailedException":
                    return False
                if code != "TransactionConflictException":
                    raise
                _backoff(attempt)
        log.warning("could not confirm jobs sent after %d conflicts; they may be re-emitted", _RETRIES,
                    extra={"execution": key, "steps": [s for s, _ in entries]})
        return True
