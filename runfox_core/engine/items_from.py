"""items_from.py -- a map's items read from a stored object instead of an expression.

```yaml
map:
  items_from:
    uri: {"var": "steps.export.output.uri"}  # or a literal: s3://bucket/key, file:///abs/path
    format: jsonl                              # json | jsonl | csv
  # or, the way Step Functions' Distributed Map names its S3 source:
  # items_from: {s3: {bucket: my-data, key: {"var": "input.key"}, format: csv}}
```

What this module owns: the ``items_from`` block (checked when the spec is
compiled: exactly one of ``items`` / ``items_from``, a known format, a URI
literal of a known scheme or an expression), and turning an object's bytes
into the map's items when the step is claimed (``MapKind.begin``):

- ``json``: the object is one JSON array;
- ``jsonl``: one JSON value per non-empty line (``\\n`` or ``\\r\\n``);
- ``csv``: a header row, then each row an object of strings keyed by it
  (blank rows skipped; a row with another number of fields is an error).

Text is UTF-8 (a byte-order mark is dropped). The object is read by the
backend's blob store (``blobs.read_object``): ``file://`` on the in-memory
and SQLite backends, ``s3://`` on DynamoDB + SQS and the local emulator
(``S3BlobStore``: any bucket its client may read; the stack grants those in
``RunfoxEngine(items_buckets=...)``). A scheme the backend cannot read, a
missing object, a format error (naming the line) or a value that is not a
list fails the step's attempt, naming the step, the field and the URI, like
an ``items`` expression that gives no list. The store's own trouble (S3
throttled or unreachable) raises ``BlobStoreError``: the transition is
retried, never the attempt failed for it.

Known limits: the object is read whole into memory, at the claim, and read
again if that transaction retries on a conflict; its items are then stored
in chunks like any map's (``map.py``), each at most ``map.MAX_ITEM_BYTES``,
so jobs, retries and re-sends never read it again. A ``set`` loop that
resets the map claims it anew and reads the object as it is then.
A ``file://`` URI names a file of the process that claims the step, so it
suits the local backends (the SQLite workers share a machine), not Lambda.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any

from json_logic_path import is_logic

from ..blobs import BlobStore, file_path, read_object, s3_parts
from ..errors import PayloadError, Problem
from ..payloads import BlobStoreError, decode

FORMATS = ("json", "jsonl", "csv")
SCHEMES = ("s3", "file")
KEYS = ("uri", "s3", "format")
S3_KEYS = ("bucket", "key", "format")
FIELD = "map.items_from"


class ItemsFromError(Exception):
    """Raised when an object cannot give a map's items; the message names the URI and the fault."""


@dataclass(frozen=True)
class ItemsFrom:
    """A compiled ``items_from``: the URI (a string, or JSON Logic giving one) and its format."""

    uri: Any
    format: str


def compile_block(sid: str, block: Any, problems: list[Problem]) -> tuple[ItemsFrom | None, str, dict[str, Any]]:
    """The compiled block, and what it reads as (field, fields) for the caller to check like any input."""
    if not isinstance(block, dict):
        problems.append(Problem("items_from must be a mapping: {uri: ..., format: json|jsonl|csv} or "
                                "{s3: {bucket: ..., key: ..., format: ...}}", step=sid, field=FIELD))
        return None, FIELD, {}
    for k in block:
        if k not in KEYS:
            problems.append(Problem(f"unknown key (allowed: {', '.join(KEYS)})", step=sid, field=f"{FIELD}.{k}"))
    fmt = block.get("format")
    if ("uri" in block) == ("s3" in block):
        problems.append(Problem("items_from needs exactly one of 'uri' (s3://bucket/key or file:///abs/path) "
                                "and 's3' ({bucket, key})", step=sid, field=FIELD))
        return None, FIELD, {}
    if "uri" in block:
        uri, where, fields = block["uri"], f"{FIELD}.uri", {"uri": block["uri"]}
        _check_uri(sid, uri, where, problems)
    else:
        s3 = block["s3"]
        where = f"{FIELD}.s3"
        if not isinstance(s3, dict):
            problems.append(Problem("s3 must be a mapping {bucket, key, format}", step=sid, field=where))
            return None, where, {}
        for k in s3:
            if k not in S3_KEYS:
                problems.append(Problem(f"unknown key (allowed: {', '.join(S3_KEYS)})", step=sid, field=f"{where}.{k}"))
        if "format" in s3:
            if "format" in block:
                problems.append(Problem("format is given twice: in items_from and in items_from.s3",
                                        step=sid, field=f"{where}.format"))
            fmt = s3["format"]
        fields = {k: s3.get(k) for k in ("bucket", "key")}
        for k, value in fields.items():
            if not (isinstance(value, str) and value) and not (isinstance(value, dict) and is_logic(value)):
                problems.append(Problem(f"{k} must be a non-empty string or an expression giving one, got "
                                        f"{value!r}", step=sid, field=f"{where}.{k}"))
        bucket, key = fields["bucket"], fields["key"]
        uri = f"s3://{bucket}/{key}" if isinstance(bucket, str) and isinstance(key, str) \
            else {"cat": ["s3://", bucket, "/", key]}
    if fmt not in FORMATS:
        problems.append(Problem(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}",
                                step=sid, field=f"{FIELD}.format"))
    return ItemsFrom(uri=uri, format=str(fmt)), where, fields


def _check_uri(sid: str, uri: Any, where: str, problems: list[Problem]) -> None:
    if isinstance(uri, dict) and is_logic(uri):
        return  # checked at run time, when it gives a value
    if not isinstance(uri, str):
        problems.append(Problem(f"uri must be a string (s3://bucket/key or file:///abs/path) or an expression "
                                f"giving one, got {uri!r}", step=sid, field=where))
        return
    error = uri_problem(uri)
    if error:
        problems.append(Problem(error, step=sid, field=where))


def uri_problem(uri: Any) -> str | None:
    """Why ``uri`` is no URI an ``items_from`` can name (None: it is one)."""
    if not isinstance(uri, str):
        return f"a URI must be a string, got {type(uri).__name__} {_short(uri)}"
    scheme = uri.split("://", 1)[0] if "://" in uri else ""
    if scheme not in SCHEMES:
        return f"{uri!r} is not a URI of a known scheme ({', '.join(f'{s}://' for s in SCHEMES)})"
    try:
        s3_parts(uri) if scheme == "s3" else file_path(uri)
    except PayloadError as exc:
        return str(exc)
    return None


def read_items(blobs: BlobStore | None, source: ItemsFrom, uri: Any) -> list[Any]:
    """The items of the object at ``uri`` (the resolved ``source.uri``): ``ItemsFromError`` naming what is
    wrong, ``BlobStoreError`` when the store could not be reached (a retry)."""
    problem = uri_problem(uri)
    if problem:
        raise ItemsFromError(f"uri gave no URI: {problem}")
    try:
        data = read_object(blobs, uri)
    except PayloadError as exc:  # no such scheme here, missing, or access denied
        raise ItemsFromError(str(exc)) from None
    except Exception as exc:  # the store, not the object: retry, never fail the attempt for it
        raise BlobStoreError(f"reading {uri!r} failed: {type(exc).__name__}: {exc}") from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ItemsFromError(f"{uri!r} is not UTF-8 text ({exc.reason} at byte {exc.start:,})") from None
    return parse(text, source.format, uri)


def parse(text: str, fmt: str, uri: str) -> list[Any]:
    """The items of ``text`` in format ``fmt``; ``ItemsFromError`` naming ``uri`` and the fault."""
    if fmt == "json":
        try:
            value = decode(text)
        except ValueError as exc:
            raise ItemsFromError(f"{uri!r} is not JSON ({exc})") from None
        if not isinstance(value, list):
            raise ItemsFromError(f"{uri!r} holds a JSON {type(value).__name__} {_short(value)}, not a list "
                                 "(format json needs one array)")
        return value
    if fmt == "jsonl":
        items = []
        for n, line in enumerate(text.split("\n"), 1):  # not splitlines: U+2028 may sit inside a JSON string
            if line.strip():
                try:
                    items.append(decode(line))
                except ValueError as exc:
                    raise ItemsFromError(f"{uri!r} line {n:,} is not JSON ({exc})") from None
        return items
    return _csv_rows(text, uri)


def _csv_rows(text: str, uri: str) -> list[dict[str, str]]:
    rows = csv.reader(io.StringIO(text, newline=""))
    try:
        header: list[str] | None = None
        items = []
        for row in rows:
            if not any(field.strip() for field in row):
                continue  # a blank line
            if header is None:
                header = row
                repeated = sorted({name for name in row if row.count(name) > 1})
                if repeated or not all(name.strip() for name in row):
                    raise ItemsFromError(f"{uri!r} line {rows.line_num:,}: the header row needs distinct, "
                                         f"non-empty column names, got {_short(row)}")
                continue
            if len(row) != len(header):
                raise ItemsFromError(f"{uri!r} line {rows.line_num:,} has {len(row)} fields; the header has "
                                     f"{len(header)}")
            items.append(dict(zip(header, row, strict=True)))
    except csv.Error as exc:
        raise ItemsFromError(f"{uri!r} line {rows.line_num:,} is not CSV ({exc})") from None
    if header is None:
        raise ItemsFromError(f"{uri!r} has no header row (format csv names each column in its first row)")
    return items


def _short(value: Any, limit: int = 80) -> str:
    shown = json.dumps(value, default=str)
    return shown if len(shown) <= limit else f"{shown[:limit]}..."
