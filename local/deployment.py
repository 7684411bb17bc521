"""deployment.py -- create what the CDK stack creates, on moto, from the same executors config.

Derived, like ``infra/``, from ``ExecutorsConfig`` and the constants in
``runfox_core.aws.config`` (no second list of ops or sizes):

- the workflows and tasks tables (``runfox_core.aws.tables``: pk/sk, TTL);
- the results queue and its DLQ (redrive at ``results.max_receive_count``);
- per op: a queue and a DLQ (redrive at the op's ``max_receive_count``,
  visibility from ``OpConfig.queue_visibility_timeout_seconds``), or for an
  imported ``external_queue`` a plain queue of that name;
- the consumers the stack wires as event sources: each op queue with a
  handler -> its executor; the results queue and every owned op DLQ ->
  result_router (batching from ``results``).

Names are local only (the stack lets CloudFormation name things).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from runfox_core.aws import config
from runfox_core.aws.config import ExecutorsConfig
from runfox_core.aws.tables import create_tables

PREFIX = "runfox-local"
WORKFLOWS_TABLE = f"{PREFIX}-workflows"
TASKS_TABLE = f"{PREFIX}-tasks"
RESULTS_QUEUE = f"{PREFIX}-results"
# Mirrors infra.engine: queues the router consumes stay invisible for longer than a router run.
DLQ_RETENTION_SECONDS = config.DLQ_RETENTION_DAYS * 86_400


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
    environment: dict[str, str]


def op_queue_name(op: str) -> str:
    return f"rf-{op}"  # an op name is at most 64 characters; SQS allows 80


def dlq_name(queue: str) -> str:
    return f"{queue}-dlq"


def deploy(executors: ExecutorsConfig, sqs: Any, dynamodb: Any) -> Deployment:
    """Create the tables and queues for ``executors``; return what the Lambdas and driver need."""
    create_tables(dynamodb, WORKFLOWS_TABLE, TASKS_TABLE)
    queues: dict[str, str] = {}
    consumers: list[Consumer] = []
    results = executors.results

    def router(queue: str) -> Consumer:
        return Consumer(queue, queues[queue], _arn(sqs, queues[queue]), config.RESULT_ROUTER_HANDLER,
                        results.batch_size, config.ROUTER_VISIBILITY_TIMEOUT_SECONDS, config.ENGINE_MEMORY_MB,
                        config.ENGINE_TIMEOUT_SECONDS)

    _queue_with_dlq(sqs, queues, RESULTS_QUEUE, config.ROUTER_VISIBILITY_TIMEOUT_SECONDS, results.max_receive_count)
    consumers.append(router(RESULTS_QUEUE))
    queue_map: dict[str, str] = {}
    for op_name, op in executors.ops.items():
        if op.imported_queue is not None:  # someone else's queue: no DLQ, no consumer
            name = op.imported_queue.rsplit(":", 1)[-1]
            queues[name] = sqs.create_queue(QueueName=name)["QueueUrl"]
            queue_map[op_name] = queues[name]
            continue
        name = op_queue_name(op_name)
        _queue_with_dlq(sqs, queues, name, op.queue_visibility_timeout_seconds, op.max_receive_count)
        queue_map[op_name] = queues[name]
        if op.handler is not None:
            consumers.append(Consumer(name, queues[name], _arn(sqs, queues[name]), op.handler, op.batch_size,
                                      op.queue_visibility_timeout_seconds, op.memory_mb, op.timeout_seconds))
        consumers.append(router(dlq_name(name)))
    environment = config.engine_environment(WORKFLOWS_TABLE, TASKS_TABLE, queues[RESULTS_QUEUE], json.dumps(queue_map),
                                            json.dumps(config.op_defaults_document(executors.ops)))
    return Deployment(queue_map, queues[RESULTS_QUEUE], queues, tuple(consumers), environment)


def _queue_with_dlq(sqs: Any, queues: dict[str, str], name: str, visibility: int, max_receive_count: int) -> None:
    dlq = dlq_name(name)
    queues[dlq] = sqs.create_queue(QueueName=dlq, Attributes={
        "MessageRetentionPeriod": str(DLQ_RETENTION_SECONDS),
        "VisibilityTimeout": str(config.ROUTER_VISIBILITY_TIMEOUT_SECONDS),
    })["QueueUrl"]
    redrive = {"deadLetterTargetArn": _arn(sqs, queues[dlq]), "maxReceiveCount": max_receive_count}
    queues[name] = sqs.create_queue(QueueName=name, Attributes={
        "VisibilityTimeout": str(visibility),
        "RedrivePolicy": json.dumps(redrive),
    })["QueueUrl"]


def _arn(sqs: Any, url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
