"""lambda_runtime.py -- import and invoke handlers from ``lambdas/`` the way Lambda does.

Lambda puts the function's code folder on ``sys.path`` and imports the
handler by ``module.function`` (``start.handler``, ``executors.greeting.handler``);
``load_handler`` does the same with ``LAMBDAS_DIR``, so the paths in
``executors.json`` and config.py work unchanged. ``LambdaContext`` carries
the attributes Powertools reads (function name, memory, ARN, request id).

What a handler prints during an invocation (Powertools metrics, as EMF
JSON lines) goes where Lambda sends it, to a log, not the terminal: the
last ``MAX_OUTPUT_LINES`` lines are kept in ``OUTPUT`` as (function, line),
so tests can read the metrics a handler emitted (``emitted_metrics``).

Every AWS API call a handler makes is recorded in ``AWS_CALLS`` as
(handler path, IAM action, resource name): a botocore ``before-parameter-build`` hook
on every client created while a handler runs (``record_aws_calls``). The
tests compare these with the IAM policies of the synthesized stack.

Known limits: every handler shares one process and one ``os.environ``; the
executor functions in AWS get only their own variables, here they see all.
Powertools Loggers of one service share a formatter, so keys one function
appends (its Lambda context) can show up in another's log lines, and a
Logger writes to the stdout it found at import, so log lines are not
captured in ``OUTPUT``: only what is printed during the call is.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import io
import json
import sys
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runfox_core.aws import config
from runfox_deploy import facts

REPO_ROOT = Path(__file__).resolve().parent.parent
LAMBDAS_DIR = REPO_ROOT / config.LAMBDAS_DIR
ACCOUNT_ID = "123456789012"  # moto's default account
REGION = "us-east-1"

MAX_OUTPUT_LINES = 10_000
OUTPUT: deque[tuple[str, str]] = deque(maxlen=MAX_OUTPUT_LINES)  # (function name, printed line)

Handler = Callable[[dict[str, Any], Any], Any]

#: (handler path, IAM action, resource name) of every AWS call a handler made in this process.
AWS_CALLS: set[tuple[str, str, str]] = set()
_current_handler: contextvars.ContextVar[str | None] = contextvars.ContextVar("runfox_handler", default=None)
_recording = False


@dataclass
class LambdaContext:
    """What the Lambda runtime passes as ``context`` (the attributes Powertools uses)."""

    function_name: str
    memory_limit_in_mb: int = facts.ENGINE_MEMORY_MB
    timeout_seconds: int = facts.ENGINE_TIMEOUT_SECONDS
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    _started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return f"local/{self.aws_request_id}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self._started)) * 1000))


def load_handler(path: str) -> Handler:
    """``"executors.greeting.handler"`` -> that function, imported with ``lambdas/`` on sys.path."""
    module_name, _, attribute = path.rpartition(".")
    if not module_name:
        raise ValueError(f"handler {path!r} must look like 'module.function'")
    if str(LAMBDAS_DIR) not in sys.path:
        sys.path.insert(0, str(LAMBDAS_DIR))
    return getattr(importlib.import_module(module_name), attribute)


def invoke(path: str, event: dict[str, Any], *, memory_mb: int = facts.ENGINE_MEMORY_MB,
           timeout_seconds: int = facts.ENGINE_TIMEOUT_SECONDS) -> Any:
    """Invoke handler ``path`` with ``event`` and a fresh context; return what it returns."""
    name = function_name(path)
    context = LambdaContext(function_name=name, memory_limit_in_mb=memory_mb, timeout_seconds=timeout_seconds)
    handler = load_handler(path)
    record_aws_calls()
    printed = io.StringIO()
    token = _current_handler.set(path)
    try:
        with contextlib.redirect_stdout(printed):
            return handler(event, context)
    finally:
        _current_handler.reset(token)
        OUTPUT.extend((name, line) for line in printed.getvalue().splitlines())


def on_every_client(register: Callable[[Any], None]) -> None:
    """Call ``register(client)`` on every botocore client created from now on (to register its hooks)."""
    import botocore.session

    original = botocore.session.Session.create_client

    def create_client(self: Any, *args: Any, **kwargs: Any) -> Any:
        client = original(self, *args, **kwargs)
        register(client)
        return client

    botocore.session.Session.create_client = create_client


def record_aws_calls() -> None:
    """From now on, hook every new botocore client so its calls land in ``AWS_CALLS`` (idempotent)."""
    global _recording
    if _recording:
        return
    on_every_client(lambda client: client.meta.events.register("before-parameter-build.*.*", _record_call))
    _recording = True


def _record_call(model: Any, params: dict[str, Any], **_: Any) -> None:
    path = _current_handler.get()
    if path is None:  # a test or the driver, not a handler
        return
    service = model.service_model.endpoint_prefix
    for action, resource in iam_requests(service, model.name, params):
        AWS_CALLS.add((path, action, resource))


#: API operations authorised as another IAM action.
_SQS_ACTIONS = {"SendMessageBatch": "SendMessage", "DeleteMessageBatch": "DeleteMessage",
                "ChangeMessageVisibilityBatch": "ChangeMessageVisibility"}
_TRANSACT_ITEMS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                   "ConditionCheck": "ConditionCheckItem", "Get": "GetItem"}


def iam_requests(service: str, operation: str, params: dict[str, Any]) -> list[tuple[str, str]]:
    """The (IAM action, resource name) pairs one API call is authorised as.

    DynamoDB transactions are authorised item by item (``TransactWriteItems``
    with a Put needs ``dynamodb:PutItem`` on that table); batches on each table
    they name; SQS batch calls as their single-message action; a Lambda
    ``Invoke`` as ``lambda:InvokeFunction`` on the function (named, or by ARN).
    """
    if service == "s3":  # object calls of the values bucket, or a map's items_from (runfox_core.aws.s3_blobs)
        return [(f"s3:{operation}", str(params.get("Bucket", "")))]
    if service == "sqs":
        return [(f"sqs:{_SQS_ACTIONS.get(operation, operation)}", str(params.get("QueueUrl", "")).rsplit("/", 1)[-1])]
    if service == "lambda":  # an executor hands its results to the router (runfox_core.aws.answers)
        name = str(params.get("FunctionName", "")).split(":function:", 1)[-1].split(":", 1)[0]
        return [("lambda:InvokeFunction" if operation == "Invoke" else f"lambda:{operation}", name)]
    if service == "dynamodb":
        if operation in ("TransactWriteItems", "TransactGetItems"):
            return sorted({(f"dynamodb:{_TRANSACT_ITEMS[kind]}", body["TableName"])
                           for item in params["TransactItems"] for kind, body in item.items()})
        if "RequestItems" in params:
            return [(f"dynamodb:{operation}", table) for table in params["RequestItems"]]
        return [(f"dynamodb:{operation}", str(params.get("TableName", "")))]
    return [(f"{service}:{operation}", "*")]


#: The committed recording: function kind -> sorted [IAM action, resource kind] pairs.
RECORDING = REPO_ROOT / "tests" / "infra" / "aws_calls.json"


def recorded_iam_calls() -> dict[str, list[list[str]]]:
    """``AWS_CALLS`` reduced to what the IAM test can check against a template.

    Function kinds: ``start``, ``advance``, ``result_router``, ``executor``;
    resource kinds: ``table:workflows``, ``bucket:values``, ``bucket:items``
    (any other bucket: where a map's ``items_from`` reads), ``queue:results``,
    ``queue:results-dlq``, ``queue:op``, ``queue:op-dlq``, ``queue:imported``
    (from the emulator's naming in ``local.deployment``), and ``function:<kind>``
    for a Lambda call on an engine function (``function_name``: ``function:result_router``).
    """
    from local import blobs, deployment

    kinds = {config.START_HANDLER: "start", config.ADVANCE_HANDLER: "advance",
             config.RESULT_ROUTER_HANDLER: "result_router"}
    named = {deployment.WORKFLOWS_TABLE: "table:workflows",
             deployment.RESULTS_QUEUE: "queue:results",
             deployment.dlq_name(deployment.RESULTS_QUEUE): "queue:results-dlq",
             blobs.BLOB_BUCKET: "bucket:values"}

    functions = {function_name(path): f"function:{kind}" for path, kind in kinds.items()}

    def resource_kind(name: str, action: str) -> str:
        if name in named:
            return named[name]
        if action.startswith("lambda:"):
            return functions.get(name, f"function:{name}")
        if action.startswith("s3:"):
            return "bucket:items"
        if name.startswith(deployment.OP_QUEUE_PREFIX):
            return "queue:op-dlq" if name == deployment.dlq_name(name[: -len(deployment.dlq_name(""))]) else "queue:op"
        return "queue:imported"

    calls: dict[str, set[tuple[str, str]]] = {}
    for path, action, resource in AWS_CALLS:
        calls.setdefault(kinds.get(path, "executor"), set()).add((action, resource_kind(resource, action)))
    return {kind: sorted(map(list, pairs)) for kind, pairs in sorted(calls.items())}


def merge_recording(path: Path = RECORDING) -> None:
    """Add this process's calls to the committed recording (``RUNFOX_UPDATE_AWS_CALLS=1``)."""
    merged = json.loads(path.read_text()) if path.is_file() else {}
    for kind, pairs in recorded_iam_calls().items():
        merged[kind] = sorted({tuple(p) for p in merged.get(kind, [])} | {tuple(p) for p in pairs})
    path.write_text(json.dumps({k: [list(p) for p in v] for k, v in sorted(merged.items())}, indent=1) + "\n")


def function_name(path: str) -> str:
    """The local function name of handler ``path``: ``start.handler`` -> ``runfox-local-start``."""
    return "runfox-local-" + path.rsplit(".", 1)[0].replace(".", "-").replace("_", "-")


def emitted_metrics(path: str) -> list[str]:
    """Names of the metrics handler ``path`` emitted (EMF lines in ``OUTPUT``), oldest first."""
    name = function_name(path)
    found: list[str] = []
    for function, line in OUTPUT:
        if function != name or not line.startswith("{"):
            continue
        document = json.loads(line)
        for directive in document.get("_aws", {}).get("CloudWatchMetrics", []):
            found += [metric["Name"] for metric in directive["Metrics"]]
    return found
