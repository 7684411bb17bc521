"""_ddb_retention.py -- how ``DynamoDBStore`` keeps an execution's items for a retention after it ends.

Owns: the ``expires_at`` stamp every item is written with, the renewal of a
running execution's items, and the end-of-run sweep an older release began
(``RetentionMixin``, which ``DynamoDBStore`` inherits); the header's
``stamped`` and ``expiring`` attributes.

Retention (``execution_ttl_seconds`` R; the deployment passes
``runfox:retentionDays`` x 86,400), with no sweep at the end: every item is
*born stamped ahead*. Whatever writes an item -- create (definition pieces,
header, name claim, spilled entries), a commit (its records, state entries,
spilled entries, history and journal items, and the header itself, every
time), a history flush -- gives it ``expires_at`` (N, epoch seconds) = the
store's clock + R + the slack S (``RENEW_SLACK_SECONDS``, one day, or R if
shorter). The header's ``stamped`` is a floor: no item of the execution
expires before it (set at create, raised by a renewal). DynamoDB TTL deletes
an item some time after its ``expires_at``.

Renewal keeps a running execution alive: whoever reads its header (every
load goes through ``_settle``, as for the journal) or commits to it, once
``stamped`` is less than now + R + S/2 (half the slack used: a run older than
half a day), first stamps every item of the partition and the name claim to
now + R + S (one Query, one UpdateItem per item, each conditioned on the item
existing and expiring sooner, so a stamp never lowers an expiry nor re-puts a
deleted item), then raises ``stamped`` (conditioned on raising it). It is
idempotent and crash-safe: a renewal cut short leaves ``stamped`` unraised,
so the next reader renews again; an item a concurrent commit writes during it
carries its own fresh stamp. An execution is read at least every 15 minutes
while any timer is armed (a wait's or a backoff's wake is re-armed after a
header read: ``driver.rearm_wake``; a deadline's message likewise), so a long
wait, a long backoff and a timed step keep their items for as long as they
run, at one renewal (1 write unit per item) per half-day of run time.

The invariant, and why the end-of-execution sweep is not needed: *after any
read or commit at time t of a running execution, every one of its items
expires at t + R + S/2 or later.* The commit that ends an execution (complete,
halted, failed, cancelled) renews first if due, so every item of a finished
execution expires between its end + R and its end + R + S: the retention is
kept, at most a day late. A finished execution is never renewed (a describe a
month later leaves its expiry alone); a redrive makes it run again, and its
commit renews it like any running execution. Saving: the old sweep cost one
UpdateItem per item the last commit did not write (about 1 write unit per
step, ``bench/aws_calls.py``); stamping at write adds an attribute to writes
that happen anyway (a few bytes, no unit in practice).

Known limit: an execution nobody reads or commits to for R + S (a wait with
no timeout and no event, a step with no ``timeout_seconds`` whose job never
answers, for 91 days at the default retention) expires like a finished one,
as the values bucket's objects already do (its lifecycle rule is the same R).
Headers stamped by an older release carry ``expiring`` (a finished
execution's unfinished sweep): a reader finishes that sweep once. Without
``execution_ttl_seconds`` nothing is stamped. The in-memory and SQLite stores
keep finished executions until you delete them (no TTL there).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from ..engine.records import ExecutionDefinition, ExecutionHeader
from ..status import TERMINAL_WORKFLOW_STATUSES
from . import _items as it
from ._clients import error_code
from ._ddb_common import _LOG_CACHE, StoreParts, _remember
from ._keys import PK, SK, SK_DEF, SK_HEADER, SK_NAME, TTL_ATTRIBUTE, name_pk

EXPIRING = "expiring"  # header attribute of an older release: a finished execution whose end-of-run sweep is unfinished
STAMPED = "stamped"  # header attribute: no item of the execution expires before it (epoch s; "Retention")
RENEW_SLACK_SECONDS = 86_400  # items are stamped this far past the retention, and renewed once half of it is used
_TERMINAL = frozenset(str(s) for s in TERMINAL_WORKFLOW_STATUSES)


class RetentionMixin(StoreParts):
    """Stamping, renewal and the older release's sweep, for ``DynamoDBStore`` (module docstring)."""

    if TYPE_CHECKING:
        execution_ttl_seconds: int | None
        _stamps: OrderedDict[str, tuple[int | None, str]]

        def load_definition(self, key: str) -> ExecutionDefinition: ...

    def _stamp_for(self, now: float) -> int | None:
        """The ``expires_at`` an item written at ``now`` carries (None without a retention)."""
        if self.execution_ttl_seconds is None:
            return None
        return int(now) + self.execution_ttl_seconds + self._slack()

    def _slack(self) -> int:
        return min(RENEW_SLACK_SECONDS, self.execution_ttl_seconds or 0)

    def _renewal_due(self, stamped: int | None) -> bool:
        """Whether an execution whose oldest stamp is ``stamped`` has used half the slack (None: it
        predates stamping). Only asked of running executions (and of the commit that ends one)."""
        if self.execution_ttl_seconds is None:
            return False
        return stamped is None or stamped < self.clock() + self.execution_ttl_seconds + self._slack() // 2

    def _note_stamp(self, key: str, stamped: int | None, status: str) -> None:
        with self._client_lock:
            _remember(self._stamps, key, (stamped, status), _LOG_CACHE)

    def _renew_before_commit(self, key: str, header: ExecutionHeader) -> None:
        """Renew before a commit when due, so the commit that ends an execution finds every item
        expiring a retention after it at least; the (stamped, status) a read of this store noted is
        used, else one GetItem asks. A finished execution that stays finished is not renewed."""
        with self._client_lock:
            known = self._stamps.get(key)
        if known is None:
            resp = self.client.get_item(TableName=self.table, Key=self._key(key, SK_HEADER), ConsistentRead=True,
                                        ProjectionExpression="#st, #s",
                                        ExpressionAttributeNames={"#st": "status", "#s": STAMPED})
            item = resp.get("Item")
            if item is None:
                return  # the commit fails on its condition
            known = (int(item[STAMPED]["N"]) if STAMPED in item else None, item["status"]["S"])
            self._note_stamp(key, *known)
        stamped, status = known
        if status in _TERMINAL and str(header.status) in _TERMINAL:
            return
        if self._renewal_due(stamped):
            self._renew(key)

    def _renew(self, key: str) -> None:
        """Stamp every item of running execution ``key`` to expire a retention and slack from now, then
        raise the header's ``stamped`` to that (never lower it). Idempotent, concurrent-safe, crash-safe:
        a renewal cut short leaves ``stamped`` as it was, so the next reader renews again."""
        expires_at = self._stamp_for(self.clock())
        assert expires_at is not None
        self._sweep(key, expires_at)
        with self._client_lock:
            status = self._stamps.get(key, (None, ""))[1]
        try:
            self.client.update_item(
                TableName=self.table, Key=self._key(key, SK_HEADER), UpdateExpression="SET #s = :s",
                ConditionExpression="attribute_exists(#pk) AND (attribute_not_exists(#s) OR #s < :s)",
                ExpressionAttributeNames={"#pk": PK, "#s": STAMPED}, ExpressionAttributeValues={":s": it.n(expires_at)})
        except Exception as exc:
            if error_code(exc) != "ConditionalCheckFailedException":  # a later renewal got there first
                raise
        self._note_stamp(key, expires_at, status)

    def _sweep(self, key: str, expires_at: int) -> None:
        """Stamp every item of execution ``key`` (and its name claim) that expires before ``expires_at``,
        then drop an older release's ``expiring`` marker if it names this time. Idempotent; any process
        may run it, concurrently with others (a stamp never lowers an item's expiry)."""
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "#pk = :pk",
            "ProjectionExpression": "#pk, #sk, #x",
            "ExpressionAttributeNames": {"#pk": PK, "#sk": SK, "#x": TTL_ATTRIBUTE},
            "ExpressionAttributeValues": {":pk": it.s(key)},
            "ConsistentRead": True,
        }
        name: str | None = None
        while True:
            resp = self.client.query(**kwargs)
            for item in resp.get("Items", []):
                if item[SK]["S"] == SK_DEF and name is None:
                    name = self.load_definition(key).name
                if int(item.get(TTL_ATTRIBUTE, {}).get("N", "0")) < expires_at:
                    self._stamp(item[PK]["S"], item[SK]["S"], expires_at)
            if "LastEvaluatedKey" not in resp:
                break
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
        if name is not None:
            self._stamp(name_pk(name), SK_NAME, expires_at, holder=key)
        try:
            self.client.update_item(
                TableName=self.table, Key=self._key(key, SK_HEADER), UpdateExpression="REMOVE #xs",
                ConditionExpression="#xs = :x", ExpressionAttributeNames={"#xs": EXPIRING},
                ExpressionAttributeValues={":x": it.n(expires_at)})
        except Exception as exc:
            if error_code(exc) != "ConditionalCheckFailedException":  # gone already, or a later end's marker
                raise

    def _stamp(self, pk: str, sk: str, expires_at: int, holder: str | None = None) -> None:
        """``SET expires_at`` on one existing item unless it expires later already (the name claim only
        while ``holder`` holds it)."""
        names = {"#pk": PK, "#x": TTL_ATTRIBUTE}
        values = {":x": it.n(expires_at)}
        condition = "attribute_exists(#pk) AND (attribute_not_exists(#x) OR #x < :x)"
        if holder is not None:
            names["#e"] = "execution"
            values[":e"] = it.s(holder)
            condition += " AND #e = :e"
        try:
            self.client.update_item(TableName=self.table, Key=self._key(pk, sk), UpdateExpression="SET #x = :x",
                                    ConditionExpression=condition, ExpressionAttributeNames=names,
                                    ExpressionAttributeValues=values)
        except Exception as exc:
            if error_code(exc) != "ConditionalCheckFailedException":  # deleted meanwhile (a journal entry)
                raise
