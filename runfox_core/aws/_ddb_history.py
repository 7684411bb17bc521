"""_ddb_history.py -- where ``DynamoDBStore`` keeps an execution's history events, and how it reads them.

Owns: the header's history buffer (``log``), its flush to ``history#`` items,
the buffer each store remembers per execution, and ``load_history``
(``HistoryMixin``, which ``DynamoDBStore`` inherits).

History (``history.py``): the events of the commits since the last flush ride
in the header as ``log`` (B, zlib JSON), so recording them costs no item in the
transaction. A commit that would take ``log`` past ``LOG_BUFFER_BYTES`` first
puts the buffered events as one item ``history#<first version>`` (``events``
(B) zlib JSON, ``count`` (N)): a plain PutItem, 1 write unit, *before* the
header update that empties ``log``. That order makes it crash-safe: the put
holds only committed events (the buffer as stored at the version read), so a
crash or a lost race after it leaves a true item, and whoever commits next
puts the same (or a longer) buffer under the same key; the put is
conditioned on holding at least as many events as the item already has, so
a slow process can never shorten it. A commit whose own events exceed the
buffer (a wide claim) puts them as an item of their own inside its
transaction. Readers read the header first, then the items, and merge by
event id. Which buffer is stored is remembered per execution from the last
header this store read or wrote (on a miss: one GetItem, which also notes its inline state).
Cost (``bench/aws_calls.py``): one PutItem per ``LOG_BUFFER_BYTES`` of
compressed events and a few hundred bytes more in the header.
"""

from __future__ import annotations

import json
import zlib
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from ..engine.records import Commit
from ..errors import ExecutionNotFoundError
from ..history import position
from ..payloads import encode_json
from . import _items as it
from ._clients import error_code
from ._ddb_common import _LOG_CACHE, StoreParts, _remember
from ._keys import PK, SK, SK_HEADER, TTL_ATTRIBUTE

LOG = "log"  # header attribute: history events not yet flushed to a history item
LOG_BUFFER_BYTES = 600  # compressed bytes of events the header carries before a commit flushes them
LOG_FLUSH_BEHIND_BYTES = 320  # from this many, mark_sent flushes them after the send (off the critical path)
HISTORY_PREFIX = "history#"


# Events are compressed against a preset dictionary of what they usually say (their keys and kinds), so
# a small buffer does not pay for the first mention of each: a wait's two events and a step's two take
# about 36 compressed bytes, and the buffer's first commit about 60 instead of 150, so the header's buffer
# fills, and is flushed to an item (a PutItem), about a third less often. zlib names the dictionary in the
# stream (its Adler-32), so a buffer is read with the one it was packed with, and one packed without any
# (an older release's) reads as before. A dictionary is never changed once released: a new one goes beside it.
EVENTS_ZDICT = (
    b'[{"at":1800000000.0,"id":"1.0","type":"started"},{"at":1800000000.0,"error":{"message":"","type":""},'
    b'"id":"1.1","step":"","type":"failed"},{"at":1800000000.0,"id":"1.0","reason":"","type":"cancelled"},'
    b'{"at":1800000000.0,"id":"1.2","type":"completed"},{"at":1800000000.0,"id":"1.0","steps":[],"type":"reset"},'
    b'{"at":1800000000.0,"attempt":1,"backoff":0.0,"id":"1.1","run_id":1,"step":"","type":"retried"},'
    b'{"at":1800000000.0,"error":{"message":"","type":""},"id":"1.0","run_id":0,"step":"","type":"attempt_failed"},'
    b'{"action":"","at":1800000000.0,"branch":0,"id":"1.0","run_id":0,"step":"","type":"branch_fired"},'
    b'{"at":1800000000.0,"attempt":0,"id":"1.1","nonce":"","run_id":0,"step":"","type":"waiting"},'
    b'{"at":1800000000.0,"attempt":0,"event":"","id":"1.1","run_id":0,"step":"","type":"waiting"},'
    b'{"at":1800000000.0,"id":"1.0","run_id":0,"step":"","type":"step_completed"},'
    b'{"at":1800000000.0,"attempt":0,"id":"1.1","run_id":0,"step":"","type":"dispatched"}]'
)
_ZDICTS = {zlib.adler32(EVENTS_ZDICT): EVENTS_ZDICT}
_PACK_ZDICT = EVENTS_ZDICT  # what new buffers are packed with


def pack_events(events: list[dict[str, Any]]) -> bytes:
    """History events as stored (zlib JSON, against ``_PACK_ZDICT``)."""
    packer = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, 15, 8, zlib.Z_DEFAULT_STRATEGY,
                              _PACK_ZDICT)
    return packer.compress(encode_json(events).encode("utf-8")) + packer.flush()


def unpack_events(data: bytes) -> list[dict[str, Any]]:
    """The events ``pack_events`` stored (or an older release's, packed with no dictionary)."""
    if len(data) >= 6 and data[1] & 0x20:  # FDICT: the dictionary's Adler-32 follows the 2-byte header
        zdict = _ZDICTS.get(int.from_bytes(data[2:6], "big"))
        if zdict is None:
            raise ValueError("history events packed with a dictionary this release does not know")
        return json.loads(zlib.decompressobj(zdict=zdict).decompress(data))
    return json.loads(zlib.decompress(data))


class HistoryMixin(StoreParts):
    """The history buffer, its flushes and ``load_history``, for ``DynamoDBStore`` (module docstring)."""

    if TYPE_CHECKING:
        _logs: OrderedDict[str, tuple[int, list[dict[str, Any]]]]

        @staticmethod
        def _check_size(item: dict[str, Any], what: str, step: str | None = None) -> int: ...

        def _head_at(self, key: str, version: int) -> dict[str, Any]: ...

        def _not_found(self, key: str) -> ExecutionNotFoundError: ...

        def _stamp_for(self, now: float) -> int | None: ...

    @staticmethod
    def _pack(events: list[dict[str, Any]]) -> bytes:
        return pack_events(events)

    @staticmethod
    def _unpack(value: dict[str, Any] | None) -> list[dict[str, Any]]:
        return unpack_events(bytes(value["B"])) if value else []

    def _remember_log(self, key: str, header_item: dict[str, Any]) -> None:
        """Note the history buffer of a header item just read (what the next commit builds on)."""
        self._note_log(key, int(header_item["version"]["N"]), self._unpack(header_item.get(LOG)))

    def _note_log(self, key: str, version: int, log: list[dict[str, Any]] | None) -> None:
        with self._client_lock:
            if log is None:
                self._logs.pop(key, None)
                return
            _remember(self._logs, key, (version, log), _LOG_CACHE)

    def _known_log(self, key: str, version: int) -> list[dict[str, Any]]:
        """The history buffer stored at header ``version``; raises ConflictError if the header has moved on."""
        with self._client_lock:
            known = self._logs.get(key)
        if known is not None and known[0] == version:
            return known[1]
        return self._unpack(self._head_at(key, version).get(LOG))

    def _history_for(self, key: str, commit: Commit, attrs: dict[str, Any], puts: list[tuple[dict[str, Any], int]],
                     expires_at: int | None) -> list[dict[str, Any]] | None:
        """Place ``commit.events``: in the header's buffer (``attrs[LOG]``), flushing the buffer first
        when it would grow past ``LOG_BUFFER_BYTES``, or as an item of the transaction when they alone
        are larger. Returns the buffer as the header will hold it (None: not known here)."""
        if not commit.events:  # the buffer stays as it is
            with self._client_lock:
                known = self._logs.get(key)
            return known[1] if known is not None and known[0] == commit.expected_version else None
        version = commit.expected_version + 1
        new = commit.events
        log = self._known_log(key, commit.expected_version)
        packed = self._pack(log + new)
        if len(packed) <= LOG_BUFFER_BYTES:
            attrs[LOG] = {"B": packed}
            return log + new
        if log:
            self._flush(key, log)  # before the commit that empties the buffer: see the module docstring
        packed = self._pack(new)
        if len(packed) <= LOG_BUFFER_BYTES:
            attrs[LOG] = {"B": packed}
            return new
        item = self._history_item(key, new, expires_at)
        puts.append((item, self._check_size(item, f"execution {key!r}: the history of version {version}")))
        attrs[LOG] = {"NULL": True}
        return []

    def _history_item(self, key: str, events: list[dict[str, Any]], expires_at: int | None = None) -> dict[str, Any]:
        item = self._key(key, f"{HISTORY_PREFIX}{position(events[0])[0]:012d}")
        item.update({"events": {"B": self._pack(events)}, "count": it.n(len(events))})
        if expires_at is not None:
            item[TTL_ATTRIBUTE] = it.n(expires_at)
        return item

    def _flush(self, key: str, log: list[dict[str, Any]]) -> None:
        """Put buffered events as their history item, unless it already holds as many (idempotent)."""
        try:
            self.client.put_item(TableName=self.table, Item=self._history_item(key, log, self._stamp_for(self.clock())),
                                 ConditionExpression="attribute_not_exists(#pk) OR #n < :n",
                                 ExpressionAttributeNames={"#pk": PK, "#n": "count"},
                                 ExpressionAttributeValues={":n": it.n(len(log))})
        except Exception as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise

    def load_history(self, key: str, after: tuple[int, int] | None = None,
                     limit: int = 1000) -> list[dict[str, Any]]:
        # the header first: a buffer flushed after this read is then found among the items
        resp = self.client.get_item(TableName=self.table, Key=self._key(key, SK_HEADER), ConsistentRead=True,
                                    ProjectionExpression="#log", ExpressionAttributeNames={"#log": LOG})
        if "Item" not in resp:
            raise self._not_found(key)
        buffered = self._unpack(resp["Item"].get(LOG))
        events: dict[str, dict[str, Any]] = {}
        start = it.s(HISTORY_PREFIX)
        if after is not None:  # the item holding ``after`` starts at or before its version
            holder = self.client.query(
                TableName=self.table, KeyConditionExpression="#pk = :pk AND #sk BETWEEN :lo AND :hi",
                ExpressionAttributeNames={"#pk": PK, "#sk": SK}, ScanIndexForward=False, Limit=1,
                ExpressionAttributeValues={":pk": it.s(key), ":lo": it.s(HISTORY_PREFIX),
                                           ":hi": it.s(f"{HISTORY_PREFIX}{after[0]:012d}")}, ConsistentRead=True)
            if holder.get("Items"):
                start = holder["Items"][0][SK]
        kwargs: dict[str, Any] = {
            "TableName": self.table, "KeyConditionExpression": "#pk = :pk AND #sk BETWEEN :lo AND :hi",
            "ExpressionAttributeNames": {"#pk": PK, "#sk": SK},
            "ExpressionAttributeValues": {":pk": it.s(key), ":lo": start, ":hi": it.s(HISTORY_PREFIX + "~")},
            "ConsistentRead": True, "Limit": 10,
        }
        while True:
            resp = self.client.query(**kwargs)
            for item in resp.get("Items", []):
                for event in self._unpack(item["events"]):
                    if after is None or position(event) > after:
                        events[event["id"]] = event
            if len(events) >= limit or "LastEvaluatedKey" not in resp:
                break
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
        for event in buffered:
            if after is None or position(event) > after:
                events.setdefault(event["id"], event)
        return sorted(events.values(), key=position)[:limit]

    def _flush_behind(self, key: str) -> int | None:
        """Put the history buffer this store's last commit left in the header as its history item when it
        holds ``LOG_FLUSH_BEHIND_BYTES`` or more (after the jobs are sent, off the critical path, so a
        later commit seldom flushes before its update); returns the version whose buffer it put, for
        ``mark_sent``'s update to empty it while the header is still at that version (else None)."""
        with self._client_lock:
            known = self._logs.get(key)
        if known is None or not known[1] or len(self._pack(known[1])) < LOG_FLUSH_BEHIND_BYTES:
            return None
        self._flush(key, known[1])
        return known[0]

    def _forget_log(self, key: str, version: int | None) -> None:
        """Note that the header at ``version`` no longer holds a history buffer (``mark_sent`` emptied it)."""
        if version is not None:
            self._note_log(key, version, [])
