"""blobs.py -- the kit's bucket on moto: where values passed by reference live locally.

``create_bucket(s3)`` makes the one bucket the stack makes (``runfox_cdk``),
on moto's S3 (the same server, or in-process moto), and returns the
environment that points the engine Lambdas and executors at it. Encryption,
TLS and lifecycle are the stack's; moto keeps objects until it is reset.

``item_bytes`` / ``largest_item`` size DynamoDB items as AWS bills them, so
tests and ``bench/large_payloads.py`` can show that no item grows with the
values an execution passes (the issue's bound is 16 KB).
"""

from __future__ import annotations

from typing import Any

from local.lambda_runtime import REGION
from runfox_core.aws import config

BLOB_BUCKET = "runfox-local-blobs"


def create_bucket(s3: Any) -> dict[str, str]:
    """Create the bucket (idempotent on a fresh moto); return ``{RUNFOX_BLOB_BUCKET: name}``."""
    kwargs: dict[str, Any] = {"Bucket": BLOB_BUCKET}
    if REGION != "us-east-1":  # us-east-1 is the one region S3 refuses a location constraint for
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": REGION}
    s3.create_bucket(**kwargs)
    return {config.ENV_BLOB_BUCKET: BLOB_BUCKET}


def item_bytes(item: dict[str, Any]) -> int:
    """The size DynamoDB bills an item (low-level attribute values): names plus values, as AWS counts them."""
    return sum(len(name.encode()) + _value_bytes(value) for name, value in item.items())


def _value_bytes(value: dict[str, Any]) -> int:
    (kind, body), = value.items()
    if kind == "S":
        return len(body.encode())
    if kind == "N":
        return (len(body.strip("-").replace(".", "").lstrip("0")) + 1) // 2 + 1
    if kind == "B":
        return len(body)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + item_bytes(body)
    if kind == "L":
        return 3 + sum(1 + _value_bytes(v) for v in body)
    return sum(len(str(v).encode()) for v in body)  # SS / NS / BS


def largest_item(dynamodb: Any, table: str) -> tuple[int, str]:
    """(bytes, "pk / sk") of the largest item in ``table`` (a scan: for the emulator and benches)."""
    best = (0, "")
    for page in dynamodb.get_paginator("scan").paginate(TableName=table):
        for item in page["Items"]:
            size = item_bytes(item)
            if size > best[0]:
                best = (size, f"{item[config.PARTITION_KEY]['S']} / {item[config.SORT_KEY]['S']}")
    return best
