"""_ddb_journal.py -- how ``DynamoDBStore`` applies a commit larger than one DynamoDB transaction.

Owns: the journal items (``journal#<v>#<i>``) and the header's ``pending``
marker, applying the pieces exactly once by whichever process reads the
header next, and ``_settle``, which every read of a header passes through
(``JournalMixin``, which ``DynamoDBStore`` inherits).

Commits larger than a transaction (a fan-out of any width, a loop resetting
hundreds of steps, an output merging hundreds of state keys): ``commit``
writes what does not fit as journal items (plain PutItems, invisible: no
reader looks at them unless the header names them), then the one fenced
header update -- version check, new header, and the marker ``pending`` =
{version, pieces, next} -- with as many items as fit, then one transaction
per journal piece, each conditioned on ``pending.next`` naming that piece
and advancing it (the last removes the marker), then deletes the journal.

The invariant that makes this safe to crash anywhere and to repeat: *no one
reads or writes an execution on top of a half-applied commit.* Every read
that can serve a transition (``load_header``, ``load_snapshot``, named and
whole ``load_steps``/``load_state``) sees the marker first (the header rides
along, or is read first) and finishes the journal before returning; every
commit is also conditioned on the marker being absent. A crash before the
header update leaves only unreferenced journal items (the transition is
simply run again); a crash after it leaves a marker that the next reader
completes, exactly once per piece (the ``next`` condition), whoever it is.
The version moves once per commit, so the engine's optimistic retry loop is
unchanged. A small commit (the usual step) takes the single-transaction path
and pays nothing for this.
"""

from __future__ import annotations

import json
import zlib
from typing import TYPE_CHECKING, Any

from ..engine.records import Commit
from ..payloads import encode_json
from . import _items as it
from ._clients import error_code
from ._ddb_common import StoreParts, log
from ._ddb_retention import _TERMINAL, EXPIRING, STAMPED
from ._keys import SK_HEADER, TTL_ATTRIBUTE, journal_sk
from .exceptions import CommitTooLargeError

JOURNAL_PIECE_BYTES = 350_000  # item bytes per journal entry (it holds them as compressed JSON)
MAX_PIECE_ITEMS = it.MAX_TRANSACTION_ITEMS - 1  # items per journal entry: one transaction with the header
MAX_UNSENT_DELTAS = 100  # unsent changes per header update: about 1.7 KB of its 4 KB expression
PENDING = "pending"  # header attribute: the journal marker of a half-applied commit


def _marker(header_item: dict[str, Any]) -> dict[str, int] | None:
    """The journal marker of a header item (``pending``), as ints, or None."""
    raw = header_item.get(PENDING)
    return {name: int(value["N"]) for name, value in raw["M"].items()} if raw else None


def _pieces(items: list[tuple[dict[str, Any], int]], deletes: list[dict[str, Any]],
            deltas: list[tuple[str, list[float] | None]]) -> list[dict[str, Any]]:
    """Journal pieces, each small enough to apply in one transaction with the header update."""
    pieces: list[dict[str, Any]] = []
    current: dict[str, Any] = {"items": [], "deletes": [], "unsent": []}
    size = 0

    def full(extra: int) -> bool:
        return len(current["items"]) + len(current["deletes"]) == MAX_PIECE_ITEMS or size + extra > JOURNAL_PIECE_BYTES

    for item, item_size in items:
        if full(item_size):
            pieces.append(current)
            current, size = {"items": [], "deletes": [], "unsent": []}, 0
        current["items"].append(item)
        size += item_size
    for key in deletes:
        if full(0):
            pieces.append(current)
            current, size = {"items": [], "deletes": [], "unsent": []}, 0
        current["deletes"].append(key)
    for delta in deltas:
        if len(current["unsent"]) == MAX_UNSENT_DELTAS:
            pieces.append(current)
            current, size = {"items": [], "deletes": [], "unsent": []}, 0
        current["unsent"].append(list(delta))
    if current["items"] or current["deletes"] or current["unsent"]:
        pieces.append(current)
    return pieces


class JournalMixin(StoreParts):
    """Journaled commits and the settling of a header read, for ``DynamoDBStore`` (module docstring)."""

    if TYPE_CHECKING:
        def _commit_once(self, key: str, commit: Commit, attrs: dict[str, Any], puts: list[dict[str, Any]],
                         deltas: list[tuple[str, list[float] | None]], pending: dict[str, Any] | None = None,
                         deletes: list[dict[str, Any]] | None = None) -> None: ...

        def _unsent_expression(self, sets: list[str], removes: list[str],
                               deltas: list[tuple[str, list[float] | None]],
                               names: dict[str, str], values: dict[str, Any]) -> str: ...

        def _tombstone(self, key: dict[str, Any]) -> dict[str, Any]: ...

        def _transact_write(self, actions: list[dict[str, Any]], retry_conflicts: bool = False) -> None: ...

        def _head(self, key: str) -> dict[str, Any]: ...

        def _sweep(self, key: str, expires_at: int) -> None: ...

        def _note_stamp(self, key: str, stamped: int | None, status: str) -> None: ...

        def _renewal_due(self, stamped: int | None) -> bool: ...

        def _renew(self, key: str) -> None: ...

    def _commit_journaled(self, key: str, commit: Commit, attrs: dict[str, Any], header_size: int,
                          puts: list[tuple[dict[str, Any], int]], deletes: list[dict[str, Any]],
                          deltas: list[tuple[str, list[float] | None]]) -> None:
        """Journal what does not fit, commit the header with the journal marker, then apply the pieces.

        The first transaction carries the largest items (they may be too large
        to journal); every piece holds at most ``MAX_PIECE_ITEMS`` items,
        ``MAX_UNSENT_DELTAS`` unsent changes and ``JOURNAL_PIECE_BYTES`` bytes,
        so each applies in one transaction.
        """
        ordered = sorted(puts, key=lambda p: -p[1])
        first: list[dict[str, Any]] = []
        room = it.MAX_TRANSACTION_BYTES - header_size
        rest: list[tuple[dict[str, Any], int]] = []
        for item, size in ordered:
            if len(first) < it.MAX_TRANSACTION_ITEMS - 1 and size <= room:
                first.append(item)
                room -= size
            elif size > JOURNAL_PIECE_BYTES:
                raise CommitTooLargeError(
                    f"execution {key!r}: one commit holds more items over {JOURNAL_PIECE_BYTES:,} bytes than one "
                    f"DynamoDB transaction of {it.MAX_TRANSACTION_BYTES:,} bytes takes; nothing was written")
            else:
                rest.append((item, size))
        pieces = _pieces(rest, deletes, deltas[MAX_UNSENT_DELTAS:])
        version = commit.expected_version + 1
        for index, piece in enumerate(pieces):
            journal = self._key(key, journal_sk(version, index))
            portable = {**piece, "items": [it.portable(item) for item in piece["items"]]}  # (binary records)
            journal["data"] = {"B": zlib.compress(encode_json(portable).encode("utf-8"))}
            if TTL_ATTRIBUTE in attrs:  # an entry left behind (its delete failed) expires too
                journal[TTL_ATTRIBUTE] = attrs[TTL_ATTRIBUTE]
            self.client.put_item(TableName=self.table, Item=journal)
        pending = {"version": version, "pieces": len(pieces), "next": 0}
        self._commit_once(key, commit, attrs, first, deltas[:MAX_UNSENT_DELTAS], pending)
        self._drain(key, pending, pieces)

    def _drain(self, key: str, pending: dict[str, int], pieces: list[dict[str, Any]] | None = None) -> None:
        """Apply journal pieces ``pending["next"]`` onward, each exactly once, then delete the journal.

        Any process may run this, concurrently with others: each piece is one
        transaction conditioned on ``pending.next`` still naming it, so a
        piece applied by someone else fails the condition and the drainer
        reads the marker again and carries on from there.
        """
        version, count, index = int(pending["version"]), int(pending["pieces"]), int(pending["next"])
        while index < count:
            piece = pieces[index] if pieces is not None else self._read_piece(key, version, index)
            if piece is None:  # already applied and deleted by another drainer
                break
            last = index == count - 1
            names = {"#v": "version", "#p": PENDING, "#n": "next"}
            values: dict[str, Any] = {":v": it.n(version), ":i": it.n(index)}
            sets: list[str] = []
            if not last:
                values[":next"] = it.n(index + 1)
                sets.append("#p.#n = :next")
            deltas = [(step, entry) for step, entry in piece["unsent"]]
            expression = self._unsent_expression(sets, ["#p"] if last else [], deltas, names, values)
            update = {"TableName": self.table, "Key": self._key(key, SK_HEADER), "UpdateExpression": expression,
                      "ConditionExpression": "#v = :v AND #p.#n = :i", "ExpressionAttributeNames": names,
                      "ExpressionAttributeValues": values}
            actions = [{"Update": update}] + [{"Put": {"TableName": self.table, "Item": item}}
                                              for item in piece["items"]]
            actions += [self._tombstone(k) for k in piece.get("deletes", ())]
            try:
                self._transact_write(actions)
            except Exception as exc:
                if error_code(exc) != "TransactionCanceledException":
                    raise
                current = self._pending(key)
                if current is None or int(current["version"]) != version:
                    break
                index = int(current["next"])
                continue
            index += 1
        self._delete_journal(key, version, count)

    def _read_piece(self, key: str, version: int, index: int) -> dict[str, Any] | None:
        resp = self.client.get_item(TableName=self.table, Key=self._key(key, journal_sk(version, index)),
                                    ConsistentRead=True)
        item = resp.get("Item")
        if not item:
            return None
        piece = json.loads(zlib.decompress(bytes(item["data"]["B"])))
        piece["items"] = [it.from_portable(stored) for stored in piece["items"]]
        return piece

    def _pending(self, key: str) -> dict[str, int] | None:
        """The header's journal marker (None when no commit is half-applied); raises if no execution."""
        return _marker(self._head(key))

    def _settle(self, item: dict[str, Any], key: str) -> bool:
        """If header ``item`` shows a half-applied commit, finish it and return True (read again);
        if it shows an older release's unfinished sweep, or a running execution due for renewal
        ("Retention"), do that (the header is unchanged: False)."""
        pending = _marker(item)
        if pending is not None:
            self._drain(key, pending)
            return True
        if EXPIRING in item:  # a finished execution's sweep begun by an older release
            self._sweep(key, int(item[EXPIRING]["N"]))
        if "status" in item:
            stamped = int(item[STAMPED]["N"]) if STAMPED in item else None
            self._note_stamp(key, stamped, item["status"]["S"])
            if item["status"]["S"] not in _TERMINAL and self._renewal_due(stamped):
                self._renew(key)
        return False

    def _delete_journal(self, key: str, version: int, count: int) -> None:
        """Best effort: an entry left behind is never read again (the marker is gone)."""
        for start in range(0, count, it.MAX_BATCH_WRITE_ITEMS):
            requests = [{"DeleteRequest": {"Key": self._key(key, journal_sk(version, i))}}
                        for i in range(start, min(count, start + it.MAX_BATCH_WRITE_ITEMS))]
            try:
                self.client.batch_write_item(RequestItems={self.table: requests})
            except Exception as exc:  # an orphan costs storage only
                if error_code(exc) is None:
                    raise
                log.warning("could not delete journal entries: %s", exc, extra={"execution": key})
