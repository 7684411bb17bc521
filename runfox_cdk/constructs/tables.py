"""tables.py -- the workflows table: every execution's long-term record.

Uses the key schema of ``runfox_core.aws.config`` (``pk``/``sk`` strings),
on-demand billing, AWS-managed KMS encryption and point-in-time recovery, and
expires items by TTL on ``expires_at`` (``config.TTL_ATTRIBUTE``): an
execution's items the retention period after it ends. A RETAIN removal policy
also turns deletion protection on, so a retained table cannot be deleted by
accident outside CloudFormation. Three global secondary indexes list
executions (``config.LIST_INDEXES``), built the same by ``runfox_core.aws.tables``
for the local emulator.

There is no tasks table: the engine dispatches without writing a row per job
(``SQSRunner``'s audit table is optional and the deployment passes none).
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from runfox_core.aws import config


class Tables(Construct):
    """``workflows``."""

    def __init__(self, scope: Construct, id: str, *, removal_policy: RemovalPolicy) -> None:
        super().__init__(scope, id)
        self.workflows = dynamodb.Table(
            self,
            "Workflows",
            partition_key=dynamodb.Attribute(name=config.PARTITION_KEY, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=config.SORT_KEY, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=config.TTL_ATTRIBUTE,
            removal_policy=removal_policy,
            deletion_protection=removal_policy == RemovalPolicy.RETAIN,
        )
        # The listing indexes (``runfox_core.aws.config.LIST_INDEXES``; ``runfox list``): each
        # indexes only header items, and a commit writes to one only when the status changes.
        for index, (hash_key, range_key, projected) in config.LIST_INDEXES.items():
            self.workflows.add_global_secondary_index(
                index_name=index,
                partition_key=dynamodb.Attribute(name=hash_key, type=dynamodb.AttributeType.STRING),
                sort_key=dynamodb.Attribute(name=range_key, type=dynamodb.AttributeType.STRING),
                projection_type=dynamodb.ProjectionType.INCLUDE,
                non_key_attributes=list(projected),
            )
