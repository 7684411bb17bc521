"""config.py -- the one home of names shared by infra/, the Lambdas and the local emulator.

Owns
- the environment variables the engine Lambdas read, and ``Settings``, which
  reads them once at cold start and fails fast naming the bad variable;
- the DynamoDB key schema of both tables and the tasks-table TTL attribute;
- Lambda defaults (runtime, architecture, memory, timeout) and the handler
  paths of the three engine functions;
- the executors config (``executors.json``): the one place ops are declared,
  parsed into ``ExecutorsConfig`` by ``load_executors_config``;
- the CloudFormation output keys scripts and end-to-end tests read.

Pure stdlib plus ``runfox_core.errors``: CDK imports this at synth time and the
Lambdas at cold start, so it must not pull in boto3 or aws_cdk.

Executors config format (every key optional except ``ops``)::

    {"defaults": {<op field>: value, ...},          -- merged under every op
     "results":  {"batch_size": 10, "max_batching_window_seconds": 0,
                  "max_concurrency": null, "max_receive_count": 5},
     "ops": {"make_greeting": {"handler": "executors.greeting.handler"},
             "gpu_embed": {"external_queue": true},
             "legacy": {"external_queue": "arn:aws:sqs:eu-west-1:123456789012:legacy"}}}

An op either names a ``handler`` (``module.function`` under ``lambdas/``; the
stack creates its Lambda and event source mapping) or sets ``external_queue``:
``true`` creates the queue and DLQ for a worker running elsewhere; a queue name
or ARN imports an existing queue. See ``OpConfig`` for every field and range.

Known limits: an imported queue's dead-letter queue is not watched by the
result router (set ``step_timeout_seconds`` so lost jobs still fail); FIFO
queues are rejected because jobs carry no message group.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from runfox_core.errors import RunfoxError

# --- environment variables read by the engine Lambdas ------------------------

ENV_WORKFLOWS_TABLE = "RUNFOX_WORKFLOWS_TABLE"
ENV_TASKS_TABLE = "RUNFOX_TASKS_TABLE"
ENV_RESULTS_QUEUE_URL = "RUNFOX_RESULTS_QUEUE_URL"
#: JSON object: dispatch token -> queue URL.
ENV_QUEUE_MAP = "RUNFOX_QUEUE_MAP"
#: JSON object: dispatch token -> {"timeout_seconds": number | null}.
ENV_OP_DEFAULTS = "RUNFOX_OP_DEFAULTS"
#: Seconds a task item lives before DynamoDB TTL may delete it (optional).
ENV_TASK_TTL_SECONDS = "RUNFOX_TASK_TTL_SECONDS"
#: Seconds after which a claimed job whose send was never confirmed is re-emitted by
#: advance (optional). Keep it below the queues' visibility timeout: a redelivered
#: record is what re-drives advance after a crash between claim and send.
ENV_UNSENT_GRACE_SECONDS = "RUNFOX_UNSENT_GRACE_SECONDS"
DEFAULT_UNSENT_GRACE_SECONDS = 60.0  # seconds; the engine Lambdas' queues keep records invisible 180 s
#: Path of the executors config, read by app.py and the local emulator.
ENV_EXECUTORS_CONFIG = "RUNFOX_EXECUTORS_CONFIG"

# Read by Powertools itself, set by infra on every function.
ENV_POWERTOOLS_SERVICE_NAME = "POWERTOOLS_SERVICE_NAME"
ENV_POWERTOOLS_METRICS_NAMESPACE = "POWERTOOLS_METRICS_NAMESPACE"
ENV_LOG_LEVEL = "LOG_LEVEL"
SERVICE_NAME = "runfox"
METRICS_NAMESPACE = "Runfox"
DEFAULT_LOG_LEVEL = "INFO"

# --- DynamoDB key schema (both tables) ----------------------------------------

PARTITION_KEY = "pk"  # String
SORT_KEY = "sk"  # String
KEY_ATTRIBUTE_TYPE = "S"  # DynamoDB type code of both keys
TASKS_TTL_ATTRIBUTE = "expires_at"  # epoch seconds (Number)
DEFAULT_TASK_TTL_SECONDS = 7 * 24 * 3600  # seconds: one week

# --- Lambda defaults -----------------------------------------------------------

LAMBDA_RUNTIME = "python3.13"  # the layer is built for exactly this runtime
LAMBDA_PYTHON_VERSION = "3.13"  # pip --python-version of `make layer`
LAMBDA_ARCHITECTURE = "arm64"
LAMBDA_PIP_PLATFORM = "manylinux2014_aarch64"  # pip --platform matching arm64
ENGINE_MEMORY_MB = 256  # MB, start / advance / result_router
ENGINE_TIMEOUT_SECONDS = 30  # seconds, start / advance / result_router
LOG_RETENTION_DAYS = 30  # days, every function's log group (one of 7, 14, 30, 90, 365)
DLQ_RETENTION_DAYS = 14  # days, the SQS maximum: longer than any source queue
VISIBILITY_TIMEOUT_FACTOR = 6  # queue visibility = 6 x consumer timeout (AWS advice)
ROUTER_VISIBILITY_TIMEOUT_SECONDS = VISIBILITY_TIMEOUT_FACTOR * ENGINE_TIMEOUT_SECONDS  # results queue and DLQs
MAX_VISIBILITY_TIMEOUT_SECONDS = 43_200  # seconds, the SQS maximum (12 h)

#: Engine handlers: module paths relative to LAMBDAS_DIR, ``module.function``.
START_HANDLER = "start.handler"
ADVANCE_HANDLER = "advance.handler"
RESULT_ROUTER_HANDLER = "result_router.handler"

# Repository-relative defaults (app.py resolves them against the repo root).
LAMBDAS_DIR = "lambdas"
LAYER_DIR = "build/layer"  # built by `make layer`; holds python/
DEFAULT_EXECUTORS_CONFIG = "executors.json"

# --- CloudFormation outputs ------------------------------------------------------

OUTPUT_WORKFLOWS_TABLE = "WorkflowsTableName"
OUTPUT_TASKS_TABLE = "TasksTableName"
OUTPUT_START_FUNCTION = "StartFunctionName"
OUTPUT_ADVANCE_FUNCTION = "AdvanceFunctionName"
OUTPUT_RESULT_ROUTER_FUNCTION = "ResultRouterFunctionName"
OUTPUT_RESULTS_QUEUE_URL = "ResultsQueueUrl"
OUTPUT_QUEUE_MAP = "QueueMap"  # the RUNFOX_QUEUE_MAP JSON, for scripts


def queue_output_key(op_name: str) -> str:
    """Output key holding ``op_name``'s queue URL: ``make_greeting`` -> ``OpQueueUrlMakeGreeting``."""
    return "OpQueueUrl" + "".join(p[:1].upper() + p[1:] for p in re.split(r"[_-]+", op_name))


# --- errors ---------------------------------------------------------------------


class ConfigError(RunfoxError, ValueError):
    """Raised when configuration (environment or executors config) is missing or invalid.

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
    tasks_table: str
    results_queue_url: str
    queue_map: Mapping[str, str]
    op_defaults: Mapping[str, OpDefaults] = field(default_factory=dict)
    task_ttl_seconds: int = DEFAULT_TASK_TTL_SECONDS
    unsent_grace_seconds: float = DEFAULT_UNSENT_GRACE_SECONDS

    def engine_op_defaults(self) -> dict[str, dict[str, Any]]:
        """``op_defaults`` in the shape ``runfox_core.Backend`` takes."""
        return {token: {"timeout_seconds": d.timeout_seconds}
                for token, d in self.op_defaults.items() if d.timeout_seconds is not None}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        """Read and check every RUNFOX_* variable; raise ``ConfigError`` naming the first bad one."""
        workflows_table = _required(environ, ENV_WORKFLOWS_TABLE)
        tasks_table = _required(environ, ENV_TASKS_TABLE)
        results_queue_url = _required(environ, ENV_RESULTS_QUEUE_URL)
        queue_map = _json_object(environ, ENV_QUEUE_MAP, required=True)
        for token, url in queue_map.items():
            _check_token(token, ENV_QUEUE_MAP)
            if not isinstance(url, str) or not url:
                raise ConfigError(f"{ENV_QUEUE_MAP}: queue URL of {token!r} must be a non-empty string")
        return cls(
            workflows_table=workflows_table,
            tasks_table=tasks_table,
            results_queue_url=results_queue_url,
            queue_map=queue_map,
            op_defaults=_op_defaults(environ, queue_map),
            task_ttl_seconds=_ttl(environ),
            unsent_grace_seconds=_grace(environ),
        )


def engine_environment(workflows_table: Any, tasks_table: Any, results_queue_url: Any, queue_map_json: Any,
                       op_defaults_json: Any, task_ttl_seconds: int = DEFAULT_TASK_TTL_SECONDS) -> dict[str, Any]:
    """The RUNFOX_* environment of the engine Lambdas, for the CDK stack and the local emulator alike.

    Values may be CDK tokens (the stack) or plain strings (the emulator).
    """
    return {
        ENV_WORKFLOWS_TABLE: workflows_table,
        ENV_TASKS_TABLE: tasks_table,
        ENV_RESULTS_QUEUE_URL: results_queue_url,
        ENV_QUEUE_MAP: queue_map_json,
        ENV_OP_DEFAULTS: op_defaults_json,
        ENV_TASK_TTL_SECONDS: str(task_ttl_seconds),
    }


def op_defaults_document(ops: Mapping[str, OpConfig]) -> dict[str, dict[str, Any]]:
    """The RUNFOX_OP_DEFAULTS value for ``ops`` (before ``json.dumps``): one entry per op."""
    return {name: {"timeout_seconds": op.step_timeout_seconds} for name, op in ops.items()}


def _required(environ: Mapping[str, str], name: str) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} is not set (or empty)")
    return value


def _json_object(environ: Mapping[str, str], name: str, *, required: bool) -> dict[str, Any]:
    raw = environ.get(name, "").strip()
    if not raw:
        if required:
            raise ConfigError(f"{name} is not set (or empty)")
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{name} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ConfigError(f"{name} must be a JSON object, got {type(value).__name__}")
    return value


def _check_token(token: str, where: str) -> None:
    if not DISPATCH_TOKEN.match(token):
        raise ConfigError(f"{where}: {token!r} is not a dispatch token (want {DISPATCH_TOKEN.pattern})")


def _op_defaults(environ: Mapping[str, str], queue_map: Mapping[str, str]) -> dict[str, OpDefaults]:
    raw = _json_object(environ, ENV_OP_DEFAULTS, required=False)
    result = {}
    for token, entry in raw.items():
        if token not in queue_map:
            raise ConfigError(f"{ENV_OP_DEFAULTS}: op {token!r} has no queue in {ENV_QUEUE_MAP}")
        if not isinstance(entry, dict) or set(entry) - {"timeout_seconds"}:
            raise ConfigError(f'{ENV_OP_DEFAULTS}: op {token!r} must be {{"timeout_seconds": number|null}}')
        timeout = entry.get("timeout_seconds")
        if timeout is not None and not _positive_number(timeout):
            raise ConfigError(f"{ENV_OP_DEFAULTS}: op {token!r} timeout_seconds must be > 0, got {timeout!r}")
        result[token] = OpDefaults(timeout_seconds=timeout)
    return result


def _ttl(environ: Mapping[str, str]) -> int:
    raw = environ.get(ENV_TASK_TTL_SECONDS, "").strip()
    if not raw:
        return DEFAULT_TASK_TTL_SECONDS
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"{ENV_TASK_TTL_SECONDS} must be a whole number of seconds >= 1, got {raw!r}")
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


# --- the executors config ------------------------------------------------------------


@dataclass(frozen=True)
class OpConfig:
    """How one op (dispatch token) is executed. Ranges are the AWS limits."""

    handler: str | None = None  # "module.function" under lambdas/; None for an external worker
    external_queue: bool | str = False  # True: create queue+DLQ only; str: import this queue name/ARN
    memory_mb: int = 256  # MB, 128-10240 (handler ops)
    timeout_seconds: int = 30  # seconds, 1-900: the executor Lambda's timeout (handler ops)
    batch_size: int = 5  # messages per invocation, 1-10000 (>10 needs a batching window)
    max_batching_window_seconds: int = 0  # seconds, 0-300
    max_concurrency: int | None = None  # concurrent invocations from the queue, 2-1000; None: no cap
    max_receive_count: int = 3  # deliveries before a job goes to the DLQ, 1-1000
    visibility_timeout_seconds: int | None = None  # seconds, 0-43200; None: 6 x timeout_seconds
    step_timeout_seconds: float | None = None  # seconds a job may run before the engine fails it

    @property
    def imported_queue(self) -> str | None:
        """The existing queue's name or ARN when ``external_queue`` names one."""
        return self.external_queue if isinstance(self.external_queue, str) else None

    @property
    def queue_visibility_timeout_seconds(self) -> int:
        if self.visibility_timeout_seconds is not None:
            return self.visibility_timeout_seconds
        return min(VISIBILITY_TIMEOUT_FACTOR * self.timeout_seconds, MAX_VISIBILITY_TIMEOUT_SECONDS)


@dataclass(frozen=True)
class ResultsConfig:
    """How the result router consumes the results queue and every op DLQ."""

    batch_size: int = 10  # messages per invocation, 1-10000 (>10 needs a batching window)
    max_batching_window_seconds: int = 0  # seconds, 0-300
    max_concurrency: int | None = None  # 2-1000; None: no cap
    max_receive_count: int = 5  # deliveries before a result goes to the results DLQ, 1-1000


@dataclass(frozen=True)
class ExecutorsConfig:
    """The parsed executors config: every op, fully resolved (defaults merged)."""

    ops: Mapping[str, OpConfig]
    results: ResultsConfig = field(default_factory=ResultsConfig)


_OP_FIELDS = {f.name for f in fields(OpConfig)}
_RESULTS_FIELDS = {f.name for f in fields(ResultsConfig)}
_DEFAULTABLE = _OP_FIELDS - {"handler", "external_queue"}
_FUNCTION_ONLY = {"memory_mb", "timeout_seconds", "batch_size", "max_batching_window_seconds", "max_concurrency"}
_OWNED_QUEUE_ONLY = {"max_receive_count", "visibility_timeout_seconds"}
_HANDLER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")
_QUEUE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
_QUEUE_ARN = re.compile(r"^arn:aws[a-z-]*:sqs:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,80}$")
# field -> (low, high, nullable); every one an integer except step_timeout_seconds.
_INT_RANGES: dict[str, tuple[int, int, bool]] = {
    "memory_mb": (128, 10_240, False),
    "timeout_seconds": (1, 900, False),
    "batch_size": (1, 10_000, False),
    "max_batching_window_seconds": (0, 300, False),
    "max_concurrency": (2, 1_000, True),
    "max_receive_count": (1, 1_000, False),
    "visibility_timeout_seconds": (0, MAX_VISIBILITY_TIMEOUT_SECONDS, True),
}


def executors_config_path(environ: Mapping[str, str] = os.environ) -> Path:
    """Where the executors config lives: $RUNFOX_EXECUTORS_CONFIG, else ./executors.json."""
    return Path(environ.get(ENV_EXECUTORS_CONFIG) or DEFAULT_EXECUTORS_CONFIG)


def load_executors_config(path: str | os.PathLike[str] | None = None) -> ExecutorsConfig:
    """Read, check and resolve the executors config at ``path`` (default: ``executors_config_path()``)."""
    source = Path(path) if path is not None else executors_config_path()
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read executors config: {exc.strerror}") from None
    try:
        document = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{source}: not valid JSON: {exc}") from None
    return parse_executors_config(document, source=str(source))


def parse_executors_config(document: Any, *, source: str = "executors config") -> ExecutorsConfig:
    """Check and resolve an already-decoded executors config (see the module docstring)."""
    if not isinstance(document, dict):
        raise ConfigError(f"{source}: must be a JSON object")
    _unknown_keys(document, {"defaults", "results", "ops"}, f"{source}: top level")
    defaults = _section(document, "defaults", source)
    _unknown_keys(defaults, _DEFAULTABLE, f"{source}: defaults")
    results_doc = _section(document, "results", source)
    _unknown_keys(results_doc, _RESULTS_FIELDS, f"{source}: results")
    results = ResultsConfig(**results_doc)
    _check_values(results, f"{source}: results", op=None)  # validate_results, naming the file
    _check_values(OpConfig(**defaults), f"{source}: defaults", op=None)
    if "ops" not in document:
        raise ConfigError(f"{source}: missing 'ops' (an object: op name -> op config)", field="ops")
    ops_doc = _section(document, "ops", source)
    ops = {}
    for name, entry in ops_doc.items():
        if not isinstance(entry, dict):
            raise ConfigError(f"{source}: op {name!r} must be an object", op=name)
        where = f"{source}: op {name!r}"
        for key in entry:
            if key not in _OP_FIELDS:
                raise ConfigError(f"{where}, field {key!r}: unknown key", op=name, field=key)
        ops[name] = validate_op(name, OpConfig(**{**defaults, **entry}), explicit=set(entry), where=where)
    return ExecutorsConfig(ops=ops, results=results)


def validate_op(name: str, op: OpConfig, *, explicit: set[str] | None = None, where: str | None = None) -> OpConfig:
    """Check one op; return it unchanged or raise ``ConfigError`` naming the op and field.

    ``explicit`` is the set of fields the user wrote for this op in a config
    file; those that cannot apply (function sizing on an external worker, queue
    settings on an imported queue) are reported. Ops built in code pass none,
    so only values and the handler / external_queue choice are checked.
    """
    where = where or f"op {name!r}"
    if not isinstance(name, str) or not DISPATCH_TOKEN.match(name):
        raise ConfigError(f"{where}: op name must match {DISPATCH_TOKEN.pattern}", op=name, field="name")
    explicit = explicit or set()
    _check_worker(name, op, where)
    _check_values(op, where, op=name)
    not_applicable = _FUNCTION_ONLY if op.handler is None else set()
    if op.imported_queue is not None:
        not_applicable = not_applicable | _OWNED_QUEUE_ONLY
    misplaced = sorted(explicit & not_applicable)
    if misplaced:
        raise _field_error(where, name, misplaced[0], "does not apply to an external worker")
    if op.handler is not None and op.queue_visibility_timeout_seconds < op.timeout_seconds:
        # Lambda refuses an SQS event source whose visibility is shorter than the function timeout.
        raise _field_error(where, name, "visibility_timeout_seconds", "must be >= timeout_seconds")
    return op


def validate_results(results: ResultsConfig) -> ResultsConfig:
    """Check how the router consumes results; return it unchanged or raise ``ConfigError`` naming the field."""
    _check_values(results, "results", op=None)
    return results


def _check_worker(name: str, op: OpConfig, where: str) -> None:
    has_external = op.external_queue is not False
    if op.handler is not None and has_external:
        raise _field_error(where, name, "handler", "set either handler or external_queue, not both")
    if op.handler is None and not has_external:
        raise _field_error(where, name, "handler", "needs a handler (module.function) or external_queue")
    if op.handler is not None and (not isinstance(op.handler, str) or not _HANDLER.match(op.handler)):
        raise _field_error(where, name, "handler", f"must look like 'module.function', got {op.handler!r}")
    external = op.external_queue
    if external is True or external is False:
        return
    if not isinstance(external, str) or not (_QUEUE_NAME.match(external) or _QUEUE_ARN.match(external)):
        raise _field_error(
            where, name, "external_queue", f"must be true or a standard SQS queue name or ARN, got {external!r}"
        )


def _check_values(config: OpConfig | ResultsConfig, where: str, op: str | None) -> None:
    names = {f.name for f in fields(config)}
    for key, (low, high, nullable) in _INT_RANGES.items():
        if key not in names:
            continue
        value = getattr(config, key)
        if value is None and nullable:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            null = " or null" if nullable else ""
            raise _field_error(where, op, key, f"must be an integer from {low} to {high}{null}, got {value!r}")
    if config.batch_size > 10 and config.max_batching_window_seconds < 1:
        raise _field_error(where, op, "batch_size", "above 10 needs max_batching_window_seconds >= 1")
    step_timeout = getattr(config, "step_timeout_seconds", None)
    if step_timeout is not None and not _positive_number(step_timeout):
        raise _field_error(where, op, "step_timeout_seconds", f"must be a number > 0 or null, got {step_timeout!r}")


def _field_error(where: str, op: str | None, key: str, problem: str) -> ConfigError:
    return ConfigError(f"{where}, field {key!r}: {problem}", op=op, field=key)


def _section(document: dict[str, Any], key: str, source: str) -> dict[str, Any]:
    value = document.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{source}: {key!r} must be an object", field=key)
    return value


def _unknown_keys(section: Mapping[str, Any], allowed: set[str], where: str) -> None:
    for key in section:
        if key not in allowed:
            raise ConfigError(f"{where}, field {key!r}: unknown key (allowed: {', '.join(sorted(allowed))})", field=key)


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ConfigError(f"key {key!r} appears twice in one object", field=key)
        result[key] = value
    return result
