"""test_stack_tables.py -- the two DynamoDB tables in the synthesized stack."""

from __future__ import annotations

from aws_cdk.assertions import Match, Template
from infra_testkit import CfnView

from runfox_core.aws import config

KEY_SCHEMA = [
    {"AttributeName": config.PARTITION_KEY, "KeyType": "HASH"},
    {"AttributeName": config.SORT_KEY, "KeyType": "RANGE"},
]
ATTRIBUTES = [
    {"AttributeName": config.PARTITION_KEY, "AttributeType": config.KEY_ATTRIBUTE_TYPE},
    {"AttributeName": config.SORT_KEY, "AttributeType": config.KEY_ATTRIBUTE_TYPE},
]


def test_the_stack_has_exactly_two_tables(template: Template) -> None:
    # Given the synthesized stack / Then it holds the workflows and tasks tables only
    template.resource_count_is("AWS::DynamoDB::Table", 2)


def test_both_tables_use_the_shared_key_schema_on_demand_billing_and_kms_encryption(cfn: CfnView) -> None:
    # Given each table named by the stack outputs
    for output in (config.OUTPUT_WORKFLOWS_TABLE, config.OUTPUT_TASKS_TABLE):
        table = cfn.props(cfn.output_ref(output))
        # Then its keys come from runfox_core.aws.config, billing is on demand, SSE is on (AWS-managed KMS)
        assert table["KeySchema"] == KEY_SCHEMA
        assert table["AttributeDefinitions"] == ATTRIBUTES
        assert table["BillingMode"] == "PAY_PER_REQUEST"
        assert table["SSESpecification"] == {"SSEEnabled": True}
        assert "SSEType" not in table["SSESpecification"] or table["SSESpecification"]["SSEType"] == "KMS"


def test_the_workflows_table_has_point_in_time_recovery_and_no_ttl(cfn: CfnView) -> None:
    # Given the workflows table (the long-term record)
    table = cfn.props(cfn.output_ref(config.OUTPUT_WORKFLOWS_TABLE))
    # Then it can be restored to any point and nothing expires
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert "TimeToLiveSpecification" not in table


def test_the_tasks_table_expires_items_by_ttl_on_expires_at(cfn: CfnView) -> None:
    # Given the tasks table (short-term runner state)
    table = cfn.props(cfn.output_ref(config.OUTPUT_TASKS_TABLE))
    # Then DynamoDB TTL deletes items by the shared TTL attribute
    assert table["TimeToLiveSpecification"] == {"AttributeName": config.TASKS_TTL_ATTRIBUTE, "Enabled": True}
    assert table["TimeToLiveSpecification"]["AttributeName"] == "expires_at"


def test_tables_are_retained_and_deletion_protected_by_default(template: Template) -> None:
    # Given the default removal policy (retain)
    # Then both tables survive stack deletion and refuse deletion outside CloudFormation
    tables = template.find_resources(
        "AWS::DynamoDB::Table",
        {
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": Match.object_like({"DeletionProtectionEnabled": True}),
        },
    )
    assert len(tables) == 2
