"""moto_patches.py -- make moto's DynamoDB transactions cost O(items touched), not O(table).

The local emulator's server applies this for the life of the process (see
``server.py``); tests that run moto in-process (``mock_aws``) opt in with
``with fast_moto_transactions():``. Without it, a commit's cost grows with
every item the table holds, and a load test of a few thousand steps slows to
a crawl.
"""

from __future__ import annotations

import contextlib
import copy
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

_IMMUTABLE = frozenset({"S", "N", "B", "BOOL", "NULL"})


@contextlib.contextmanager
def fast_moto_transactions() -> Iterator[None]:
    """``install()`` for the duration of a ``with`` block."""
    uninstall = install()
    try:
        yield
    finally:
        uninstall()


def install() -> Callable[[], None]:
    """Make moto's TransactWriteItems back a table up once per call, cheaply, instead of per action.

    moto deep-copies the whole table for every action of a transaction (for
    rollback), which makes a commit O(actions x items) and a 1,000-step test
    take minutes. This keeps the same rollback but backs up once per call:
    the untouched items are shared with the original (a transaction can only
    change the items it names), and the named ones are copied, sharing only
    immutable attribute values (S, N, B, BOOL, NULL). It touches moto internals, so it lives here, with the
    emulator, and is opt-in for in-process moto (``mock_aws``). Returns the
    function that undoes it.
    """
    import moto.dynamodb.models as models
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
    from moto.dynamodb.models.table import Table

    real_copy = models.copy
    real_transact = models.DynamoDBBackend.transact_write_items
    memo: dict[int, Any] = {}
    touched: dict[str, list[tuple[Any, Any]]] = {}  # table -> (hash, range) keys the transaction names

    def item_backup(item: Any) -> Any:
        new: Any = Item.__new__(Item)  # filled by hand: Item.__init__ would copy every attribute
        new.hash_key, new.range_key = item.hash_key, item.range_key
        attrs = LimitedSizeDict.__new__(LimitedSizeDict)
        dict.__init__(attrs)
        for name, value in item.attrs.items():
            dict.__setitem__(attrs, name, value if value.type in _IMMUTABLE else copy.deepcopy(value))
        new.attrs = attrs
        return new

    class Copy:
        def __getattr__(self, name: str) -> Any:
            return getattr(real_copy, name)

        @staticmethod
        def deepcopy(obj: Any, memo_: Any = None) -> Any:
            if not isinstance(obj, Table):
                return real_copy.deepcopy(obj, memo_)
            if id(obj) not in memo:
                # Share every partition's items, except those the transaction can change (an
                # Update mutates its item in place): those get their own copy for the rollback.
                clone = real_copy.copy(obj)
                clone.items = defaultdict(dict)
                for h, v in obj.items.items():
                    clone.items[h] = dict(v) if isinstance(v, dict) else v
                for h, r in touched.get(obj.name, ()):
                    part = obj.items.get(h)
                    if isinstance(part, dict):
                        if r in part:
                            clone.items[h][r] = item_backup(part[r])
                    elif part is not None:
                        clone.items[h] = item_backup(part)
                memo[id(obj)] = clone
            return memo[id(obj)]

    def keys_named(backend: Any, transact_items: Any) -> dict[str, list[tuple[Any, Any]]]:
        named: dict[str, list[tuple[Any, Any]]] = {}
        for entry in transact_items:
            _, op = next(iter(entry.items()))
            table = backend.tables.get(op.get("TableName"))
            key = op.get("Key") or op.get("Item")
            if table is None or not key or table.hash_key_attr not in key:
                continue
            hash_value = DynamoType(key[table.hash_key_attr])
            range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr in key else None
            named.setdefault(table.name, []).append((hash_value, range_value))
        return named

    def transact_write_items(self: Any, transact_items: Any) -> Any:
        memo.clear()
        touched.clear()
        touched.update(keys_named(self, transact_items))
        try:
            return real_transact(self, transact_items)
        finally:
            memo.clear()
            touched.clear()

    models.copy = Copy()  # type: ignore[assignment]
    models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]

    def uninstall() -> None:
        models.copy = real_copy
        models.DynamoDBBackend.transact_write_items = real_transact  # type: ignore[method-assign]

    return uninstall
