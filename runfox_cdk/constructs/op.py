"""op.py -- everything one op adds: its queue and DLQ (or an imported queue), its executor, its alarms.

``OpParts`` is what every op of an engine shares (the results queue, the
router, the alarm topic, the layers, the code assets of each folder); one
``OpParts`` is made per stack that holds ops, because a code asset or a
layer from a requirements folder belongs to one stack. The router consumes
the op's DLQ through a mapping made here, without a grant: the engine grants
the router every op DLQ at once, by name pattern. An op's executor invokes
the router (``Executor``); an imported queue's op gets no executor, so
neither the router's name nor a grant to invoke it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from runfox_cdk.constructs.blobs import BlobBucket
from runfox_cdk.constructs.executor import Executor
from runfox_cdk.constructs.function import ARCHITECTURES, RUNTIME, sqs_consumer
from runfox_cdk.constructs.op_queues import OpQueue
from runfox_core.aws.config import ConfigError
from runfox_deploy import facts
from runfox_deploy.executors import OpConfig, ResultsConfig, code_folder
from runfox_deploy.layers import requirements_folder
from runfox_deploy.topology import Topology

# Bytecode caches left by local runs would change the asset hash (and redeploy) for nothing.
NOT_CODE = ["**/__pycache__", "**/*.pyc"]


@dataclass
class OpParts:
    """What the ops of one stack share."""

    topology: Topology
    results_queue: sqs.IQueue
    results_config: ResultsConfig
    router: lambda_.IFunction
    topic: sns.ITopic
    layers: dict[str, lambda_.ILayerVersion]  # architecture -> the shared runfox layer
    project_root: Path
    requirements_dir: Path
    removal_policy: RemovalPolicy
    log_level: str
    blobs: BlobBucket  # the values bucket: every owned executor reads and writes it
    _codes: dict[Path, lambda_.Code] = field(default_factory=dict)
    _requirement_layers: dict[Path, lambda_.ILayerVersion] = field(default_factory=dict)

    def code(self, op: OpConfig) -> lambda_.Code:
        folder = code_folder(op, self.project_root)
        if folder not in self._codes:
            self._codes[folder] = lambda_.Code.from_asset(str(folder), exclude=NOT_CODE)
        return self._codes[folder]

    def requirements_layer(self, scope: Construct, op_name: str, op: OpConfig) -> lambda_.ILayerVersion:
        folder = requirements_folder(self.requirements_dir, op)
        if not (folder / "python").is_dir():
            raise ConfigError(f"op {op_name!r}, field 'requirements': {folder}/python is missing: run `make layer`",
                              op=op_name, field="requirements")
        if folder not in self._requirement_layers:
            self._requirement_layers[folder] = lambda_.LayerVersion(
                Stack.of(scope), f"Requirements{folder.name}",
                code=lambda_.Code.from_asset(str(folder), exclude=NOT_CODE),
                compatible_runtimes=[RUNTIME], compatible_architectures=[ARCHITECTURES[op.architecture]],
                description=f"runfox executor requirements {folder.name}",
            )
        return self._requirement_layers[folder]


class Op(Construct):
    """Op ``op_name``: ``queue`` (where jobs go), ``dlq`` and ``function`` (None when not ours)."""

    def __init__(self, scope: Construct, id: str, *, op_name: str, op: OpConfig, parts: OpParts) -> None:
        super().__init__(scope, id)
        self.op_name = op_name
        self.dlq: sqs.IQueue | None = None
        self.op_queue: OpQueue | None = None
        self.function: lambda_.Function | None = None
        if op.imported_queue is not None:
            arn = op.imported_queue if op.imported_queue.startswith("arn:") else Stack.of(self).format_arn(
                service="sqs", resource=op.imported_queue)
            self.queue: sqs.IQueue = sqs.Queue.from_queue_arn(self, "ImportedQueue", arn)
            return
        self.op_queue = OpQueue(
            self,
            "Queue",
            name=parts.topology.op_queue_name(op_name),
            max_receive_count=op.max_receive_count,
            visibility_timeout_seconds=op.queue_visibility_timeout_seconds,
            dlq_visibility_timeout_seconds=facts.ROUTER_VISIBILITY_TIMEOUT_SECONDS,
            description=f"runfox op {op_name}",
            removal_policy=parts.removal_policy,
            topic=parts.topic,
        )
        self.queue, self.dlq = self.op_queue.queue, self.op_queue.dlq
        sqs_consumer(self, "DlqToRouter", parts.router, self.op_queue.dlq, parts.results_config, grant=False)
        if op.handler is None:
            return
        layers = [parts.layers[op.architecture]]
        if op.requirements:
            layers.append(parts.requirements_layer(self, op_name, op))
        layers += [lambda_.LayerVersion.from_layer_version_arn(self, f"Layer{i}", arn)
                   for i, arn in enumerate(op.layers)]
        self.function = Executor(
            self,
            "Executor",
            op_name=op_name,
            op=op,
            queue=self.op_queue.queue,
            results_queue=parts.results_queue,
            router=parts.router,
            blobs=parts.blobs,
            code=parts.code(op),
            layers=layers,
            log_level=parts.log_level,
            removal_policy=parts.removal_policy,
            topic=parts.topic,
        ).function
