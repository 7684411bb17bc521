"""engine.py -- RunfoxEngine: the whole runfox deployment as one construct you can compose.

Owns the two tables, the results queue (with DLQ and alarm), the shared layer,
the engine functions, and one queue per op, added with ``add_executor``. The
wiring lives here, in one place:

- start, advance and result_router read and write both tables and send to
  every op queue and to the results queue (the router also sends itself
  deadline and wake timers there);
- result_router consumes the results queue and every op DLQ this engine owns
  (a dead-lettered job becomes a failed attempt);
- each executor consumes its op queue and sends to the results queue.

The queue map (RUNFOX_QUEUE_MAP) and op defaults (RUNFOX_OP_DEFAULTS) are
computed lazily at synth, so ops added after construction are included.

Known limits: an imported queue (``external_queue: "<name or ARN>"``) brings
no DLQ we can watch; its worker, IAM and redrive are the owner's business, and
if it is encrypted with a customer KMS key the senders also need that key
(``key.grant_encrypt_decrypt(engine.start_function)`` and so on).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jsii
from aws_cdk import IStableStringProducer, Lazy, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.constructs.engine_functions import EngineFunctions
from infra.constructs.executor import Executor
from infra.constructs.function import sqs_event_source
from infra.constructs.op_queues import OpQueue
from infra.constructs.tables import Tables
from runfox_core.aws import config
from runfox_core.aws.config import ConfigError, OpConfig, ResultsConfig

# Every queue the router consumes must stay invisible for longer than a router run.


@dataclass(frozen=True)
class OpResources:
    """What ``add_executor`` made for one op."""

    queue: sqs.IQueue  # where jobs for the op are sent
    dlq: sqs.IQueue | None  # None for an imported queue
    op_queue: OpQueue | None  # queue + DLQ + alarm; None for an imported queue
    function: lambda_.Function | None  # the executor; None for an external worker


class RunfoxEngine(Construct):
    """Tables, queues and Lambdas of one runfox deployment; add ops with ``add_executor``."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        layer_dir: str | Path,
        lambdas_dir: str | Path,
        results: ResultsConfig | None = None,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
        task_ttl_seconds: int = config.DEFAULT_TASK_TTL_SECONDS,
        log_level: str = config.DEFAULT_LOG_LEVEL,
    ) -> None:
        super().__init__(scope, id)
        self._results_config = config.validate_results(results or ResultsConfig())
        self._removal_policy = removal_policy
        self._log_level = log_level
        self._ops: dict[str, tuple[OpConfig, OpResources]] = {}

        self.tables = Tables(self, "Tables", removal_policy=removal_policy)
        self.results = OpQueue(
            self,
            "Results",
            max_receive_count=self._results_config.max_receive_count,
            visibility_timeout_seconds=config.ROUTER_VISIBILITY_TIMEOUT_SECONDS,
            dlq_visibility_timeout_seconds=config.ROUTER_VISIBILITY_TIMEOUT_SECONDS,
            description="runfox results",
        )
        self.functions = EngineFunctions(
            self,
            "Functions",
            layer_dir=Path(layer_dir),
            lambdas_dir=Path(lambdas_dir),
            environment=config.engine_environment(
                self.tables.workflows.table_name,
                self.tables.tasks.table_name,
                self.results.queue.queue_url,
                _lazy(lambda: Stack.of(self).to_json_string(self.queue_map)),
                _lazy(lambda: json.dumps(config.op_defaults_document(self.op_configs))),
                task_ttl_seconds,
            ),
            log_level=log_level,
            removal_policy=removal_policy,
        )
        for function in self.functions.all:
            self.tables.workflows.grant_read_write_data(function)
            self.tables.tasks.grant_read_write_data(function)
            self.results.queue.grant_send_messages(function)
        self.result_router_function.add_event_source(sqs_event_source(self.results.queue, self._results_config))

    def add_executor(self, op_name: str, op: OpConfig) -> OpResources:
        """Add op ``op_name``: its queue (created or imported), DLQ and, with a handler, its Lambda.

        Raises ``ConfigError`` for an invalid op or a name already added.
        """
        config.validate_op(op_name, op)
        if op_name in self._ops:
            raise ConfigError(f"op {op_name!r} is already added to this engine", op=op_name, field="name")
        scope = Construct(self, f"Op-{op_name}")
        if op.imported_queue is not None:
            resources = OpResources(
                queue=_import_queue(scope, op.imported_queue), dlq=None, op_queue=None, function=None
            )
        else:
            op_queue = OpQueue(
                scope,
                "Queue",
                max_receive_count=op.max_receive_count,
                visibility_timeout_seconds=op.queue_visibility_timeout_seconds,
                dlq_visibility_timeout_seconds=config.ROUTER_VISIBILITY_TIMEOUT_SECONDS,
                description=f"runfox op {op_name}",
            )
            self.result_router_function.add_event_source(sqs_event_source(op_queue.dlq, self._results_config))
            executor = None
            if op.handler is not None:
                executor = Executor(
                    scope,
                    "Executor",
                    op_name=op_name,
                    op=op,
                    queue=op_queue.queue,
                    results_queue=self.results.queue,
                    code=self.functions.code,
                    layer=self.functions.layer,
                    log_level=self._log_level,
                    removal_policy=self._removal_policy,
                ).function
            resources = OpResources(queue=op_queue.queue, dlq=op_queue.dlq, op_queue=op_queue, function=executor)
        for function in self.functions.all:
            resources.queue.grant_send_messages(function)
        self._ops[op_name] = (op, resources)
        return resources

    # --- what users compose with ---------------------------------------------

    @property
    def workflows_table(self) -> dynamodb.Table:
        return self.tables.workflows

    @property
    def tasks_table(self) -> dynamodb.Table:
        return self.tables.tasks

    @property
    def results_queue(self) -> sqs.Queue:
        return self.results.queue

    @property
    def start_function(self) -> lambda_.Function:
        return self.functions.start

    @property
    def advance_function(self) -> lambda_.Function:
        return self.functions.advance

    @property
    def result_router_function(self) -> lambda_.Function:
        return self.functions.result_router

    @property
    def layer(self) -> lambda_.LayerVersion:
        return self.functions.layer

    @property
    def ops(self) -> dict[str, OpResources]:
        """Op name -> its resources, in the order added."""
        return {name: resources for name, (_, resources) in self._ops.items()}

    @property
    def op_configs(self) -> dict[str, OpConfig]:
        """Op name -> its config, in the order added."""
        return {name: op for name, (op, _) in self._ops.items()}

    @property
    def queue_map(self) -> dict[str, str]:
        """Dispatch token -> queue URL (CloudFormation tokens until deploy)."""
        return {name: resources.queue.queue_url for name, (_, resources) in self._ops.items()}


@jsii.implements(IStableStringProducer)
class _Producer:
    def __init__(self, build: Callable[[], str]) -> None:
        self._build = build

    def produce(self) -> str:  # called by CDK at synth (jsii needs a real method)
        return self._build()


def _lazy(produce: Callable[[], str]) -> str:
    """A string computed at synth, after every ``add_executor`` call."""
    return Lazy.string(_Producer(produce))


def _import_queue(scope: Construct, name_or_arn: str) -> sqs.IQueue:
    arn = (
        name_or_arn
        if name_or_arn.startswith("arn:")
        else Stack.of(scope).format_arn(service="sqs", resource=name_or_arn)
    )
    return sqs.Queue.from_queue_arn(scope, "ImportedQueue", arn)
