"""_ddb_common.py -- what ``dynamodb_store.py`` and its concern modules (``_ddb_*.py``) share.

Owns: the logger they write to, the bounded per-execution caches' helper and
size, and ``StoreParts``, the part of ``DynamoDBStore`` every concern module's
mixin uses (declared for mypy only; at run time the class is empty, and
``DynamoDBStore`` provides it all). Nothing here calls AWS. Known limit: the
declarations are checked against ``DynamoDBStore`` only where it inherits the
mixins (mypy reports a mismatch there), not in the mixins themselves.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

log = logging.getLogger("runfox_core.aws")

_LOG_CACHE = 1024  # executions whose last known buffer a store remembers


def _remember(cache: OrderedDict[Any, Any], key: Any, value: Any, limit: int) -> None:
    """Keep ``value`` under ``key`` in ``cache``, the most recent last, dropping the oldest past ``limit``
    (the caller holds the store's lock)."""
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > limit:
        cache.popitem(last=False)


class StoreParts:
    """What every mixin of ``DynamoDBStore`` uses of it: its table, client, clock, lock and item keys."""

    if TYPE_CHECKING:
        table: str
        clock: Callable[[], float]
        _client_lock: threading.Lock

        @property
        def client(self) -> Any: ...

        @staticmethod
        def _key(pk: str, sk: str) -> dict[str, Any]: ...
