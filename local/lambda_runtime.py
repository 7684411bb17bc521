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

Known limits: every handler shares one process and one ``os.environ``; the
executor functions in AWS get only their own variables, here they see all.
Powertools Loggers of one service share a formatter, so keys one function
appends (its Lambda context) can show up in another's log lines, and a
Logger writes to the stdout it found at import, so log lines are not
captured in ``OUTPUT``: only what is printed during the call is.
"""

from __future__ import annotations

import contextlib
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
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            return handler(event, context)
    finally:
        OUTPUT.extend((name, line) for line in printed.getvalue().splitlines())


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
