"""executor.py -- one op's executor Lambda, fed by the op's queue, answering on the results queue.

The function runs ``op.handler`` from the shared ``lambdas/`` asset with the
shared layer. Its SQS event source reports partial batch failures, so one bad
job is retried alone; after ``max_receive_count`` receives SQS moves it to the
op's DLQ, where the result router turns it into a failed attempt. The event
source grants consuming the op queue; we grant sending to the results queue.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.constructs.function import python_function, sqs_event_source
from runfox_core.aws import config
from runfox_core.aws.config import OpConfig


class Executor(Construct):
    """``function`` consuming ``queue`` for op ``op_name``."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        op_name: str,
        op: OpConfig,
        queue: sqs.IQueue,
        results_queue: sqs.IQueue,
        code: lambda_.Code,
        layer: lambda_.ILayerVersion,
        log_level: str,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, id)
        if op.handler is None:
            raise ValueError(f"op {op_name!r} has no handler; external workers get no Executor")
        self.function = python_function(
            self,
            "Function",
            handler=op.handler,
            code=code,
            layer=layer,
            memory_mb=op.memory_mb,
            timeout_seconds=op.timeout_seconds,
            environment={config.ENV_RESULTS_QUEUE_URL: results_queue.queue_url},
            log_level=log_level,
            removal_policy=removal_policy,
            description=f"runfox executor for op {op_name}",
        )
        self.function.add_event_source(sqs_event_source(queue, op))
        results_queue.grant_send_messages(self.function)
