"""dynamodb_store.py -- the Store on one DynamoDB table: a step costs O(1) items.

Key schema (names in ``_keys.py``): partition ``pk`` = execution key
(``{workflow_id}#{execution_id}``), sort key ``sk``:

==================  ==========================================================
sk                  attributes
==================  ==========================================================
``def``             ``data`` (B) zlib(JSON(ExecutionDefinition)), or its first
                    piece; ``parts`` (N) how many pieces. Immutable.
``def#0001``...     ``data`` (B) the next pieces, when the compressed
                    definition exceeds 350,000 bytes. Immutable.
``header``          ``version`` (N) the optimistic-concurrency fence;
                    ``status`` (S); ``unsent`` (M) step -> {``run_id`` (N),
                    ``claimed_at`` (N)}, changed only by per-step deltas;
                    ``body`` (S) JSON of the rest of ExecutionHeader.
``step#<step_id>``  ``step_id`` (S); ``record`` (S) JSON of the StepRecord.
``state#<key>``     ``state_key`` (S); ``value`` (S) JSON of the value.
==================  ==========================================================

and the name claim: pk ``name#<name>``, sk ``name``, ``execution`` (S) the
key that holds the name, ``name`` (S). Over-long ids are hashed (``_keys.py``).

Why this shape:

- State is one item per key, not shards: DynamoDB bills a write by the size
  of the whole item, so merging 1 KB into a 300 KB shard would cost 300 write
  units; per-key items keep write units per step flat as state grows, and a
  commit writes only the keys it carries (a Put each, no read).
- Values are JSON strings, not maps (see ``_items.py``): exact round trips.
- ``unsent`` entries move by ``SET unsent.#s`` / ``REMOVE unsent.#s`` only,
  and ``mark_sent`` is conditional on the entry's run_id and leaves
  ``version`` alone, so it commutes with any commit.

Consistency: ``commit`` is one TransactWriteItems fenced by ``version``.
``load_snapshot`` reads header, steps and state in one TransactGetItems,
which DynamoDB serialises against transactions (an atomic snapshot). The
separate ``load_*`` calls are each strongly consistent; used together they
are safe only header first (anything newer than the header then carries a
higher version and the commit fails with ``ConflictError``). Loading named
steps or state is one BatchGetItem that also asks for the header, projected
to its key, so a missing execution is told from missing records in one call.

Known limits (checked before any write; ``CommitTooLargeError`` /
``ItemTooLargeError``): one commit is one transaction, so at most 100 items
(the header + step records + state entries: one output can merge at most 98
keys into state) and 4 MB; any item at most 400 KB; a definition at most
about 3.9 MB compressed. ``max_steps_per_commit`` is 50 so a claim leaves
room for state entries; ``max_bytes_per_commit`` is a hint the engine may use
to split claims whose resolved inputs are large.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
import zlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from ..backend.store import Store
from ..engine.records import Commit, ExecutionDefinition, ExecutionHeader, StepRecord
from ..errors import ConflictError, ExecutionExistsError, ExecutionNotFoundError, RunfoxError
from ..payloads import encode_json
from . import _items as it
from ._clients import default_client, error_code
from ._keys import (
    PK,
    SK,
    SK_DEF,
    SK_HEADER,
    SK_NAME,
    STATE_PREFIX,
    STEP_PREFIX,
    def_chunk_sk,
    name_pk,
    state_sk,
    step_sk,
)
from .exceptions import CommitTooLargeError, ItemTooLargeError

DEF_PIECE_BYTES = 350_000  # compressed definition bytes per item
_RECORD_ATTRIBUTES = (PK, SK, "step_id", "record", "state_key", "value")  # what step/state loads read
_RETRIES = 8  # attempts for unprocessed keys and transaction conflicts on reads


def _chunks(seq: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


def _backoff(attempt: int) -> None:
    time.sleep(random.uniform(0, min(1.0, 0.02 * 2**attempt)))


def _reason_codes(exc: BaseException) -> list[str]:
    reasons = getattr(exc, "response", {}).get("CancellationReasons") or []
    return [r.get("Code") or "None" for r in reasons]


class DynamoDBStore(Store):
    """Executions in the DynamoDB table ``table`` (key schema: module docstring)."""

    max_steps_per_commit = 50
    max_bytes_per_commit = it.MAX_TRANSACTION_BYTES - 64 * 1024

    def __init__(self, table: str, client: Any = None):
        self.table = table
        self._client = client
        self._client_lock = threading.Lock()

    @property
    def client(self) -> Any:
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    self._client = default_client("dynamodb")
        return self._client

    # -- keys and items ---------------------------------------------------

    @staticmethod
    def _key(pk: str, sk: str) -> dict[str, Any]:
        return {PK: it.s(pk), SK: it.s(sk)}

    def _header_item(self, key: str, header: ExecutionHeader) -> dict[str, Any]:
        item = self._key(key, SK_HEADER)
        item.update(self._header_attrs(header))
        item["unsent"] = {"M": {step: self._unsent_value(entry) for step, entry in header.unsent.items()}}
        return item

    @staticmethod
    def _header_attrs(header: ExecutionHeader) -> dict[str, Any]:
        body = header.to_dict()
        for name in ("version", "status", "unsent"):
            body.pop(name)
        return {"version": it.n(header.version), "status": it.s(str(header.status)), "body": it.js(body)}

    @staticmethod
    def _unsent_value(entry: list[float]) -> dict[str, Any]:
        return {"M": {"run_id": it.n(int(entry[0])), "claimed_at": it.n(float(entry[1]))}}

    @staticmethod
    def _header_from_item(item: dict[str, Any]) -> ExecutionHeader:
        d = it.from_js(item["body"])
        d["version"] = int(item["version"]["N"])
        d["status"] = item["status"]["S"]
        d["unsent"] = {
            step: [int(v["M"]["run_id"]["N"]), it.from_n(v["M"]["claimed_at"])]
            for step, v in item.get("unsent", {}).get("M", {}).items()
        }
        return ExecutionHeader.from_dict(d)

    def _step_item(self, key: str, record: StepRecord) -> dict[str, Any]:
        item = self._key(key, step_sk(record.step_id))
        item["step_id"] = it.s(record.step_id)
        item["record"] = it.js(record.to_dict())
        return item

    def _state_item(self, key: str, state_key: str, value: Any) -> dict[str, Any]:
        item = self._key(key, state_sk(state_key))
        item["state_key"] = it.s(state_key)
        item["value"] = it.js(value)
        return item

    @staticmethod
    def _check_size(item: dict[str, Any], what: str) -> int:
        size = it.item_size(item)
        if size > it.MAX_ITEM_BYTES:
            raise ItemTooLargeError(f"{what} is {size:,} bytes; a DynamoDB item holds at most {it.MAX_ITEM_BYTES:,}")
        return size

    def _not_found(self, key: str) -> ExecutionNotFoundError:
        return ExecutionNotFoundError(f"no execution {key!r} in table {self.table!r}")

    # -- create -----------------------------------------------------------

    def create(self, definition: ExecutionDefinition, header: ExecutionHeader) -> None:
        key = definition.key
        data = zlib.compress(encode_json(definition.to_dict()).encode("utf-8"))
        pieces = [data[i : i + DEF_PIECE_BYTES] for i in range(0, len(data), DEF_PIECE_BYTES)]
        items = []
        for i, piece in enumerate(pieces):
            item = self._key(key, def_chunk_sk(i))
            item["data"] = {"B": piece}
            if i == 0:
                item["parts"] = it.n(len(pieces))
            items.append(item)
        items.append(self._header_item(key, header))
        total = sum(self._check_size(item, f"execution {key!r} {item[SK]['S']} item") for item in items)
        if total > it.MAX_TRANSACTION_BYTES or len(items) > it.MAX_TRANSACTION_ITEMS - 1:
            raise CommitTooLargeError(
                f"execution {key!r}: the definition is {len(data):,} bytes compressed; "
                f"one DynamoDB transaction holds at most {it.MAX_TRANSACTION_BYTES:,} bytes"
            )
        names = {"#pk": PK}
        actions: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": item,
                    "ConditionExpression": "attribute_not_exists(#pk)",
                    "ExpressionAttributeNames": names,
                }
            }
            for item in items
        ]
        if definition.name is not None:
            claim = self._key(name_pk(definition.name), SK_NAME)
            claim["execution"] = it.s(key)
            claim["name"] = it.s(definition.name)
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

    def _require(self, key: str) -> None:
        if not self.exists(key):
            raise self._not_found(key)

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
        return self._header_from_item(resp["Item"])

    def load_steps(self, key: str, step_ids: Iterable[str] | None = None) -> dict[str, StepRecord]:
        if step_ids is None:
            items = self._query_prefix(key, STEP_PREFIX)
            if not items:
                self._require(key)
            return self._steps_from(items)
        items = self._batch_get_checked(key, [self._key(key, step_sk(s)) for s in dict.fromkeys(step_ids)])
        return self._steps_from(items)

    def load_state(self, key: str, keys: Iterable[str] | None = None) -> dict[str, Any]:
        if keys is None:
            items = self._query_prefix(key, STATE_PREFIX)
            if not items:
                self._require(key)
            return self._state_from(items)
        items = self._batch_get_checked(key, [self._key(key, state_sk(k)) for k in dict.fromkeys(keys)])
        return self._state_from(items)

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
        keys = [self._key(key, SK_HEADER)]
        keys += [self._key(key, step_sk(s)) for s in step_ids]
        keys += [self._key(key, state_sk(k)) for k in state_keys]
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
            n_steps = len(step_ids)
            steps = self._steps_from(i for i in found[1 : 1 + n_steps] if i)
            state = self._state_from(i for i in found[1 + n_steps :] if i)
            return self._header_from_item(found[0]), steps, state
        return None

    @staticmethod
    def _steps_from(items: Iterable[dict[str, Any]]) -> dict[str, StepRecord]:
        steps = (StepRecord.from_dict(it.from_js(item["record"])) for item in items)
        return {record.step_id: record for record in steps}

    @staticmethod
    def _state_from(items: Iterable[dict[str, Any]]) -> dict[str, Any]:
        return {item["state_key"]["S"]: it.from_js(item["value"]) for item in items}

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

    def _batch_get_checked(self, key: str, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The step/state items at ``keys``; raises ExecutionNotFoundError if the execution is missing.

        The header rides along in the same BatchGetItem, projected to its key
        (the projection leaves out the header's ``body``), so telling "no
        such record" from "no such execution" costs no extra call.
        """
        found = self._batch_get([self._key(key, SK_HEADER), *keys], projection=_RECORD_ATTRIBUTES)
        items = [item for item in found if item[SK]["S"] != SK_HEADER]
        if len(items) == len(found):
            raise self._not_found(key)
        return items

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
        puts = [self._step_item(key, record) for record in commit.steps.values()]
        puts += [self._state_item(key, k, v) for k, v in commit.state.items()]
        count = 1 + len(puts)
        if count > it.MAX_TRANSACTION_ITEMS:
            raise CommitTooLargeError(
                f"execution {key!r}: one commit needs {count} items (the header, {len(commit.steps)} step "
                f"records, {len(commit.state)} state entries); a DynamoDB transaction holds at most "
                f"{it.MAX_TRANSACTION_ITEMS}"
            )
        total = 0
        for item in puts:
            what = (
                f"step {item['step_id']['S']!r} record"
                if "step_id" in item
                else f"state entry {item['state_key']['S']!r}"
            )
            total += self._check_size(item, f"execution {key!r}: {what}")
        attrs = self._header_attrs(commit.header)
        total += self._check_size({**self._key(key, SK_HEADER), **attrs}, f"execution {key!r}: the header")
        update = self._header_update(key, commit, attrs)
        if total > it.MAX_TRANSACTION_BYTES:
            raise CommitTooLargeError(
                f"execution {key!r}: one commit writes {total:,} bytes; a DynamoDB transaction holds at most "
                f"{it.MAX_TRANSACTION_BYTES:,}"
            )
        actions = [{"Update": update}] + [{"Put": {"TableName": self.table, "Item": item}} for item in puts]
        try:
            self._transact_write(actions)
        except Exception as exc:
            codes = _reason_codes(exc)
            # TransactionConflict: another transaction held the header; nothing was applied either way.
            if error_code(exc) == "TransactionCanceledException" and (
                "ConditionalCheckFailed" in codes or "TransactionConflict" in codes
            ):
                raise ConflictError(
                    f"execution {key!r} changed since version {commit.expected_version} (or does not exist)"
                ) from None
            raise

    def _header_update(self, key: str, commit: Commit, attrs: dict[str, Any]) -> dict[str, Any]:
        """The conditional header Update of a commit: new body, version, and unsent deltas.

        A step both removed and added keeps the added entry (the newer claim).
        """
        names = {"#v": "version", "#st": "status", "#b": "body"}
        values = {
            ":v": attrs["version"],
            ":st": attrs["status"],
            ":b": attrs["body"],
            ":expected": it.n(commit.expected_version),
        }
        sets = ["#v = :v", "#st = :st", "#b = :b"]
        for i, (step, entry) in enumerate(commit.unsent_add.items()):
            names[f"#a{i}"] = step
            values[f":a{i}"] = self._unsent_value(entry)
            sets.append(f"#u.#a{i} = :a{i}")
        removes = [s for s in dict.fromkeys(commit.unsent_remove) if s not in commit.unsent_add]
        for i, step in enumerate(removes):
            names[f"#r{i}"] = step
        if commit.unsent_add or removes:
            names["#u"] = "unsent"  # DynamoDB rejects unused names
        expression = "SET " + ", ".join(sets)
        if removes:
            expression += " REMOVE " + ", ".join(f"#u.#r{i}" for i in range(len(removes)))
        if len(expression) > it.MAX_EXPRESSION_BYTES:
            raise CommitTooLargeError(
                f"execution {key!r}: one commit changes {len(commit.unsent_add) + len(removes)} unsent entries; "
                f"split it (the update expression is {len(expression):,} bytes, DynamoDB allows "
                f"{it.MAX_EXPRESSION_BYTES:,})"
            )
        return {
            "TableName": self.table,
            "Key": self._key(key, SK_HEADER),
            "UpdateExpression": expression,
            "ConditionExpression": "#v = :expected",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }

    def mark_sent(self, key: str, sent: Mapping[str, int]) -> None:
        """Drop each unsent entry whose run_id matches; one UpdateItem when all match.

        If any entry no longer matches (a newer claim, or already removed),
        the entries are retried one by one so the matching ones still go.
        """
        entries = list(sent.items())
        for chunk in _chunks(entries, 50):  # keeps each expression far under 4 KB
            if not self._remove_unsent(key, chunk) and len(chunk) > 1:
                for entry in chunk:
                    self._remove_unsent(key, [entry])

    def _remove_unsent(self, key: str, entries: list[tuple[str, int]]) -> bool:
        names = {"#u": "unsent", "#r": "run_id"}
        values = {}
        for i, (step, run_id) in enumerate(entries):
            names[f"#s{i}"] = step
            values[f":r{i}"] = it.n(int(run_id))
        try:
            self.client.update_item(
                TableName=self.table,
                Key=self._key(key, SK_HEADER),
                UpdateExpression="REMOVE " + ", ".join(f"#u.#s{i}" for i in range(len(entries))),
                ConditionExpression=" AND ".join(f"#u.#s{i}.#r = :r{i}" for i in range(len(entries))),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True
