"""blob_homes.py -- which blob store each local backend keeps its large values in.

- ``InMemoryStore``: one ``MemoryBlobStore`` per store object, shared by every
  Backend built on that store (and gone with it);
- ``SqliteStore(path)`` / ``SqliteRunner(path)``: the folder beside the file
  (``blobs.beside``), so any process that opens the file reads the same values;
- anything else (DynamoDB): none unless given; the AWS factory passes the
  kit's S3 bucket (``runfox_core.aws.s3_blobs``).

A worker built on a runner alone (``InProcessWorker(runner, execute)``) gets
the codec of that runner: the SQLite folder, or none for the in-process
runner, whose jobs share the process (and so the registry, ``payloads.py``)
with the backend that wrote their references; a large return then travels
inline to the engine, which packs it when applying the result.
"""

from __future__ import annotations

import weakref
from typing import Any

from ..blobs import BlobStore, MemoryBlobStore, beside
from ..payloads import NO_BLOBS, Codec
from .inmemory_store import InMemoryStore
from .sqlite_runner import SqliteRunner
from .sqlite_store import SqliteStore

_MEMORY: weakref.WeakKeyDictionary[InMemoryStore, MemoryBlobStore] = weakref.WeakKeyDictionary()


def blob_store_for(store: Any) -> BlobStore | None:
    """The blob store a Store keeps its large values in by default (None: keep them inline)."""
    if isinstance(store, InMemoryStore):
        blobs = _MEMORY.get(store)
        if blobs is None:
            blobs = _MEMORY.setdefault(store, MemoryBlobStore())
        return blobs
    if isinstance(store, SqliteStore):
        return beside(store.db_path)
    return None


def worker_codec(runner: Any) -> Codec:
    """The codec a worker on ``runner`` reads and writes references with."""
    if isinstance(runner, SqliteRunner):
        return Codec(beside(runner.db_path))
    return NO_BLOBS
