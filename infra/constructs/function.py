"""function.py -- the one way a runfox Lambda is built and fed (engine functions and executors).

Every function: the pinned Python runtime on arm64, the shared layer (runfox_core,
Powertools and their dependencies), active X-Ray tracing, the Powertools
environment, and its own log group with a fixed retention. Every SQS event
source reports partial batch failures. Callers add grants; nothing here grants
anything (an SQS event source grants consuming its queue when bound).
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import nag
from runfox_core.aws import config

RUNTIME: lambda_.Runtime = getattr(lambda_.Runtime, "PYTHON_" + config.LAMBDA_PYTHON_VERSION.replace(".", "_"))
ARCHITECTURE = lambda_.Architecture.ARM_64
# CloudWatch Logs accepts only these retentions; config.LOG_RETENTION_DAYS must be one of them.
_RETENTIONS = {
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    90: logs.RetentionDays.THREE_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
}
_RETENTION = _RETENTIONS[config.LOG_RETENTION_DAYS]


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
    layer: lambda_.ILayerVersion,
    memory_mb: int,
    timeout_seconds: int,
    environment: Mapping[str, str],
    log_level: str,
    removal_policy: RemovalPolicy,
    description: str,
) -> lambda_.Function:
    """A Lambda with the runfox defaults; ``environment`` is added to the Powertools variables."""
    log_group = logs.LogGroup(scope, f"{id}Logs", retention=_RETENTION, removal_policy=removal_policy)
    function = lambda_.Function(
        scope,
        id,
        runtime=RUNTIME,
        architecture=ARCHITECTURE,
        handler=handler,
        code=code,
        layers=[layer],
        memory_size=memory_mb,
        timeout=Duration.seconds(timeout_seconds),
        tracing=lambda_.Tracing.ACTIVE,
        environment={**powertools_environment(log_level), **environment},
        log_group=log_group,
        description=description,
    )
    nag.accept_function_findings(function)
    return function


def sqs_event_source(
    queue: sqs.IQueue, consumer: config.OpConfig | config.ResultsConfig
) -> event_sources.SqsEventSource:
    """An SQS event source with partial batch failure reporting and the consumer's batching."""
    window = consumer.max_batching_window_seconds
    return event_sources.SqsEventSource(
        queue,
        batch_size=consumer.batch_size,
        max_batching_window=Duration.seconds(window) if window else None,
        max_concurrency=consumer.max_concurrency,
        report_batch_item_failures=True,
    )
