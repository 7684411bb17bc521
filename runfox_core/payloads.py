"""payloads.py -- the codec: the one JSON encoder for stored and sent values, and the one place that
decides whether a value travels inline or by reference.

Every value the engine stores or sends (workflow inputs, step inputs, step
outputs and so state entries, the workflow's outputs) is a JSON object that
passes through ``Codec.pack`` at the boundary: compact JSON up to
``inline_bytes`` (default ``INLINE_BYTES``, 8 KiB) stays inline; above it, its
largest fields are written to the codec's ``BlobStore`` (``blobs.py``) and
replaced, largest first, by a *reference* until the rest fits::

    {"$ref": "s3://bucket/blobs/<sha256>", "sha256": "<hex>", "bytes": 1048576,
     "preview": "<first 256 characters of the JSON>"}

The key is the SHA-256 of the value's compact, key-sorted JSON, so the same
value is stored once. ``resolve`` (and ``Codec.unpack``) turn references back
into values: worker harnesses call it before ``execute(op, inputs)``; JSON
Logic calls ``load`` only when a path reaches *into* a referenced value
(``expressions.py``), so passing a reference on costs no read.

Reading a reference checks, in order: its shape; that it lies inside a blob
store this process knows (``register``: every Codec registers its store), so
a reference to any other bucket or folder is refused; that the object exists;
and that its size and SHA-256 match. Each failure is a ``BadReferenceError``
naming the URI, raised to the one reading it, which fails that attempt.

One encoder: ``encode`` is the JSON text of every value a Store or Runner
writes (records, state, headers, jobs, results) and the size the codec
measures; ``encode_json`` is the same with keys sorted, for what is hashed,
compared or sent as a message; ``decode`` reads either. No backend calls
``json.dumps`` itself (a test holds them to it), so the options (compact,
ASCII, no NaN) and the size rule live here alone.

Without a blob store (``Codec()``) nothing is offloaded and values keep
today's hard cap, ``MAX_PAYLOAD_BYTES`` of compact JSON, which is also the cap
on what stays inline after offloading (an object of many small fields).

Known limits: only top-level fields of an object are offloaded, each as one
blob (a 100 MB list is one read); a dict that has exactly the reference keys
is taken for a reference; reads are cached by hash (``CACHE_BYTES``) and
never invalidated, which content addressing makes safe.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import weakref
from collections import OrderedDict
from typing import Any

from .blobs import BlobStore
from .errors import PayloadError, RunfoxError

MAX_PAYLOAD_BYTES = 192 * 1024  # 196,608 bytes of compact JSON inline per inputs or output (an SQS message is 256 KiB)
INLINE_BYTES = 8 * 1024  # bytes of compact JSON kept inline by default; larger fields go by reference
PREVIEW_CHARS = 256  # characters of a referenced value's JSON kept in its reference
BLOB_PREFIX = "blobs/"  # key prefix of every value the codec writes
CACHE_BYTES = 64 * 1024 * 1024  # verified blob bytes kept per process (content-addressed: never stale)
CACHE_ITEM_BYTES = 16 * 1024 * 1024  # larger blobs are read each time, not cached
REF_KEY = "$ref"
REF_KEYS = frozenset({REF_KEY, "sha256", "bytes"})
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class BlobStoreError(RunfoxError):
    """Raised when a blob store could not be read (unreachable, throttled, a crash): not the data's
    fault, so it is never a failed attempt or a failed expression; the transition or job is retried."""


class BadReferenceError(PayloadError):
    """Raised when a reference cannot be read: malformed, outside the kit's blob store, missing, or
    not matching its size or SHA-256. The attempt reading it fails; nothing else changes."""


# The one JSON encoding of every stored or sent value. Compact; ASCII, every other character as a
# \u escape, so a text's length is its size in bytes (the size rule counts characters), any string
# Python holds survives (a lone surrogate has no UTF-8 form, and SQS refuses U+FFFE and U+FFFF
# unescaped); no NaN or infinity, which JSON has no words for.
_OPTIONS: dict[str, Any] = {"separators": (",", ":"), "ensure_ascii": True, "allow_nan": False}
_ENCODE = json.JSONEncoder(**_OPTIONS).encode
_ENCODE_CANONICAL = json.JSONEncoder(**_OPTIONS, sort_keys=True).encode


def encode(value: Any) -> str:
    """The JSON text of a stored or sent value (records, state, headers, jobs, results), in the
    value's own key order; its length is its size in bytes. Raises TypeError or ValueError for
    anything JSON cannot hold (RecursionError when nested too deeply)."""
    return _ENCODE(value)


def encode_json(value: Any) -> str:
    """``encode`` with keys sorted: the canonical text, hashed (blob keys), compared, and sent as a message."""
    return _ENCODE_CANONICAL(value)


def decode(text: str | bytes) -> Any:
    """The value of a JSON text written by ``encode`` (or by anything else that writes JSON)."""
    return json.loads(text)


# The smallest reference (no preview): a field no larger than this is never offloaded.
_MIN_REF_BYTES = len(encode({REF_KEY: "s3://b/" + BLOB_PREFIX + "0" * 64, "sha256": "0" * 64, "bytes": 0}))


def check_payload(value: Any, what: str, limit: int = MAX_PAYLOAD_BYTES) -> int:
    """Raise ``PayloadError`` unless ``value`` is a JSON object within ``limit``; return its size.

    ``what`` names the payload in the message, e.g. "step 'shout' output".
    """
    return len(_encode_object(value, what, limit))


def _encode_object(value: Any, what: str, limit: int | None) -> str:
    if not isinstance(value, dict):
        raise PayloadError(f"{what} must be a JSON object (dict), got {type(value).__name__}")
    try:
        text = encode(value)
    except (TypeError, ValueError) as exc:
        raise PayloadError(f"{what} is not JSON-serialisable: {exc}") from None
    except RecursionError:
        raise PayloadError(f"{what} is nested too deeply to serialise") from None
    if limit is not None and len(text) > limit:  # ASCII (ensure_ascii): characters are bytes
        raise PayloadError(f"{what} is {len(text):,} bytes of JSON; the limit is {limit:,} bytes")
    return text


def is_ref(value: Any) -> bool:
    """True for a reference: a dict with exactly ``$ref``, ``sha256``, ``bytes`` (and ``preview``)."""
    return (isinstance(value, dict) and REF_KEY in value and REF_KEYS <= value.keys() <= REF_KEYS | {"preview"}
            and isinstance(value[REF_KEY], str))


# ------------------------------------------------------------ the registry


_STORES: weakref.WeakValueDictionary[str, Any] = weakref.WeakValueDictionary()
_STORES_LOCK = threading.Lock()


def register(store: BlobStore) -> None:
    """Let this process read references into ``store`` (kept while the store object lives)."""
    with _STORES_LOCK:
        _STORES[store.location] = store


def store_for(uri: str) -> BlobStore:
    """The known blob store ``uri`` lies in; ``BadReferenceError`` if it lies in none."""
    with _STORES_LOCK:
        stores = list(_STORES.items())
    for location, store in stores:
        if uri.startswith(location):
            return store
    known = ", ".join(sorted(location for location, _ in stores)) or "none configured"
    raise BadReferenceError(f"reference {uri!r} points outside the kit's blob store ({known})")


class _Cache:
    def __init__(self, capacity: int):
        self.capacity = capacity
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, sha: str) -> bytes | None:
        with self._lock:
            data = self._items.get(sha)
            if data is not None:
                self._items.move_to_end(sha)
            return data

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._size = 0

    def put(self, sha: str, data: bytes) -> None:
        if len(data) > CACHE_ITEM_BYTES:
            return
        with self._lock:
            if sha in self._items:
                return
            self._items[sha] = data
            self._size += len(data)
            while self._size > self.capacity:
                _, dropped = self._items.popitem(last=False)
                self._size -= len(dropped)


_CACHE = _Cache(CACHE_BYTES)


def clear_cache() -> None:
    """Forget the blobs read or written so far (the next read of each goes to its store)."""
    _CACHE.clear()


def load(ref: Any) -> Any:
    """The value a reference names, read from its store and verified; ``BadReferenceError`` otherwise."""
    if not is_ref(ref):
        raise BadReferenceError(f"not a reference (needs exactly $ref, sha256, bytes, optional preview): "
                                f"{_short(ref)}")
    uri, sha, size = ref[REF_KEY], ref["sha256"], ref["bytes"]
    if not isinstance(sha, str) or not _SHA256.match(sha) or not isinstance(size, int) or size < 0:
        raise BadReferenceError(f"reference {uri!r}: sha256 must be 64 lowercase hex digits and bytes a "
                                f"count, got {_short(sha)} and {_short(size)}")
    store = store_for(uri)
    data = _CACHE.get(sha)
    if data is None:
        try:
            data = store.get(uri)
        except BadReferenceError:
            raise
        except PayloadError as exc:  # missing, or a key that is not plain
            raise BadReferenceError(f"reference {str(exc)}") from None
        except Exception as exc:  # the store, not the reference: retry, never fail the step for it
            raise BlobStoreError(f"reading {uri!r} failed: {type(exc).__name__}: {exc}") from exc
        if len(data) != size:
            raise BadReferenceError(f"reference {uri!r} names {size:,} bytes but the object holds {len(data):,}")
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha:
            raise BadReferenceError(f"reference {uri!r}: the object's SHA-256 is {actual}, not {sha} "
                                    "(changed after it was written)")
        _CACHE.put(sha, data)
    try:
        return decode(data)
    except ValueError as exc:
        raise BadReferenceError(f"reference {uri!r} holds no JSON: {exc}") from None


def resolve(value: Any) -> Any:
    """``value`` with every reference in it, at any depth, replaced by what it names."""
    if isinstance(value, dict):
        if is_ref(value):
            return resolve(load(value))
        return {k: resolve(v) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v) for v in value]
    return value


def load_start_inputs(ref: Any) -> Any:
    """Workflow inputs given as ``{"$ref": uri}`` (``sha256``/``bytes`` optional, checked when given):
    read from the kit's blob store. For a start whose inputs exceed the invoke payload limit."""
    if not isinstance(ref, dict) or not isinstance(ref.get(REF_KEY), str) \
            or not ref.keys() <= REF_KEYS | {"preview"}:
        raise BadReferenceError(f"inputs by reference must be {{\"$ref\": \"<uri>\"}}, got {_short(ref)}")
    if REF_KEYS <= ref.keys():
        return resolve(load(ref))
    uri = ref[REF_KEY]
    try:
        data = store_for(uri).get(uri)
    except BadReferenceError:
        raise
    except PayloadError as exc:
        raise BadReferenceError(f"inputs reference {exc}") from None
    try:
        return resolve(decode(data))
    except ValueError as exc:
        raise BadReferenceError(f"inputs reference {uri!r} holds no JSON: {exc}") from None


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


# ------------------------------------------------------------- the codec


class Codec:
    """Packs values for storage and sending, and unpacks them for executors."""

    def __init__(self, blobs: BlobStore | None = None, inline_bytes: int | None = None):
        """``inline_bytes``: the largest JSON kept inline (default ``INLINE_BYTES``)."""
        inline_bytes = INLINE_BYTES if inline_bytes is None else inline_bytes
        if not isinstance(inline_bytes, int) or isinstance(inline_bytes, bool) \
                or not 0 < inline_bytes <= MAX_PAYLOAD_BYTES:
            raise ValueError(f"inline_bytes must be an integer from 1 to {MAX_PAYLOAD_BYTES:,}, got {inline_bytes!r}")
        self.blobs = blobs
        self.inline_bytes = inline_bytes
        if blobs is not None:
            register(blobs)

    def pack(self, value: Any, what: str, *, write: bool = True) -> tuple[dict[str, Any], int]:
        """``value`` (a JSON object) as it is stored or sent, and its size in bytes of JSON.

        Detached from ``value`` (a copy). Raises ``PayloadError`` naming ``what`` for a value that
        is not a JSON object, or that cannot fit ``MAX_PAYLOAD_BYTES`` even with its fields by
        reference, and ``BadReferenceError`` for a reference in it that points outside the kit's
        blob store. ``write=False`` computes the same references without writing (to compare).
        """
        text = _encode_object(value, what, None if self.blobs is not None else MAX_PAYLOAD_BYTES)
        size = len(text)
        if size > self.inline_bytes and self.blobs is not None:
            return self._offload(value, what, size, write)
        packed: dict[str, Any] = decode(text)
        if '"$ref"' in text:  # a reference's key, never any other JSON's (a string's quotes are escaped)
            self._check_refs(packed, what)
        return packed, size

    def _offload(self, value: dict[str, Any], what: str, size: int, write: bool) -> tuple[dict[str, Any], int]:
        texts = {k: encode(v) for k, v in value.items()}
        refs: dict[Any, dict[str, Any]] = {}
        for key in sorted(texts, key=lambda k: -len(texts[k])):
            if size <= self.inline_bytes:
                break
            if is_ref(value[key]) or len(texts[key]) <= _MIN_REF_BYTES:
                continue  # already a reference, or too small for a reference to save anything
            refs[key] = self.put(value[key], write=write)
            size -= len(texts[key]) - len(encode(refs[key]))
        if size > MAX_PAYLOAD_BYTES:
            raise PayloadError(f"{what} is {size:,} bytes of JSON with its large fields by reference; the limit "
                               f"is {MAX_PAYLOAD_BYTES:,} bytes (too many fields: nest them under fewer keys)")
        packed = {k: refs[k] if k in refs else decode(texts[k]) for k in value}  # the caller's field order
        self._check_refs(packed, what)
        return packed, size

    def put(self, value: Any, *, write: bool = True) -> dict[str, Any]:
        """Write ``value`` to the blob store (once per content) and return its reference."""
        if self.blobs is None:
            raise PayloadError("no blob store is configured, so nothing can be passed by reference")
        text = encode_json(value)
        data = text.encode("utf-8")
        sha = hashlib.sha256(data).hexdigest()
        key = BLOB_PREFIX + sha
        uri = self.blobs.put(key, data) if write else self.blobs.location + key
        if write:
            _CACHE.put(sha, data)  # the writer often reads it next (in-process workers, expressions)
        return {REF_KEY: uri, "sha256": sha, "bytes": len(data), "preview": text[:PREVIEW_CHARS]}

    def unpack(self, value: Any) -> Any:
        """``value`` with every reference replaced by what it names (``resolve``)."""
        return resolve(value)

    def _check_refs(self, value: Any, what: str) -> None:
        """Every reference in ``value`` must lie in a store this process knows (checked without a read)."""
        if isinstance(value, dict):
            if is_ref(value):
                try:
                    store_for(value[REF_KEY])
                except BadReferenceError as exc:
                    raise BadReferenceError(f"{what}: {exc}") from None
                return
            for v in value.values():
                self._check_refs(v, what)
        elif isinstance(value, list):
            for v in value:
                self._check_refs(v, what)


NO_BLOBS = Codec()  # today's rule: everything inline, within MAX_PAYLOAD_BYTES
