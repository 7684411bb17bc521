"""tables.py -- the two DynamoDB tables: workflows (long-term record) and tasks (short-term).

Both use the key schema of ``runfox_core.aws.config`` (``pk``/``sk`` strings),
on-demand billing and AWS-managed KMS encryption, and both expire items by TTL
on ``expires_at`` (``config.TTL_ATTRIBUTE``): task items a while after they
are written, an execution's items the retention period after it ends. Only
the workflows table has point-in-time recovery. A RETAIN removal policy also
turns deletion protection on, so a retained table cannot be deleted by
accident outside CloudFormation.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from runfox_cdk import nag
from runfox_core.aws import config


class Tables(Construct):
    """``workflows`` and ``tasks``."""

    def __init__(self, scope: Construct, id: str, *, removal_policy: RemovalPolicy) -> None:
        super().__init__(scope, id)
        self.workflows = _table(self, "Workflows", removal_policy, point_in_time_recovery=True)
        self.tasks = _table(self, "Tasks", removal_policy, point_in_time_recovery=False)
        nag.accept_no_point_in_time_recovery(self.tasks)


def _table(scope: Construct, id: str, removal_policy: RemovalPolicy, *, point_in_time_recovery: bool) -> dynamodb.Table:
    return dynamodb.Table(
        scope,
        id,
        partition_key=dynamodb.Attribute(name=config.PARTITION_KEY, type=dynamodb.AttributeType.STRING),
        sort_key=dynamodb.Attribute(name=config.SORT_KEY, type=dynamodb.AttributeType.STRING),
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        encryption=dynamodb.TableEncryption.AWS_MANAGED,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=point_in_time_recovery
        ),
        time_to_live_attribute=config.TTL_ATTRIBUTE,
        removal_policy=removal_policy,
        deletion_protection=removal_policy == RemovalPolicy.RETAIN,
    )
