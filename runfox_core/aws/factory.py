"""factory.py -- the one cached factory of the engine Lambdas: settings, clients, Backend.

``get_backend()`` builds ``Backend(store=DynamoDBStore, runner=SQSRunner, blobs=S3BlobStore)``,
with the per-op defaults, unsent grace and execution retention, from ``Settings.from_env()`` on first call and returns the same object for
the life of the container, so boto3 clients (and their connection pools)
are built once per warm Lambda, never per invocation, and a missing variable
fails the first invocation naming it. ``get_settings()`` is cached the same
way (the start handler needs the queue map for its token check).

Nothing runs at import: handlers call these inside the invocation, so a test
or the local emulator can set the environment first; ``reset()`` forgets the
cached objects (a new deployment under the same process).
"""

from __future__ import annotations

import functools
from typing import Any

from ..backend.base import Backend
from .config import Settings
from .dynamodb_store import PARALLEL_WRITES, DynamoDBStore
from .s3_blobs import S3BlobStore
from .sqs_runner import SQSRunner

# Lambda's own retries cover throttling; these keep one slow call from eating the function timeout.
CONNECT_TIMEOUT_SECONDS = 3
READ_TIMEOUT_SECONDS = 10
MAX_ATTEMPTS = 5  # botocore "standard" retry mode: attempts per call, first included


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The RUNFOX_* environment, read and checked once (raises ``ConfigError`` naming a bad variable)."""
    return Settings.from_env()


@functools.lru_cache(maxsize=1)
def get_backend() -> Backend:
    """The Backend every handler in this container shares."""
    settings = get_settings()
    dynamodb, sqs = _clients("dynamodb", "sqs")
    runner = SQSRunner(settings.queue_map, settings.results_queue_url, sqs_client=sqs)  # no audit rows: sqs_runner.py
    store = DynamoDBStore(settings.workflows_table, client=dynamodb, execution_ttl_seconds=settings.execution_ttl_seconds)
    blobs = S3BlobStore(settings.blob_bucket, client=_clients("s3")[0]) if settings.blob_bucket else None
    return Backend(store=store, runner=runner, blobs=blobs, inline_bytes=settings.inline_bytes,
                   op_defaults=settings.engine_op_defaults(), unsent_grace_seconds=settings.unsent_grace_seconds)


def reset() -> None:
    """Forget the cached settings and backend; the next call reads the environment again."""
    get_backend.cache_clear()
    get_settings.cache_clear()


def _clients(*services: str) -> list[Any]:
    """One client per service from one Session (the default session is not thread-safe)."""
    import boto3  # here, not at import: runfox_core.aws.factory stays importable without boto3 installed
    from botocore.config import Config

    session = boto3.session.Session()
    client_config = Config(connect_timeout=CONNECT_TIMEOUT_SECONDS, read_timeout=READ_TIMEOUT_SECONDS,
                           retries={"mode": "standard", "max_attempts": MAX_ATTEMPTS},
                           max_pool_connections=PARALLEL_WRITES)  # the store's writes in flight at once
    return [session.client(service, config=client_config) for service in services]
