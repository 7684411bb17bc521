"""engine.py -- RunfoxEngine: the whole runfox deployment as one construct you can compose.

Owns the workflows table, the results queue (with DLQ and alarms), the shared
layer, the engine functions, the alarm topic and dashboard, and every op of
the executors config, rendered from ``runfox_deploy.topology.Topology``:

- start, advance and result_router read and write the workflows table (the
  actions in ``TABLE_ACTIONS``; there is no tasks table: the engine's
  ``SQSRunner`` writes no audit rows), send to every op queue (one statement on the op queue
  name pattern) and to the results queue (the router also sends itself
  deadline and wake timers there);
- the three may GetObject in the buckets listed in ``items_buckets``, where
  map steps read their items (``constructs/items_buckets.py``);
- result_router consumes the results queue and every op DLQ (one statement on
  the DLQ name pattern; a dead-lettered job becomes a failed attempt), and is
  invoked asynchronously by the executors with their results (answers events,
  ``runfox_core.aws.answers``): Lambda retries a failed event
  ``facts.ROUTER_EVENT_RETRY_ATTEMPTS`` times, keeps one at most
  ``facts.ROUTER_EVENT_MAX_AGE_SECONDS``, then sends it to the results queue,
  its on-failure destination (with the router's role, which sends there anyway);
- each executor consumes its op queue, invokes the result router (its name in
  ``RUNFOX_ROUTER_FUNCTION``, ``lambda:InvokeFunction`` on its ARN alone) and
  sends to the results queue what that Invoke refuses;
- the ops live in nested stacks of ``facts.OPS_PER_STACK`` (``OpsStack``).

Nothing in the engine functions' environment or policies grows with the ops:
the op list travels in the ops manifest inside their code (see
``constructs/engine_functions.py``). That is why every op must be known when
the engine is built (``executors``): there is no ``add_executor`` after.

Known limits: an imported queue (``external_queue: "<name or ARN>"``) brings
no DLQ we can watch; its worker, IAM and redrive are the owner's business, and
if it is encrypted with a customer KMS key the senders also need that key.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from runfox_cdk import nag
from runfox_cdk.constructs.alarms import function_alarms
from runfox_cdk.constructs.blobs import BlobBucket
from runfox_cdk.constructs.engine_functions import EngineFunctions, runfox_layer
from runfox_cdk.constructs.function import SQS_CONSUMER_ACTIONS, QueueDestination, sqs_consumer
from runfox_cdk.constructs.items_buckets import grant_items_buckets, object_patterns
from runfox_cdk.constructs.monitoring import Monitoring
from runfox_cdk.constructs.op import Op, OpParts
from runfox_cdk.constructs.op_queues import OpQueue
from runfox_cdk.constructs.ops_stack import OpsStack
from runfox_cdk.constructs.tables import Tables
from runfox_core.aws import config
from runfox_deploy import facts, topology
from runfox_deploy.executors import ExecutorsConfig, check_code, validate_op, validate_results
from runfox_deploy.topology import Topology

#: What the engine functions call on the workflows table (tests/infra/test_iam.py proves each against the
#: recorded calls). TransactWriteItems is authorised item by item (its Puts and Updates); TransactGetItems as
#: GetItem; BatchWriteItem deletes a large commit's journal once it is applied (``dynamodb_store.py``).
TABLE_ACTIONS = {
    "workflows": ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:PutItem",
                  "dynamodb:UpdateItem", "dynamodb:BatchWriteItem"),
}


class RunfoxEngine(Construct):
    """Tables, queues, Lambdas, alarms and dashboard of one runfox deployment, with every op of ``executors``."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        executors: ExecutorsConfig,
        layer_dir: str | Path,
        lambdas_dir: str | Path,
        project_root: str | Path | None = None,
        queue_prefix: str | None = None,
        requirements_dir: str | Path | None = None,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
        execution_retention_days: int = config.DEFAULT_EXECUTION_RETENTION_DAYS,
        alarm_email: str | None = None,
        log_level: str = config.DEFAULT_LOG_LEVEL,
        items_buckets: Sequence[str] = (),
    ) -> None:
        """``items_buckets``: buckets (``name``, or ``name/prefix/``) map steps may read their items from
        (``items_from``); the engine functions get GetObject on their objects and nothing else."""
        super().__init__(scope, id)
        items_patterns = object_patterns(items_buckets)  # a bad entry fails before anything is built
        results = validate_results(executors.results)
        for name, op in executors.ops.items():
            validate_op(name, op)
        root = Path(project_root) if project_root is not None else Path.cwd()
        check_code(executors.ops, root)
        if execution_retention_days < 1:
            raise config.ConfigError(f"execution_retention_days must be >= 1, got {execution_retention_days!r}",
                                     field="execution_retention_days")
        stack = Stack.of(self)
        self.topology = Topology(executors, queue_prefix or topology.default_queue_prefix(stack.stack_name))

        self.alarm_topic = sns.Topic(self, "Alarms", display_name="runfox alarms", enforce_ssl=True)
        if alarm_email:
            self.alarm_topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
        self.tables = Tables(self, "Tables", removal_policy=removal_policy)
        self.blobs = BlobBucket(self, "Values", execution_retention_days=execution_retention_days,
                                removal_policy=removal_policy)
        self.results = OpQueue(
            self,
            "Results",
            max_receive_count=results.max_receive_count,
            visibility_timeout_seconds=facts.ROUTER_VISIBILITY_TIMEOUT_SECONDS,
            dlq_visibility_timeout_seconds=facts.ROUTER_VISIBILITY_TIMEOUT_SECONDS,
            description="runfox results",
            removal_policy=removal_policy,
            topic=self.alarm_topic,
        )
        url_base = f"https://sqs.{stack.region}.{stack.url_suffix}/{stack.account}/"
        self.functions = EngineFunctions(
            self,
            "Functions",
            layer_dir=Path(layer_dir),
            lambdas_dir=Path(lambdas_dir),
            manifest_json=self.topology.ops_manifest_json(),
            environment=topology.engine_environment(
                workflows_table=self.tables.workflows.table_name,
                results_queue_url=self.results.queue.queue_url,
                queue_url_base=url_base,
                ops_file=facts.OPS_MANIFEST_FILE,
                execution_retention_days=execution_retention_days,
                blob_bucket=self.blobs.bucket.bucket_name,
            ),
            log_level=log_level,
            removal_policy=removal_policy,
        )
        self._grant_engine(stack)
        grant_items_buckets(self.functions.all, items_buckets)
        self.items_buckets = items_patterns  # bucket/prefix* each engine function may read
        sqs_consumer(self, "ResultsToRouter", self.result_router_function, self.results.queue, results)
        # the executors' answers events: what the router fails to apply lands on the results queue
        self.result_router_function.configure_async_invoke(
            retry_attempts=facts.ROUTER_EVENT_RETRY_ATTEMPTS,
            max_event_age=Duration.seconds(facts.ROUTER_EVENT_MAX_AGE_SECONDS),
            on_failure=QueueDestination(self.results.queue),
        )
        for function_id, function in (("Start", self.start_function), ("Advance", self.advance_function),
                                      ("ResultRouter", self.result_router_function)):
            function_alarms(self, function_id, function, f"runfox {function_id}", self.alarm_topic)

        layers: dict[str, lambda_.ILayerVersion] = {facts.LAMBDA_ARCHITECTURE: self.layer}
        if any(op.handler and op.architecture == "x86_64" for op in executors.ops.values()):
            layers["x86_64"] = runfox_layer(self, "LayerX86", Path(f"{layer_dir}-x86_64"), "x86_64")
        parts = OpParts(
            topology=self.topology, results_queue=self.results.queue, results_config=results,
            router=self.result_router_function, topic=self.alarm_topic, layers=layers, project_root=root,
            requirements_dir=Path(requirements_dir) if requirements_dir else root / facts.REQUIREMENTS_DIR,
            removal_policy=removal_policy, log_level=log_level, blobs=self.blobs,
        )
        self.op_stacks = [
            OpsStack(self, f"Ops{i + 1}", ops={name: executors.ops[name] for name in names},
                     parts=dataclasses.replace(parts, _codes={}, _requirement_layers={}))
            for i, names in enumerate(self.topology.op_stacks())
        ]
        self.monitoring = Monitoring(self, "Monitoring", engine=self)

    def _grant_engine(self, stack: Stack) -> None:
        op_queues = stack.format_arn(service="sqs", resource=self.topology.op_queue_arn_pattern())
        imported = [op.imported_queue if op.imported_queue.startswith("arn:")
                    else stack.format_arn(service="sqs", resource=op.imported_queue)
                    for op in self.topology.imported_ops().values() if op.imported_queue]
        for function in self.functions.all:
            function.add_to_role_policy(iam.PolicyStatement(
                actions=list(TABLE_ACTIONS["workflows"]), resources=[self.tables.workflows.table_arn]))
            function.add_to_role_policy(iam.PolicyStatement(
                actions=["sqs:SendMessage"], resources=[self.results.queue.queue_arn, op_queues, *imported]))
        # {"action": "list"} reads the listing indexes (config.LIST_INDEXES): only the advance Lambda lists
        self.functions.advance.add_to_role_policy(iam.PolicyStatement(
            actions=["dynamodb:Query"],
            resources=[f"{self.tables.workflows.table_arn}/index/{index}" for index in config.LIST_INDEXES]))
        self.result_router_function.add_to_role_policy(iam.PolicyStatement(
            actions=list(SQS_CONSUMER_ACTIONS),
            resources=[stack.format_arn(service="sqs", resource=self.topology.op_dlq_arn_pattern())]))
        for function in self.functions.all:
            nag.accept_queue_name_patterns(function, self.topology)
            self.blobs.grant(function, uploads=function is self.start_function)

    # --- what users compose with ---------------------------------------------

    @property
    def ops(self) -> dict[str, Op]:
        """Op name -> its ``Op`` (queue, dlq, function), in config order."""
        return {name: op for ops_stack in self.op_stacks for name, op in ops_stack.ops.items()}

    @property
    def workflows_table(self) -> dynamodb.Table:
        return self.tables.workflows

    @property
    def blob_bucket(self) -> s3.Bucket:
        """The values bucket: inputs and outputs too large to travel inline."""
        return self.blobs.bucket

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
    def queue_url_prefix(self) -> str:
        """An owned op's queue URL is this + the op name."""
        stack = Stack.of(self)
        return f"https://sqs.{stack.region}.{stack.url_suffix}/{stack.account}/{self.topology.queue_prefix}"
