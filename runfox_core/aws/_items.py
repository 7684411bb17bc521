"""_items.py -- DynamoDB attribute values and item sizes, in one place.

We talk to DynamoDB through the low-level client, so values are typed
attribute dicts (``{"S": ...}``). Structured values (records, state values,
the header body) are stored as JSON strings written by the one encoder
(``payloads.encode``: compact, ASCII), not DynamoDB maps: JSON keeps ints,
floats, nested lists and ``null`` exactly as given (no float -> Decimal
round trip), costs about the same bytes, and needs no per-type conversion
code. Numbers the table conditions on (``version``, unsent run ids) are real
``N`` attributes.

Step records whose item would pass ``COMPRESS_OVER_BYTES`` (1 KB, the
first write unit), and a header body over it, are stored zlib-compressed,
as binary (``zjs``), when that is smaller: DynamoDB bills a write by the
started KB of the whole item (twice inside a transaction) and keeps it for
the retention, and a record of that size is mostly repeated keys (ten
results of a map job batch, a chunk of item keys, a wide fan-out's ready
set, a map's window of 100 jobs in flight at 10,000 items: its JSON is
under 1 KB, its item just over). Ten map results of about 100 bytes of
random hex (a 1.2 KB record) fit in one KB compressed: 2 write units in a
commit instead of 4 (and 1 instead of 2 at each retention renewal). A journal
piece holds items as JSON, so their binary values travel in it as base64
(``portable`` / ``from_portable``).

Known limit: text outside ASCII is stored as ``\\u`` escapes, 6 bytes a
character (12 for one outside the BMP) where UTF-8 takes 2 to 4; the price of
one encoding for every store and message, which also keeps any string Python
holds (a lone surrogate has no UTF-8 form and was refused here before).

``item_size`` follows DynamoDB's published sizing rules closely enough to
guard the 400 KB item limit before a write and to estimate write units.
"""

from __future__ import annotations

import base64
import math
import zlib
from typing import Any

from ..payloads import decode, encode

MAX_ITEM_BYTES = 400 * 1024  # DynamoDB item limit (names + values)
MAX_TRANSACTION_ITEMS = 100  # actions per TransactWriteItems / TransactGetItems
MAX_TRANSACTION_BYTES = 4 * 1024 * 1024  # aggregate item size of one TransactWriteItems
MAX_BATCH_GET_KEYS = 100  # keys per BatchGetItem
MAX_BATCH_WRITE_ITEMS = 25  # requests per BatchWriteItem
MAX_EXPRESSION_BYTES = 4096  # any one expression string
COMPRESS_OVER_BYTES = 1024  # a record (with its item) or header body longer than this is stored compressed, if smaller


def s(value: str) -> dict[str, Any]:
    return {"S": value}


def n(value: float) -> dict[str, Any]:
    return {"N": repr(value) if isinstance(value, float) else str(int(value))}


def js(value: Any) -> dict[str, Any]:
    """A JSON-string attribute (see the module docstring for why JSON): ``payloads.encode``, key order kept."""
    return {"S": encode(value)}


def from_js(attr: dict[str, Any]) -> Any:
    return decode(attr["S"])


def zjs(value: Any, beside: int = 0) -> dict[str, Any]:
    """``js``, or the JSON zlib-compressed as binary (B) when, with the ``beside`` bytes of the rest of its
    item, it is over ``COMPRESS_OVER_BYTES`` and that is smaller (see the module docstring); ``from_zjs``
    reads either."""
    text = encode(value)
    if len(text) + beside > COMPRESS_OVER_BYTES:
        packed = zlib.compress(text.encode("ascii"))  # encode() writes ASCII
        if len(packed) < len(text):
            return {"B": packed}
    return {"S": text}


def from_zjs(attr: dict[str, Any]) -> Any:
    return decode(attr["S"]) if "S" in attr else decode(zlib.decompress(bytes(attr["B"])))


def portable(item: dict[str, Any]) -> dict[str, Any]:
    """``item`` with its binary values as base64 text (``{"B64": ...}``), so it can be written as JSON."""
    return {k: {"B64": base64.b64encode(bytes(v["B"])).decode("ascii")} if "B" in v else v for k, v in item.items()}


def from_portable(item: dict[str, Any]) -> dict[str, Any]:
    """The item ``portable`` wrote, its binary values bytes again."""
    return {k: {"B": base64.b64decode(v["B64"])} if "B64" in v else v for k, v in item.items()}


def from_n(attr: dict[str, Any]) -> float:
    return float(attr["N"])


def _value_size(value: dict[str, Any]) -> int:
    ((kind, raw),) = value.items()
    if kind == "S":
        return len(raw.encode("utf-8"))
    if kind == "B":
        return len(raw)
    if kind == "N":
        digits = raw.lstrip("-").split("e")[0].split("E")[0].replace(".", "").strip("0")
        return (len(digits) + 1) // 2 + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode("utf-8")) + _value_size(v) + 1 for k, v in raw.items())
    if kind == "L":
        return 3 + sum(_value_size(v) + 1 for v in raw)
    if kind == "SS":
        return sum(len(x.encode("utf-8")) for x in raw)
    if kind == "BS":
        return sum(len(x) for x in raw)
    return sum(_value_size({"N": x}) for x in raw)  # NS


def item_size(item: dict[str, dict[str, Any]]) -> int:
    """Bytes DynamoDB counts for ``item``: attribute names plus values."""
    return sum(len(name.encode("utf-8")) + _value_size(value) for name, value in item.items())


def write_units(size: int, transactional: bool = False) -> int:
    """On-demand write request units for writing an item of ``size`` bytes."""
    units = max(1, math.ceil(size / 1024))
    return units * 2 if transactional else units
