"""payloads.py -- what may travel as step inputs and outputs.

Inputs and outputs are JSON objects. Each must fit in one queue message and,
together with the other, in one stored step record, so both are capped at
``MAX_PAYLOAD_BYTES`` of compact JSON (SQS allows 256 KiB per message and
DynamoDB 400 KB per item; a step record carries its inputs and its output).
"""

from __future__ import annotations

import json
from typing import Any

from .errors import PayloadError

MAX_PAYLOAD_BYTES = 192 * 1024  # 196,608 bytes of compact JSON per inputs or output


def encode_json(value: Any) -> str:
    """Compact, deterministic JSON; raises TypeError/ValueError on anything JSON cannot hold."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True, allow_nan=False)


def check_payload(value: Any, what: str, limit: int = MAX_PAYLOAD_BYTES) -> int:
    """Raise ``PayloadError`` unless ``value`` is a JSON object within ``limit``; return its size.

    ``what`` names the payload in the message, e.g. "step 'shout' output".
    """
    if not isinstance(value, dict):
        raise PayloadError(f"{what} must be a JSON object (dict), got {type(value).__name__}")
    try:
        size = len(encode_json(value).encode("utf-8"))
    except (TypeError, ValueError) as exc:
        raise PayloadError(f"{what} is not JSON-serialisable: {exc}") from None
    except RecursionError:
        raise PayloadError(f"{what} is nested too deeply to serialise") from None
    if size > limit:
        raise PayloadError(f"{what} is {size:,} bytes of JSON; the limit is {limit:,} bytes")
    return size
