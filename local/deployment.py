"""deployment.py -- create what the CDK stack creates, on moto, from the same topology.

Renders ``runfox_deploy.topology.Topology`` (the one derivation of the
deployment, shared with ``runfox_cdk``) with local names:

- the workflows table (``runfox_core.aws.tables``: pk/sk, TTL);
- the results queue and its DLQ (redrive at ``results.max_receive_count``);
- per op: a queue ``rf-<op>`` and its DLQ (redrive at the op's
  ``max_receive_count``, visibility from ``OpConfig.queue_visibility_timeout_seconds``),
  or for an imported ``external_queue`` a plain queue of that name;
- the consumers of ``Topology.consumers()``: each op queue with a handler ->
  its executor; the results queue and every owned op DLQ -> result_router;
- the ops manifest the engine Lambdas read (written to a temp file) and their
  environment (``runfox_deploy.topology.engine_environment``);
- the result router's asynchronous invoke config (``router_function``:
  ``facts.ROUTER_EVENT_RETRY_ATTEMPTS`` retries, then the results queue as
  its on-failure destination), played by ``local.async_invoke``, and the
  executors' environment naming it (``topology.executor_environment``, with
  ``RUNFOX_ROUTER_FUNCTION``; an op's own ``environment`` is not applied).

Names are local only (the stack names op queues ``<stack>-<op>``). As synth
does, ``deploy`` checks every handler exists (``check_code``); an op's ``code``
folder (relative to the project root, or absolute) is put on the import path
after ``lambdas/``, as Lambda puts it on the function's.

Known limits: every executor shares one process, so two code folders with a
module of the same name shadow each other here (on AWS each function has its own).
"""

from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local.async_invoke import AsyncFunction
from local.blobs import BLOB_BUCKET
from local.lambda_runtime import function_name
from runfox_core.aws import config
from runfox_core.aws.tables import create_tables
from runfox_deploy import facts, topology
from runfox_deploy.executors import DEFAULT_CODE, ExecutorsConfig, check_code, code_folder
from runfox_deploy.topology import Topology, dlq_name

PREFIX = "runfox-local"
WORKFLOWS_TABLE = f"{PREFIX}-workflows"
RESULTS_QUEUE = f"{PREFIX}-results"
OP_QUEUE_PREFIX = "rf-"
PROJECT_ROOT = Path(__file__).resolve().parent.parent  # relative code folders resolve here, as in app.py
DLQ_RETENTION_SECONDS = facts.DLQ_RETENTION_DAYS * 86_400
ROUTER_FUNCTION = function_name(config.RESULT_ROUTER_HANDLER)  # the name lambda_runtime gives the router

__all__ = ["Consumer", "Deployment", "deploy", "dlq_name", "op_queue_name"]

_manifest_dir: Path | None = None


@dataclass(frozen=True)
class Consumer:
    """One event source mapping: ``handler`` is invoked with batches from ``queue_url``."""

    name: str  # the queue's name
    queue_url: str
    queue_arn: str
    handler: str  # module.function under lambdas/
    batch_size: int
    visibility_timeout_seconds: int
    memory_mb: int
    timeout_seconds: int


@dataclass(frozen=True)
class Deployment:
    """Names and URLs of everything created, and the engine Lambdas' environment."""

    queue_map: dict[str, str]  # dispatch token -> queue URL
    results_queue_url: str
    queues: dict[str, str]  # every queue: name -> URL
    consumers: tuple[Consumer, ...]
    environment: dict[str, str]  # the engine functions'
    roles: dict[str, str]  # topology role ("results", "op:<name>", "dlq:<name>", ...) -> queue name
    router_function: AsyncFunction  # the result router, as executors invoke it
    executor_environment: dict[str, str]  # an executor's RUNFOX_* variables (RUNFOX_ROUTER_FUNCTION...)


def op_queue_name(op: str) -> str:
    return f"{OP_QUEUE_PREFIX}{op}"


def deploy(executors: ExecutorsConfig, sqs: Any, dynamodb: Any) -> Deployment:
    """Create the tables and queues for ``executors``; return what the Lambdas and driver need."""
    plan = Topology(executors, OP_QUEUE_PREFIX)
    check_code(executors.ops, PROJECT_ROOT)
    for op in executors.ops.values():
        folder = str(code_folder(op, PROJECT_ROOT))
        if op.handler is not None and op.code != DEFAULT_CODE and folder not in sys.path:
            sys.path.append(folder)
    create_tables(dynamodb, WORKFLOWS_TABLE)
    queues: dict[str, str] = {}
    roles = {topology.RESULTS: RESULTS_QUEUE, topology.RESULTS_DLQ: dlq_name(RESULTS_QUEUE)}
    _queue_with_dlq(sqs, queues, RESULTS_QUEUE, facts.ROUTER_VISIBILITY_TIMEOUT_SECONDS,
                    executors.results.max_receive_count)
    queue_map: dict[str, str] = {}
    for op_name, op in executors.ops.items():
        if op.imported_queue is not None:  # someone else's queue: no DLQ, no consumer
            name = op.imported_queue.rsplit(":", 1)[-1]
            queues[name] = sqs.create_queue(QueueName=name)["QueueUrl"]
        else:
            name = plan.op_queue_name(op_name)
            _queue_with_dlq(sqs, queues, name, op.queue_visibility_timeout_seconds, op.max_receive_count)
            roles[f"dlq:{op_name}"] = dlq_name(name)
        roles[f"op:{op_name}"] = name
        queue_map[op_name] = queues[name]
    consumers = tuple(_consumer(sqs, queues, roles[c.role], c, executors) for c in plan.consumers())
    results_url = queues[RESULTS_QUEUE]
    manifest = _write_manifest(plan, queue_map, results_url)
    environment = topology.engine_environment(
        workflows_table=WORKFLOWS_TABLE, results_queue_url=results_url,
        queue_url_base=_url_base(results_url), ops_file=str(manifest))
    router = AsyncFunction(ROUTER_FUNCTION, config.RESULT_ROUTER_HANDLER, results_url,
                           facts.ROUTER_EVENT_RETRY_ATTEMPTS, facts.ENGINE_MEMORY_MB, facts.ENGINE_TIMEOUT_SECONDS)
    executor = topology.executor_environment(results_queue_url=results_url, blob_bucket=BLOB_BUCKET,
                                             router_function=router.name, environment={})
    return Deployment(queue_map, results_url, queues, consumers, environment, roles, router, executor)


def _consumer(sqs: Any, queues: dict[str, str], name: str, planned: topology.Consumer,
              executors: ExecutorsConfig) -> Consumer:
    if planned.handler == config.RESULT_ROUTER_HANDLER:
        visibility, memory, timeout = (facts.ROUTER_VISIBILITY_TIMEOUT_SECONDS, facts.ENGINE_MEMORY_MB,
                                       facts.ENGINE_TIMEOUT_SECONDS)
    else:
        op = executors.ops[planned.role.split(":", 1)[1]]
        visibility, memory, timeout = op.queue_visibility_timeout_seconds, op.memory_mb, op.lambda_timeout_seconds
    return Consumer(name, queues[name], _arn(sqs, queues[name]), planned.handler, planned.batch_size,
                    visibility, memory, timeout)


def _write_manifest(plan: Topology, queue_map: dict[str, str], results_url: str) -> Path:
    """The manifest the engine reads; imported queues point at the local queue of that name."""
    document = plan.ops_manifest()
    for op_name in plan.imported_ops():
        document["ops"][op_name].pop("queue_name", None)
        document["ops"][op_name]["queue_url"] = queue_map[op_name]
    global _manifest_dir
    if _manifest_dir is None:  # one folder per process, rewritten by each deploy (one LocalCloud at a time)
        _manifest_dir = Path(tempfile.mkdtemp(prefix="runfox-local-"))
    path = _manifest_dir / facts.OPS_MANIFEST_FILE
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def _url_base(url: str) -> str:
    return url.rsplit("/", 1)[0] + "/"


def _queue_with_dlq(sqs: Any, queues: dict[str, str], name: str, visibility: int, max_receive_count: int) -> None:
    dlq = dlq_name(name)
    queues[dlq] = sqs.create_queue(QueueName=dlq, Attributes={
        "MessageRetentionPeriod": str(DLQ_RETENTION_SECONDS),
        "VisibilityTimeout": str(facts.ROUTER_VISIBILITY_TIMEOUT_SECONDS),
    })["QueueUrl"]
    redrive = {"deadLetterTargetArn": _arn(sqs, queues[dlq]), "maxReceiveCount": max_receive_count}
    queues[name] = sqs.create_queue(QueueName=name, Attributes={
        "VisibilityTimeout": str(visibility),
        "RedrivePolicy": json.dumps(redrive),
    })["QueueUrl"]


def _arn(sqs: Any, url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
