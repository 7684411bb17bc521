"""config.py -- the runtime settings of the AWS Lambdas: environment names and ``Settings``.

Owns
- the environment variables the Lambdas read, and ``Settings``, which reads
  them (and the ops manifest they point to) once at cold start and fails fast
  naming the bad variable or manifest entry;
- the DynamoDB key schema of the workflows table and its TTL attribute;
- the handler paths of the three engine functions (inside ``lambdas/``).

Pure stdlib plus ``runfox_core.errors``: this ships in every Lambda. Facts
only the deployment needs (Lambda sizes, the executors config, CloudFormation
limits and outputs) live in the ``runfox_deploy`` package, which imports the
names here, never the other way round.

The engine's environment does not grow with the ops: op queue URLs are
``RUNFOX_QUEUE_URL_BASE`` + the manifest's queue prefix + the op name, and the
manifest (``RUNFOX_OPS_FILE``, a JSON file shipped in the function's code)
lists the ops and their step timeouts. See the README's "Limits and scale".
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runfox_core.errors import RunfoxError

# --- environment variables read by the Lambdas -----------------------------------

ENV_WORKFLOWS_TABLE = "RUNFOX_WORKFLOWS_TABLE"
ENV_RESULTS_QUEUE_URL = "RUNFOX_RESULTS_QUEUE_URL"
#: ``https://sqs.<region>.amazonaws.com/<account>/``: an op queue URL is this + prefix + op.
ENV_QUEUE_URL_BASE = "RUNFOX_QUEUE_URL_BASE"
#: Path of the ops manifest (JSON); relative paths resolve against LAMBDA_TASK_ROOT.
ENV_OPS_FILE = "RUNFOX_OPS_FILE"
#: Days a finished execution's items are kept before DynamoDB TTL may delete them (optional).
ENV_EXECUTION_RETENTION_DAYS = "RUNFOX_EXECUTION_RETENTION_DAYS"
#: Seconds after which a claimed job whose send was never confirmed is re-emitted by
#: advance (optional). Keep it below the queues' visibility timeout: a redelivered
#: record is what re-drives advance after a crash between claim and send.
ENV_UNSENT_GRACE_SECONDS = "RUNFOX_UNSENT_GRACE_SECONDS"
DEFAULT_UNSENT_GRACE_SECONDS = 60.0  # seconds; the engine Lambdas' queues keep records invisible 180 s
#: Seconds an executor keeps free after a job (for sending its result) when deciding whether
#: the next job still fits in the invocation (optional, executors only).
ENV_JOB_MARGIN_SECONDS = "RUNFOX_JOB_MARGIN_SECONDS"
DEFAULT_JOB_MARGIN_SECONDS = 2.0
#: The result-router function's name (or ARN), set on the kit's executor functions: an executor
#: hands its results to the router by an asynchronous Invoke, the results queue kept for what that
#: refuses (``answers.py``). Without it, results go to the results queue (optional, executors only).
ENV_ROUTER_FUNCTION = "RUNFOX_ROUTER_FUNCTION"
#: The kit's bucket for values passed by reference (optional: without it every value stays
#: inline, within ``payloads.MAX_PAYLOAD_BYTES``). Read by the engine functions and executors.
ENV_BLOB_BUCKET = "RUNFOX_BLOB_BUCKET"
#: Bytes of JSON a value may have and still travel inline (optional; default ``payloads.INLINE_BYTES``).
ENV_INLINE_BYTES = "RUNFOX_INLINE_BYTES"
#: Path of the executors config, read by app.py and the local emulator.
ENV_EXECUTORS_CONFIG = "RUNFOX_EXECUTORS_CONFIG"
#: Where Lambda unpacks the function's code (set by Lambda itself).
ENV_LAMBDA_TASK_ROOT = "LAMBDA_TASK_ROOT"

# Read by Powertools itself, set by the deployment on every function.
ENV_POWERTOOLS_SERVICE_NAME = "POWERTOOLS_SERVICE_NAME"
ENV_POWERTOOLS_METRICS_NAMESPACE = "POWERTOOLS_METRICS_NAMESPACE"
ENV_LOG_LEVEL = "LOG_LEVEL"
SERVICE_NAME = "runfox"
METRICS_NAMESPACE = "Runfox"
DEFAULT_LOG_LEVEL = "INFO"

# --- DynamoDB key schema (the workflows table; also SQSRunner's optional audit table) ----------------------------------------

PARTITION_KEY = "pk"  # String
SORT_KEY = "sk"  # String
KEY_ATTRIBUTE_TYPE = "S"  # DynamoDB type code of both keys
TTL_ATTRIBUTE = "expires_at"  # epoch seconds (Number), the TTL attribute
DEFAULT_EXECUTION_RETENTION_DAYS = 90  # days a finished execution is kept

#: The workflows table's global secondary indexes that list executions (``_ddb_listing.py``):
#: index name -> (partition key, sort key, non-key attributes projected). All three
#: keys are String attributes of the header items only, so no other item is indexed.
LIST_INDEXES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "by_status": ("status", "started", ("name",)),
    "by_start": ("listed", "started", ("name",)),
    "by_name": ("listed", "name", ("started",)),
}

# --- the engine functions ----------------------------------------------------------

#: Engine handlers: module paths relative to LAMBDAS_DIR, ``module.function``.
START_HANDLER = "start.handler"
ADVANCE_HANDLER = "advance.handler"
RESULT_ROUTER_HANDLER = "result_router.handler"
LAMBDAS_DIR = "lambdas"  # repository-relative folder of the handlers


# --- errors ---------------------------------------------------------------------


class ConfigError(RunfoxError, ValueError):
    """Raised when configuration (environment, manifest or executors config) is missing or invalid.

    ``op`` and ``field`` name where, when the problem is in one op's entry.
    """

    def __init__(self, message: str, *, op: str | None = None, field: str | None = None):
        super().__init__(message)
        self.op = op
        self.field = field


# --- Settings: what an engine Lambda reads at cold start ----------------------

DISPATCH_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class OpDefaults:
    """Per-op defaults the engine applies when a step does not say otherwise."""

    timeout_seconds: float | None = None  # seconds a job may run before its attempt fails


@dataclass(frozen=True)
class Settings:
    """Everything an engine Lambda needs from its environment, read once."""

    workflows_table: str
    results_queue_url: str
    queue_map: Mapping[str, str]  # dispatch token -> queue URL, derived from the manifest
    op_defaults: Mapping[str, OpDefaults] = field(default_factory=dict)
    execution_retention_days: int = DEFAULT_EXECUTION_RETENTION_DAYS
    unsent_grace_seconds: float = DEFAULT_UNSENT_GRACE_SECONDS
    blob_bucket: str | None = None  # the kit's bucket for values passed by reference
    inline_bytes: int | None = None  # None: payloads.INLINE_BYTES

    @property
    def execution_ttl_seconds(self) -> int:
        """Seconds after an execution ends before TTL may delete its items."""
        return self.execution_retention_days * 86_400

    def engine_op_defaults(self) -> dict[str, dict[str, Any]]:
        """``op_defaults`` in the shape ``runfox_core.Backend`` takes."""
        return {token: {"timeout_seconds": d.timeout_seconds}
                for token, d in self.op_defaults.items() if d.timeout_seconds is not None}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        """Read and check every RUNFOX_* variable and the manifest; raise ``ConfigError`` naming the first bad one."""
        workflows_table = _required(environ, ENV_WORKFLOWS_TABLE)
        results_queue_url = _required(environ, ENV_RESULTS_QUEUE_URL)
        base = _required(environ, ENV_QUEUE_URL_BASE)
        path = Path(_required(environ, ENV_OPS_FILE))
        if not path.is_absolute():
            path = Path(environ.get(ENV_LAMBDA_TASK_ROOT) or ".") / path
        queue_map, op_defaults = read_ops_manifest(path, base)
        return cls(
            workflows_table=workflows_table,
            results_queue_url=results_queue_url,
            queue_map=queue_map,
            op_defaults=op_defaults,
            execution_retention_days=_whole(environ, ENV_EXECUTION_RETENTION_DAYS, DEFAULT_EXECUTION_RETENTION_DAYS,
                                            "days"),
            unsent_grace_seconds=_grace(environ),
            **payload_settings(environ),
        )


def payload_settings(environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """``blob_bucket`` and ``inline_bytes`` from the environment (both optional), as ``Settings`` takes them;
    the executor harness reads them here too."""
    bucket = environ.get(ENV_BLOB_BUCKET, "").strip() or None
    inline = _whole(environ, ENV_INLINE_BYTES, 0, "bytes") or None
    return {"blob_bucket": bucket, "inline_bytes": inline}


def read_ops_manifest(path: Path, queue_url_base: str) -> tuple[dict[str, str], dict[str, OpDefaults]]:
    """The queue map and op defaults of the manifest at ``path`` (format: ``runfox_deploy.topology``)."""
    where = f"{ENV_OPS_FILE} {path}"
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read the ops manifest: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{where}: not valid JSON: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("ops"), dict):
        raise ConfigError(f"{where}: must be an object with 'queue_prefix' and 'ops'")
    prefix = document.get("queue_prefix")
    if not isinstance(prefix, str) or not prefix:
        raise ConfigError(f"{where}: 'queue_prefix' must be a non-empty string")
    queue_map: dict[str, str] = {}
    op_defaults: dict[str, OpDefaults] = {}
    for token, entry in document["ops"].items():
        if not DISPATCH_TOKEN.match(token):
            raise ConfigError(f"{where}: {token!r} is not a dispatch token (want {DISPATCH_TOKEN.pattern})")
        if not isinstance(entry, dict) or set(entry) - {"timeout_seconds", "queue_url", "queue_name"}:
            raise ConfigError(f"{where}: op {token!r} must be an object of timeout_seconds, queue_url, queue_name",
                              op=token)
        if "queue_url" in entry:
            queue_map[token] = str(entry["queue_url"])
        else:
            queue_map[token] = queue_url_base + str(entry.get("queue_name") or prefix + token)
        timeout = entry.get("timeout_seconds")
        if timeout is not None and not _positive_number(timeout):
            raise ConfigError(f"{where}: op {token!r} timeout_seconds must be > 0, got {timeout!r}",
                              op=token, field="timeout_seconds")
        op_defaults[token] = OpDefaults(timeout_seconds=timeout)
    return queue_map, op_defaults


def _required(environ: Mapping[str, str], name: str) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} is not set (or empty)")
    return value


def _whole(environ: Mapping[str, str], name: str, default: int, unit: str) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"{name} must be a whole number of {unit} >= 1, got {raw!r}")
    return int(raw)


def _grace(environ: Mapping[str, str]) -> float:
    raw = environ.get(ENV_UNSENT_GRACE_SECONDS, "").strip()
    if not raw:
        return DEFAULT_UNSENT_GRACE_SECONDS
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise ConfigError(f"{ENV_UNSENT_GRACE_SECONDS} must be a number of seconds >= 0, got {raw!r}")
    return value


def _positive_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0
