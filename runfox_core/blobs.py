"""blobs.py -- BlobStore: where values too large to travel inline are kept, by content.

One port, three local homes and one remote (``runfox_core.aws.s3_blobs``):

- ``MemoryBlobStore``: a dict, for the in-memory backend (lives as long as
  the store object);
- ``FolderBlobStore``: one file per value in a folder beside the SQLite file
  (``beside(db_path)``), shared by every process that opens that file;
- ``S3BlobStore``: the kit's bucket, for DynamoDB + SQS and the local emulator.

A store keeps bytes under a key and answers with a URI that starts with its
``location`` (``memory://<id>/``, ``file:///abs/folder/``, ``s3://bucket/``).
Keys are chosen by the codec (``payloads.py``: the SHA-256 of the bytes), so a
``put`` of a key that exists writes the same bytes again; that rewrite is
wanted, because it renews the object's age for a lifecycle rule. ``get``
raises ``BlobMissingError`` naming the URI when nothing is there.

Known limits: a folder store never deletes (remove the folder with the
SQLite file); the memory store holds every value until it is collected.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
import uuid
from pathlib import Path
from typing import Protocol, runtime_checkable

from .errors import PayloadError

BLOB_FOLDER_SUFFIX = ".blobs"  # the folder beside a SQLite file: <db>.blobs/
_SAFE_KEY = re.compile(r"^[A-Za-z0-9_.=-]+(?:/[A-Za-z0-9_.=-]+)*$")


class BlobMissingError(PayloadError):
    """Raised when a URI names nothing in its store (deleted, expired, or never written)."""


@runtime_checkable
class BlobStore(Protocol):
    """Bytes by key; every URI it answers starts with ``location``."""

    location: str

    def put(self, key: str, data: bytes) -> str:
        """Keep ``data`` under ``key`` (writing it again if it exists); return its URI."""
        ...

    def get(self, uri: str) -> bytes:
        """The bytes at ``uri``; raises ``BlobMissingError`` when there are none."""
        ...


def key_of(store: BlobStore, uri: str) -> str:
    """The key ``uri`` names inside ``store``; raises ``PayloadError`` for a URI outside it or a key
    that is not a plain path (no ``..``, no empty parts)."""
    if not uri.startswith(store.location):
        raise PayloadError(f"{uri!r} is outside the blob store {store.location!r}")
    key = uri[len(store.location):]
    if not _SAFE_KEY.match(key) or any(part in (".", "..") for part in key.split("/")):
        raise PayloadError(f"{uri!r} does not name a plain key in {store.location!r}")
    return key


class MemoryBlobStore:
    """Blobs in a dict: the in-memory backend's store (one per Backend unless shared)."""

    def __init__(self) -> None:
        self.location = f"memory://{uuid.uuid4().hex}/"
        self._blobs: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def put(self, key: str, data: bytes) -> str:
        uri = self.location + key
        key_of(self, uri)
        with self._lock:
            self._blobs[key] = bytes(data)
        return uri

    def get(self, uri: str) -> bytes:
        key = key_of(self, uri)
        with self._lock:
            data = self._blobs.get(key)
        if data is None:
            raise BlobMissingError(f"{uri!r} is missing from the in-memory blob store")
        return data

    def __len__(self) -> int:
        with self._lock:
            return len(self._blobs)


class FolderBlobStore:
    """Blobs as files in one folder; a write is a rename, so a reader never sees half a file."""

    def __init__(self, folder: str | os.PathLike[str]):
        self.folder = Path(folder).resolve()
        self.location = self.folder.as_uri() + "/"

    def put(self, key: str, data: bytes) -> str:
        uri = self.location + key
        path = self.folder / key_of(self, uri)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return uri

    def get(self, uri: str) -> bytes:
        path = self.folder / key_of(self, uri)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise BlobMissingError(f"{uri!r} is missing: no file {path}") from None


def beside(db_path: str | os.PathLike[str]) -> FolderBlobStore:
    """The blob folder of a SQLite file: ``<db_path>.blobs`` next to it."""
    return FolderBlobStore(f"{os.fspath(db_path)}{BLOB_FOLDER_SUFFIX}")
