"""topology.py -- what a runfox deployment is made of, derived once from the executors config.

Both renderers draw from here: ``runfox_cdk`` (CloudFormation) and
``local/deployment.py`` (moto). ``Topology`` owns

- queue names: an owned op queue is ``<prefix><op>``, every dead-letter queue
  is ``<queue>-dlq``; fixed names let the engine derive each op queue's URL
  from one prefix instead of carrying a URL per op in its environment, and
  let one IAM statement per role cover every op (``op_queue_arn_pattern``);
- the consumers (which queue feeds which handler): ``consumers()``;
- the ops manifest: op names, their step timeouts and imported queues, the
  one file the engine Lambdas read at cold start (``ops_manifest``);
- the engine functions' environment, constant in size (``engine_environment``),
  and an executor's (``executor_environment``);
- how ops are spread over stacks (``op_stacks``): in config order, at most
  ``facts.OPS_PER_STACK`` per nested stack.

Known limits: an op's stack is fixed by its position, so inserting or removing
an op in the middle of ``executors.json`` moves the ops after it to another
nested stack, which CloudFormation does as delete + create; with fixed queue
names that fails (the name is taken), so append new ops at the end.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from runfox_core.aws import config
from runfox_core.aws.config import ConfigError
from runfox_deploy import facts
from runfox_deploy.executors import ExecutorsConfig, OpConfig

_PREFIX = re.compile(rf"^[A-Za-z0-9_-]{{1,{facts.QUEUE_PREFIX_MAX}}}$")

#: queue roles, the names both renderers map their queues to when compared
RESULTS = "results"
RESULTS_DLQ = "results-dlq"


@dataclass(frozen=True)
class Consumer:
    """One event source: ``handler`` (in ``code``) is invoked with batches from the queue of ``role``."""

    role: str  # "results", "results-dlq", "op:<name>", "dlq:<name>"
    handler: str
    code: str | None  # the op's code folder; None for the engine's own functions
    batch_size: int
    max_batching_window_seconds: int
    max_concurrency: int | None


def dlq_name(queue: str) -> str:
    """The dead-letter queue of ``queue``."""
    return queue + facts.DLQ_SUFFIX


def check_queue_prefix(prefix: str) -> str:
    """``prefix`` unchanged, or ``ConfigError``: it must leave room for a 64-character op and ``-dlq``."""
    if not isinstance(prefix, str) or not _PREFIX.match(prefix):
        raise ConfigError(f"queue prefix {prefix!r} must be 1-{facts.QUEUE_PREFIX_MAX} characters of "
                          f"[A-Za-z0-9_-] (an SQS name is at most {facts.QUEUE_NAME_MAX}: prefix + "
                          f"{facts.OP_NAME_MAX}-character op + {facts.DLQ_SUFFIX!r})", field="queue_prefix")
    return prefix


def default_queue_prefix(stack_name: str) -> str:
    """``<stack name>-`` when it fits, else ``ConfigError`` asking for an explicit prefix."""
    prefix = f"{stack_name}-"
    if len(prefix) > facts.QUEUE_PREFIX_MAX:
        raise ConfigError(f"stack name {stack_name!r} is too long to prefix queue names: set a queue prefix "
                          f"of at most {facts.QUEUE_PREFIX_MAX} characters (context runfox:queuePrefix)",
                          field="queue_prefix")
    return check_queue_prefix(prefix)


def queue_url_from_arn(arn: str) -> str:
    """``arn:aws:sqs:<region>:<account>:<name>`` -> its queue URL."""
    _, partition, _, region, account, name = arn.split(":", 5)
    suffix = "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com"
    return f"https://sqs.{region}.{suffix}/{account}/{name}"


class Topology:
    """The deployment of ``executors`` with op queues named ``<queue_prefix><op>``."""

    def __init__(self, executors: ExecutorsConfig, queue_prefix: str) -> None:
        self.executors = executors
        self.queue_prefix = check_queue_prefix(queue_prefix)

    @property
    def ops(self) -> Mapping[str, OpConfig]:
        return self.executors.ops

    def op_queue_name(self, op: str) -> str:
        """The queue of owned op ``op`` (imported queues keep their own name)."""
        return f"{self.queue_prefix}{op}"

    def owned_ops(self) -> dict[str, OpConfig]:
        """Ops whose queue and DLQ the deployment creates."""
        return {name: op for name, op in self.ops.items() if op.imported_queue is None}

    def imported_ops(self) -> dict[str, OpConfig]:
        return {name: op for name, op in self.ops.items() if op.imported_queue is not None}

    def op_queue_arn_pattern(self) -> str:
        """The resource part of an ARN matching every owned op queue (and its DLQ): ``<prefix>*``."""
        return f"{self.queue_prefix}*"

    def op_dlq_arn_pattern(self) -> str:
        return f"{self.queue_prefix}*{facts.DLQ_SUFFIX}"

    def op_stacks(self) -> list[list[str]]:
        """Op names grouped into stacks of at most ``facts.OPS_PER_STACK``, in config order."""
        names = list(self.ops)
        size = facts.OPS_PER_STACK
        return [names[i:i + size] for i in range(0, len(names), size)]

    def consumers(self) -> list[Consumer]:
        """Every event source: the router on the results queue and each owned op DLQ; each executor on its queue."""
        results = self.executors.results

        def router(role: str) -> Consumer:
            return Consumer(role, config.RESULT_ROUTER_HANDLER, None, results.batch_size,
                            results.max_batching_window_seconds, results.max_concurrency)

        found = [router(RESULTS)]
        for name, op in self.owned_ops().items():
            if op.handler is not None:
                found.append(Consumer(f"op:{name}", op.handler, op.code, op.batch_size,
                                      op.max_batching_window_seconds, op.max_concurrency))
            found.append(router(f"dlq:{name}"))
        return found

    def ops_manifest(self) -> dict[str, Any]:
        """The document the engine reads at cold start (``runfox_core.aws.config.read_ops_manifest``)."""
        ops: dict[str, dict[str, Any]] = {}
        for name, op in self.ops.items():
            entry: dict[str, Any] = {}
            if op.step_timeout_seconds is not None:
                entry["timeout_seconds"] = op.step_timeout_seconds
            imported = op.imported_queue
            if imported is not None and imported.startswith("arn:"):
                entry["queue_url"] = queue_url_from_arn(imported)
            elif imported is not None:
                entry["queue_name"] = imported
            ops[name] = entry
        return {"queue_prefix": self.queue_prefix, "ops": ops}

    def ops_manifest_json(self) -> str:
        return json.dumps(self.ops_manifest(), sort_keys=True, separators=(",", ":"))


def engine_environment(*, workflows_table: Any, results_queue_url: Any, queue_url_base: Any, ops_file: str,
                       execution_retention_days: int = config.DEFAULT_EXECUTION_RETENTION_DAYS,
                       blob_bucket: Any = None) -> dict[str, Any]:
    """The RUNFOX_* environment of the engine Lambdas, for the CDK stack and the local emulator alike.

    Its size does not grow with the ops. Values may be CDK tokens (the stack) or plain strings (the emulator).
    """
    environment = {
        config.ENV_WORKFLOWS_TABLE: workflows_table,
        config.ENV_RESULTS_QUEUE_URL: results_queue_url,
        config.ENV_QUEUE_URL_BASE: queue_url_base,
        config.ENV_OPS_FILE: ops_file,
        config.ENV_EXECUTION_RETENTION_DAYS: str(execution_retention_days),
    }
    if blob_bucket is not None:  # the values bucket (payloads by reference)
        environment[config.ENV_BLOB_BUCKET] = blob_bucket
    return environment


def executor_environment(*, results_queue_url: Any, blob_bucket: Any, router_function: Any,
                         environment: Mapping[str, str]) -> dict[str, Any]:
    """The RUNFOX_* environment of a kit executor plus its op's own ``environment``.

    The executor hands its results to the router by an asynchronous Invoke of ``router_function`` (a name)
    and sends what Invoke refuses to the results queue (``runfox_core.aws.answers``); values live in the
    values bucket. Values may be CDK tokens or plain strings.
    """
    return {
        config.ENV_RESULTS_QUEUE_URL: results_queue_url,
        config.ENV_ROUTER_FUNCTION: router_function,
        config.ENV_BLOB_BUCKET: blob_bucket,
        **environment,
    }
