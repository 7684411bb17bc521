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

Reading what the kit did not write (``ObjectReader``): a map's ``items_from``
(``engine/items_from.py``) names an object anywhere its backend can reach, so
a store also ``read``s any URI of its ``schemes``: ``file:///abs/path`` for the
local stores (memory and folder: the process's own files), ``s3://bucket/key``
for ``S3BlobStore`` (any bucket, with the same client; the stack grants the
buckets listed in ``RunfoxEngine(items_buckets=...)``). ``read`` raises
``BlobMissingError`` for nothing there and ``PayloadError`` for a URI it
cannot take or may not read; anything else is the store's trouble (retried).

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
from urllib.parse import unquote, urlsplit

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


@runtime_checkable
class ObjectReader(Protocol):
    """A blob store that also reads objects it did not write, by URI (a map's ``items_from``)."""

    schemes: tuple[str, ...]  # the URI schemes ``read`` takes, e.g. ("file",) or ("s3",)

    def read(self, uri: str) -> bytes:
        """The bytes of the object at ``uri``; ``BlobMissingError`` when there is none."""
        ...


def read_object(store: BlobStore | None, uri: str) -> bytes:
    """The bytes at ``uri``, read by ``store``; ``PayloadError`` naming the schemes it reads when
    it cannot take this one (or there is no store), ``BlobMissingError`` when nothing is there."""
    scheme = uri.split("://", 1)[0] if "://" in uri else ""
    schemes = store.schemes if isinstance(store, ObjectReader) else ()
    if scheme not in schemes:
        reads = f"reads only {', '.join(f'{s}://' for s in schemes)} URIs" if schemes else "reads no objects"
        raise PayloadError(f"this backend {reads}; it cannot read {uri!r}")
    return store.read(uri)  # type: ignore[union-attr]


def file_path(uri: str) -> Path:
    """The absolute path a ``file:///abs/path`` URI names; ``PayloadError`` for any other shape."""
    parts = urlsplit(uri)
    path = unquote(parts.path)
    if parts.scheme != "file" or parts.netloc not in ("", "localhost") or not path.startswith("/") \
            or parts.query or parts.fragment:
        raise PayloadError(f"{uri!r} is not a file URI of an absolute path (file:///abs/path)")
    return Path(path)


def s3_parts(uri: str) -> tuple[str, str]:
    """(bucket, key) of ``s3://bucket/key``; ``PayloadError`` when either is missing."""
    bucket, _, key = uri[len("s3://"):].partition("/") if uri.startswith("s3://") else ("", "", "")
    if not bucket or not key:
        raise PayloadError(f"{uri!r} is not an S3 URI s3://bucket/key")
    return bucket, key


def read_file(uri: str) -> bytes:
    """The bytes of the local file a ``file://`` URI names (``BlobMissingError`` when it is not there)."""
    path = file_path(uri)
    try:
        return path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise BlobMissingError(f"{uri!r} is missing: no file {path}") from None
    except PermissionError:
        raise PayloadError(f"{uri!r} cannot be read: permission denied on {path}") from None


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
        self.schemes: tuple[str, ...] = ("file",)  # ``read``: the process's own files
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

    def read(self, uri: str) -> bytes:
        return read_file(uri)

    def __len__(self) -> int:
        with self._lock:
            return len(self._blobs)


class FolderBlobStore:
    """Blobs as files in one folder; a write is a rename, so a reader never sees half a file."""

    def __init__(self, folder: str | os.PathLike[str]):
        self.folder = Path(folder).resolve()
        self.location = self.folder.as_uri() + "/"
        self.schemes: tuple[str, ...] = ("file",)  # ``read``: any local file, not only this folder's

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

    def read(self, uri: str) -> bytes:
        return read_file(uri)


def beside(db_path: str | os.PathLike[str]) -> FolderBlobStore:
    """The blob folder of a SQLite file: ``<db_path>.blobs`` next to it."""
    return FolderBlobStore(f"{os.fspath(db_path)}{BLOB_FOLDER_SUFFIX}")
