"""runfox_core.aws -- the AWS backend: DynamoDB store, SQS runner, SQS executor harness.

The only package of runfox_core that imports boto3 (lazily, when a client is
first needed) and Powertools (by ``executor``). ``import runfox_core`` never
imports this package; names here load their module on first use, so
``from runfox_core.aws import DynamoDBStore`` does not pull in Powertools.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .dynamodb_store import DynamoDBStore
    from .executor import sqs_executor
    from .sqs_runner import SQSRunner

__all__ = ["DynamoDBStore", "SQSRunner", "sqs_executor"]

_HOMES = {"DynamoDBStore": ".dynamodb_store", "SQSRunner": ".sqs_runner", "sqs_executor": ".executor"}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
