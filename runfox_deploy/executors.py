"""executors.py -- the executors config (``executors.json``): the one place ops are declared.

Owns ``OpConfig``, ``ResultsConfig`` and ``ExecutorsConfig``, their parsing
(``load_executors_config``, ``parse_executors_config``) and checks
(``validate_op``, ``check_code``). Every error is a ``ConfigError`` that names
the op and the field.

Format (every key optional except ``ops``)::

    {"defaults": {<op field>: value, ...},          -- merged under every op
     "results":  {"batch_size": 10, "max_batching_window_seconds": 0,
                  "max_concurrency": null, "max_receive_count": 5},
     "ops": {"make_greeting": {"handler": "executors.greeting.handler"},
             "summarise": {"code": "services/summarise", "handler": "app.handler",
                           "environment": {"MODEL": "small"},
                           "secrets": ["secretsmanager:prod/model-key", "ssm:/prod/model/url"],
                           "policy_statements": [{"Action": "s3:GetObject",
                                                  "Resource": "arn:aws:s3:::docs/*"}],
                           "requirements": ["httpx==0.27.2"], "layers": [],
                           "memory_mb": 1024, "lambda_timeout_seconds": 120,
                           "reserved_concurrency": 4, "architecture": "arm64"},
             "gpu_embed": {"external_queue": true},
             "legacy": {"external_queue": "arn:aws:sqs:eu-west-1:123456789012:legacy"}}}

An op either names a ``handler`` (``module.function`` inside its ``code``
folder, ``lambdas/`` by default; the stack creates its Lambda and event source
mapping) or sets ``external_queue``: ``true`` creates the queue and DLQ for a
worker running elsewhere; a queue name or ARN imports an existing queue.

``check_code`` proves each handler exists without importing the user's code
(``ast``): the module file must be in the op's ``code`` folder and define the
function at top level (a ``def``, an assignment or an import under that name).

Known limits: an imported queue's dead-letter queue is not watched by the
result router (set ``step_timeout_seconds`` so lost jobs still fail); FIFO
queues are rejected because jobs carry no message group; an op name may not
end in ``-dlq`` (its queue's name would be another op's dead-letter queue).
"""

from __future__ import annotations

import ast
import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from runfox_core.aws.config import ENV_EXECUTORS_CONFIG, ConfigError
from runfox_deploy import facts

DISPATCH_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
DEFAULT_CODE = "lambdas"  # the code folder of an op that names none


@dataclass(frozen=True)
class OpConfig:
    """How one op (dispatch token) is executed. Ranges are the AWS limits."""

    handler: str | None = None  # "module.function" inside ``code``; None for an external worker
    external_queue: bool | str = False  # True: create queue+DLQ only; str: import this queue name/ARN
    code: str = DEFAULT_CODE  # the executor's code folder, relative to the project root
    environment: Mapping[str, str] = field(default_factory=dict)  # extra variables of the executor
    secrets: tuple[str, ...] = ()  # "secretsmanager:<name|ARN>" or "ssm:<parameter name>": read access
    policy_statements: tuple[Mapping[str, Any], ...] = ()  # extra IAM statements of the executor role
    requirements: tuple[str, ...] = ()  # extra PyPI packages, in a layer built by `make layer`
    layers: tuple[str, ...] = ()  # extra layer version ARNs
    memory_mb: int = 256  # MB, 128-10240 (handler ops)
    lambda_timeout_seconds: int = 30  # seconds, 1-900: the executor Lambda's timeout (handler ops)
    reserved_concurrency: int | None = None  # 0-1000; None: the account's unreserved pool
    architecture: str = facts.LAMBDA_ARCHITECTURE  # "arm64" or "x86_64"
    batch_size: int = 5  # messages per invocation, 1-10000 (>10 needs a batching window)
    max_batching_window_seconds: int = 0  # seconds, 0-300
    max_concurrency: int | None = None  # concurrent invocations from the queue, 2-1000; None: no cap
    max_receive_count: int = 3  # deliveries before a job goes to the DLQ, 1-1000
    visibility_timeout_seconds: int | None = None  # seconds, 0-43200; None: 6 x lambda_timeout_seconds
    step_timeout_seconds: float | None = None  # seconds a job may run before the engine fails it

    @property
    def imported_queue(self) -> str | None:
        """The existing queue's name or ARN when ``external_queue`` names one."""
        return self.external_queue if isinstance(self.external_queue, str) else None

    @property
    def queue_visibility_timeout_seconds(self) -> int:
        if self.visibility_timeout_seconds is not None:
            return self.visibility_timeout_seconds
        return min(facts.VISIBILITY_TIMEOUT_FACTOR * self.lambda_timeout_seconds, facts.MAX_VISIBILITY_TIMEOUT_SECONDS)


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
_FUNCTION_ONLY = {"memory_mb", "lambda_timeout_seconds", "batch_size", "max_batching_window_seconds", "max_concurrency",
                  "code", "environment", "secrets", "policy_statements", "requirements", "layers",
                  "reserved_concurrency", "architecture"}
_OWNED_QUEUE_ONLY = {"max_receive_count", "visibility_timeout_seconds"}
_LISTS = ("secrets", "policy_statements", "requirements", "layers")
_HANDLER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")
_QUEUE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
_QUEUE_ARN = re.compile(r"^arn:aws[a-z-]*:sqs:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,80}$")
_LAYER_ARN = re.compile(r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:layer:[A-Za-z0-9_-]{1,140}:\d+$")
_ENV_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_RESERVED_ENV = ("AWS_", "LAMBDA_", "RUNFOX_", "POWERTOOLS_", "_")
_SECRET = re.compile(r"^(secretsmanager:[A-Za-z0-9/_+=.@:-]{1,2048}|ssm:/?[A-Za-z0-9/_.-]{1,2048})$")
_REQUIREMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9,._-]+\])?\s*([<>=!~]=?[^\s;]+,?)*$")
_STATEMENT_KEYS = {"Sid", "Effect", "Action", "Resource", "Condition"}
# field -> (low, high, nullable); every one an integer except step_timeout_seconds.
_INT_RANGES: dict[str, tuple[int, int, bool]] = {
    "memory_mb": (128, 10_240, False),
    "lambda_timeout_seconds": (1, 900, False),
    "reserved_concurrency": (0, 1_000, True),
    "batch_size": (1, 10_000, False),
    "max_batching_window_seconds": (0, 300, False),
    "max_concurrency": (2, 1_000, True),
    "max_receive_count": (1, 1_000, False),
    "visibility_timeout_seconds": (0, facts.MAX_VISIBILITY_TIMEOUT_SECONDS, True),
}


def executors_config_path(environ: Mapping[str, str] = os.environ) -> Path:
    """Where the executors config lives: $RUNFOX_EXECUTORS_CONFIG, else ./executors.json."""
    return Path(environ.get(ENV_EXECUTORS_CONFIG) or facts.DEFAULT_EXECUTORS_CONFIG)


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
    defaults = _renamed(_section(document, "defaults", source), f"{source}: defaults", None)
    _unknown_keys(defaults, _DEFAULTABLE, f"{source}: defaults")
    results_doc = _section(document, "results", source)
    _unknown_keys(results_doc, _RESULTS_FIELDS, f"{source}: results")
    results = ResultsConfig(**results_doc)
    _check_values(results, f"{source}: results", op=None)
    _check_values(_op(defaults, f"{source}: defaults", None), f"{source}: defaults", op=None)
    if "ops" not in document:
        raise ConfigError(f"{source}: missing 'ops' (an object: op name -> op config)", field="ops")
    ops_doc = _section(document, "ops", source)
    ops = {}
    for name, entry in ops_doc.items():
        if not isinstance(entry, dict):
            raise ConfigError(f"{source}: op {name!r} must be an object", op=name)
        where = f"{source}: op {name!r}"
        entry = _renamed(entry, where, name)
        for key in entry:
            if key not in _OP_FIELDS:
                raise ConfigError(f"{where}, field {key!r}: unknown key", op=name, field=key)
        ops[name] = validate_op(name, _op({**defaults, **entry}, where, name), explicit=set(entry), where=where)
    return ExecutorsConfig(ops=ops, results=results)


def validate_op(name: str, op: OpConfig, *, explicit: set[str] | None = None, where: str | None = None) -> OpConfig:
    """Check one op; return it unchanged or raise ``ConfigError`` naming the op and field.

    ``explicit`` is the set of fields the user wrote for this op in a config
    file; those that cannot apply (function settings on an external worker,
    queue settings on an imported queue) are reported. Ops built in code pass
    none, so only values and the handler / external_queue choice are checked.
    """
    where = where or f"op {name!r}"
    if not isinstance(name, str) or not DISPATCH_TOKEN.match(name):
        raise ConfigError(f"{where}: op name must match {DISPATCH_TOKEN.pattern}", op=name, field="name")
    if name.endswith(facts.DLQ_SUFFIX):
        raise ConfigError(f"{where}: op name may not end in {facts.DLQ_SUFFIX!r} (dead-letter queues do)",
                          op=name, field="name")
    explicit = explicit or set()
    _check_worker(name, op, where)
    _check_values(op, where, op=name)
    _check_function_extras(name, op, where)
    not_applicable = _FUNCTION_ONLY if op.handler is None else set()
    if op.imported_queue is not None:
        not_applicable = not_applicable | _OWNED_QUEUE_ONLY
    misplaced = sorted(explicit & not_applicable)
    if misplaced:
        raise _field_error(where, name, misplaced[0], "does not apply to an external worker")
    if op.handler is not None and op.queue_visibility_timeout_seconds < op.lambda_timeout_seconds:
        # Lambda refuses an SQS event source whose visibility is shorter than the function timeout.
        raise _field_error(where, name, "visibility_timeout_seconds", "must be >= lambda_timeout_seconds")
    return op


def validate_results(results: ResultsConfig) -> ResultsConfig:
    """Check how the router consumes results; return it unchanged or raise ``ConfigError`` naming the field."""
    _check_values(results, "results", op=None)
    return results


def code_folder(op: OpConfig, root: Path) -> Path:
    """The op's code folder, resolved against the project ``root``."""
    folder = Path(op.code)
    return folder if folder.is_absolute() else root / folder


def check_code(ops: Mapping[str, OpConfig], root: Path) -> None:
    """Prove every handler exists (file and top-level name) without importing it; raise ``ConfigError``."""
    for name, op in ops.items():
        if op.handler is None:
            continue
        folder = code_folder(op, root)
        if not folder.is_dir():
            raise _field_error(f"op {name!r}", name, "code", f"folder {folder} does not exist")
        module, _, function = op.handler.rpartition(".")
        base = folder.joinpath(*module.split("."))
        source = next((p for p in (base.with_suffix(".py"), base / "__init__.py") if p.is_file()), None)
        if source is None:
            raise _field_error(f"op {name!r}", name, "handler",
                               f"module {module!r} not found in {folder} (no {base.relative_to(folder)}.py)")
        try:
            tree = ast.parse(source.read_text(encoding="utf-8"), filename=str(source))
        except SyntaxError as exc:
            raise _field_error(f"op {name!r}", name, "handler", f"{source} does not parse: {exc.msg} "
                                                                 f"(line {exc.lineno})") from None
        if function not in _top_level_names(tree):
            raise _field_error(f"op {name!r}", name, "handler",
                               f"{source} defines no top-level {function!r}")


def _top_level_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return names


#: Older key -> its name now. The older one is still read; giving both is an error.
_RENAMED = {"timeout_seconds": "lambda_timeout_seconds"}


def _renamed(entry: dict[str, Any], where: str, name: str | None) -> dict[str, Any]:
    """``entry`` with older keys under their names now (``timeout_seconds`` was the Lambda's timeout)."""
    out = dict(entry)
    for old, new in _RENAMED.items():
        if old in out:
            if new in out:
                raise _field_error(where, name, old, f"is the older name of {new!r}; give only {new!r}")
            out[new] = out.pop(old)
    return out


def _op(entry: dict[str, Any], where: str, name: str | None) -> OpConfig:
    """An OpConfig from a JSON object (lists become tuples), checking the container fields' shapes."""
    values = dict(entry)
    for key in _LISTS:
        if key in values:
            if not isinstance(values[key], list):
                raise _field_error(where, name, key, f"must be a list, got {type(values[key]).__name__}")
            values[key] = tuple(values[key])
    if "environment" in values and not isinstance(values["environment"], dict):
        raise _field_error(where, name, "environment", "must be an object of names to strings")
    return OpConfig(**values)


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


def _check_function_extras(name: str, op: OpConfig, where: str) -> None:
    if not isinstance(op.code, str) or not op.code.strip():
        raise _field_error(where, name, "code", f"must be a folder path, got {op.code!r}")
    for key, value in op.environment.items():
        if not isinstance(key, str) or not _ENV_NAME.match(key) or key.startswith(_RESERVED_ENV):
            raise _field_error(where, name, "environment",
                               f"{key!r} is not a usable variable name (letters, digits, _; "
                               f"not starting with {', '.join(_RESERVED_ENV)})")
        if not isinstance(value, str):
            raise _field_error(where, name, "environment", f"value of {key!r} must be a string, got {value!r}")
    for secret in op.secrets:
        if not isinstance(secret, str) or not _SECRET.match(secret):
            raise _field_error(where, name, "secrets",
                               f"{secret!r} must be 'secretsmanager:<name or ARN>' or 'ssm:<parameter name>'")
    for statement in op.policy_statements:
        _check_statement(name, statement, where)
    for requirement in op.requirements:
        if not isinstance(requirement, str) or not _REQUIREMENT.match(requirement.strip()):
            raise _field_error(where, name, "requirements", f"{requirement!r} is not a PyPI requirement")
    for layer in op.layers:
        if not isinstance(layer, str) or not _LAYER_ARN.match(layer):
            raise _field_error(where, name, "layers", f"{layer!r} is not a layer version ARN")
    own_layers = 1 + (1 if op.requirements else 0)
    if own_layers + len(op.layers) > facts.LAMBDA_LAYERS_MAX:
        raise _field_error(where, name, "layers", f"at most {facts.LAMBDA_LAYERS_MAX - own_layers} "
                                                  f"(a function takes {facts.LAMBDA_LAYERS_MAX} layers)")
    if op.architecture not in facts.PIP_PLATFORMS:
        raise _field_error(where, name, "architecture",
                           f"must be one of {sorted(facts.PIP_PLATFORMS)}, got {op.architecture!r}")


def _check_statement(name: str, statement: Any, where: str) -> None:
    if not isinstance(statement, Mapping):
        raise _field_error(where, name, "policy_statements", f"each statement must be an object, got {statement!r}")
    unknown = sorted(set(statement) - _STATEMENT_KEYS)
    if unknown:
        raise _field_error(where, name, "policy_statements", f"unknown statement key {unknown[0]!r}")
    if statement.get("Effect", "Allow") not in ("Allow", "Deny"):
        raise _field_error(where, name, "policy_statements", "Effect must be 'Allow' or 'Deny'")
    for key in ("Action", "Resource"):
        value = statement.get(key)
        items = value if isinstance(value, list) else [value]
        if not items or not all(isinstance(item, str) and item for item in items):
            raise _field_error(where, name, "policy_statements", f"{key} must be a string or a list of strings")


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


def _positive_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


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
