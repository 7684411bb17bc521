"""function.py -- the one way a runfox Lambda is built and fed (engine functions and executors).

Every function: the pinned Python runtime (arm64 unless an op asks for
x86_64), the shared layer plus any extra layers, active X-Ray tracing, the
Powertools environment, its own log group with a fixed retention, and its own
role whose only log permission is writing to that group (no managed
``AWSLambdaBasicExecutionRole``, whose ``logs:CreateLogGroup`` on ``*`` no
function needs). ``sqs_consumer`` is the one event source mapping shape
(partial batch responses) with the four SQS actions the Lambda poller calls,
granted on the queue it reads. ``QueueDestination`` names a queue as a
function's on-failure destination without a grant of its own. Callers add
every other grant.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import jsii
from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from runfox_cdk import nag
from runfox_core.aws import config
from runfox_deploy import facts
from runfox_deploy.executors import OpConfig, ResultsConfig

RUNTIME: lambda_.Runtime = getattr(lambda_.Runtime, "PYTHON_" + facts.LAMBDA_PYTHON_VERSION.replace(".", "_"))
ARCHITECTURES = {"arm64": lambda_.Architecture.ARM_64, "x86_64": lambda_.Architecture.X86_64}
# CloudWatch Logs accepts only these retentions; facts.LOG_RETENTION_DAYS must be one of them.
_RETENTIONS = {
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    90: logs.RetentionDays.THREE_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
}
_RETENTION = _RETENTIONS[facts.LOG_RETENTION_DAYS]
#: What the Lambda SQS poller calls with the function's role (AWS: "Amazon SQS execution role permissions").
SQS_CONSUMER_ACTIONS = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility",
                        "sqs:GetQueueAttributes")


def powertools_environment(log_level: str) -> dict[str, str]:
    """The variables Powertools reads (service name, metrics namespace, log level)."""
    return {
        config.ENV_POWERTOOLS_SERVICE_NAME: config.SERVICE_NAME,
        config.ENV_POWERTOOLS_METRICS_NAMESPACE: config.METRICS_NAMESPACE,
        config.ENV_LOG_LEVEL: log_level,
    }


def python_function(
    scope: Construct,
    id: str,
    *,
    handler: str,
    code: lambda_.Code,
    layers: Sequence[lambda_.ILayerVersion],
    memory_mb: int,
    timeout_seconds: int,
    environment: Mapping[str, str],
    log_level: str,
    removal_policy: RemovalPolicy,
    description: str,
    architecture: str = facts.LAMBDA_ARCHITECTURE,
    reserved_concurrency: int | None = None,
) -> lambda_.Function:
    """A Lambda with the runfox defaults; ``environment`` is added to the Powertools variables."""
    log_group = logs.LogGroup(scope, f"{id}Logs", retention=_RETENTION, removal_policy=removal_policy)
    role = iam.Role(scope, f"{id}Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                    description=f"{description} (logs to its own group only)")
    log_group.grant_write(role)
    function = lambda_.Function(
        scope,
        id,
        runtime=RUNTIME,
        architecture=ARCHITECTURES[architecture],
        handler=handler,
        code=code,
        layers=list(layers),
        memory_size=memory_mb,
        timeout=Duration.seconds(timeout_seconds),
        tracing=lambda_.Tracing.ACTIVE,
        environment={**powertools_environment(log_level), **environment},
        log_group=log_group,
        role=role,
        reserved_concurrent_executions=reserved_concurrency,
        description=description,
    )
    nag.accept_function_findings(function)
    return function


def sqs_consumer(
    scope: Construct, id: str, function: lambda_.IFunction, queue: sqs.IQueue, consumer: OpConfig | ResultsConfig,
    *, grant: bool = True,
) -> lambda_.EventSourceMapping:
    """``function`` consumes ``queue`` with partial batch responses; ``grant`` adds the poller's four actions.

    The result router passes ``grant=False`` for op DLQs: one statement on the
    DLQ name pattern covers them all (``RunfoxEngine``), so its policy does not
    grow with the ops.
    """
    window = consumer.max_batching_window_seconds
    mapping = lambda_.EventSourceMapping(
        scope,
        id,
        target=function,
        event_source_arn=queue.queue_arn,
        batch_size=consumer.batch_size,
        max_batching_window=Duration.seconds(window) if window else None,
        max_concurrency=consumer.max_concurrency,
        report_batch_item_failures=True,
    )
    if grant:
        queue.grant(function, *SQS_CONSUMER_ACTIONS)
    return mapping


@jsii.implements(lambda_.IDestination)
class QueueDestination:
    """``queue`` as a Lambda destination (asynchronous invocations), granting nothing.

    ``aws_lambda_destinations.SqsDestination`` also grants ``sqs:GetQueueAttributes`` and
    ``sqs:GetQueueUrl``, which Lambda does not call: it sends a destination record with the function's
    role, so the role needs ``sqs:SendMessage`` on ``queue``, and the caller grants exactly that
    (the result router already sends to the results queue, its destination).
    """

    def __init__(self, queue: sqs.IQueue) -> None:
        self.queue = queue

    def bind(self, scope: Construct, fn: lambda_.IFunction, *,
             type: lambda_.DestinationType | None = None) -> lambda_.DestinationConfig:
        return lambda_.DestinationConfig(destination=self.queue.queue_arn)
