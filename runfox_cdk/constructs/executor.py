"""executor.py -- one op's executor Lambda, fed by the op's queue, answering to the result router.

The function runs ``op.handler`` from the op's ``code`` folder with the shared
layer, the op's requirements layer (built by ``make layer``) and any layers it
names. Its role may: consume its own queue (the event source), invoke the
result-router function (``lambda:InvokeFunction`` on its ARN, no alias or
version: how it hands over its results, ``runfox_core.aws.answers``), send to
the results queue (what that Invoke refuses), read and write values in the
values bucket (``blobs.py``), read the op's ``secrets``, and whatever
``policy_statements`` say. Its environment is ``topology.executor_environment``
(the results queue URL, the router's name, the values bucket and the op's
``environment``); synth refuses one that would pass Lambda's 4 KB.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import ArnFormat, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from runfox_cdk.constructs.alarms import function_alarms
from runfox_cdk.constructs.blobs import BlobBucket
from runfox_cdk.constructs.function import powertools_environment, python_function, sqs_consumer
from runfox_core.aws.config import ConfigError
from runfox_deploy import facts
from runfox_deploy.executors import OpConfig
from runfox_deploy.topology import executor_environment

TOKEN_BYTES = 256  # bytes we budget for a value CloudFormation fills in at deploy (a queue URL)


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
        router: lambda_.IFunction,
        blobs: BlobBucket,
        code: lambda_.Code,
        layers: Sequence[lambda_.ILayerVersion],
        log_level: str,
        removal_policy: RemovalPolicy,
        topic: sns.ITopic,
    ) -> None:
        super().__init__(scope, id)
        if op.handler is None:
            raise ValueError(f"op {op_name!r} has no handler; external workers get no Executor")
        environment = executor_environment(results_queue_url=results_queue.queue_url,
                                           blob_bucket=blobs.bucket.bucket_name,
                                           router_function=router.function_name, environment=op.environment)
        check_environment_size(op_name, environment, log_level)
        self.function = python_function(
            self,
            "Function",
            handler=op.handler,
            code=code,
            layers=layers,
            memory_mb=op.memory_mb,
            timeout_seconds=op.lambda_timeout_seconds,
            environment=environment,
            log_level=log_level,
            removal_policy=removal_policy,
            description=f"runfox executor for op {op_name}",
            architecture=op.architecture,
            reserved_concurrency=op.reserved_concurrency,
        )
        sqs_consumer(self, "Source", self.function, queue, op)
        # exactly the router: its ARN alone (grant_invoke would add "<arn>:*", every version and alias)
        self.function.add_to_role_policy(iam.PolicyStatement(actions=["lambda:InvokeFunction"],
                                                             resources=[router.function_arn]))
        results_queue.grant(self.function, "sqs:SendMessage")
        blobs.grant(self.function)
        for secret in op.secrets:
            self.function.add_to_role_policy(_secret_statement(Stack.of(self), secret))
        for statement in op.policy_statements:
            self.function.add_to_role_policy(iam.PolicyStatement.from_json({"Effect": "Allow", **statement}))
        function_alarms(self, "Function", self.function, f"runfox executor {op_name}", topic)


def check_environment_size(op_name: str, environment: dict[str, str], log_level: str) -> None:
    """Refuse an environment Lambda would refuse (4 KB of keys and values), naming the op and field."""
    size = 0
    for key, value in {**powertools_environment(log_level), **environment}.items():
        size += len(key.encode()) + (TOKEN_BYTES if "${Token[" in str(value) else len(str(value).encode()))
    if size > facts.LAMBDA_ENVIRONMENT_MAX_BYTES:
        raise ConfigError(f"op {op_name!r}, field 'environment': the executor's variables take about {size} "
                          f"bytes; Lambda allows {facts.LAMBDA_ENVIRONMENT_MAX_BYTES}", op=op_name, field="environment")


def _secret_statement(stack: Stack, secret: str) -> iam.PolicyStatement:
    """Read access to one ``secretsmanager:<name|ARN>`` or ``ssm:<parameter name|ARN>``."""
    kind, _, name = secret.partition(":")
    if name.startswith("arn:"):
        arn = name
    elif kind == "secretsmanager":  # Secrets Manager appends a 6-character suffix to a secret's ARN
        arn = stack.format_arn(service="secretsmanager", resource="secret", resource_name=f"{name}-??????",
                               arn_format=ArnFormat.COLON_RESOURCE_NAME)
    else:
        arn = stack.format_arn(service="ssm", resource="parameter", resource_name=name.lstrip("/"),
                               arn_format=ArnFormat.SLASH_RESOURCE_NAME)
    action = "secretsmanager:GetSecretValue" if kind == "secretsmanager" else "ssm:GetParameter"
    return iam.PolicyStatement(actions=[action], resources=[arn])
