"""The listing indexes: the deployed table and the emulator's are built from one definition; advance may query them."""

from __future__ import annotations

import json

import boto3
from infra_testkit import CfnView
from moto import mock_aws

from runfox_core.aws import config
from runfox_core.aws.tables import create_tables


def indexes_of(props: dict) -> dict[str, tuple]:
    return {i["IndexName"]: (tuple((k["AttributeName"], k["KeyType"]) for k in i["KeySchema"]),
                             i["Projection"]["ProjectionType"], tuple(sorted(i["Projection"]["NonKeyAttributes"])))
            for i in props["GlobalSecondaryIndexes"]}


def expected() -> dict[str, tuple]:
    return {name: (((hash_key, "HASH"), (range_key, "RANGE")), "INCLUDE", tuple(sorted(projected)))
            for name, (hash_key, range_key, projected) in config.LIST_INDEXES.items()}


def test_the_deployed_table_has_the_listing_indexes_of_the_config(templates: dict[str, CfnView]) -> None:
    (props,) = [t["Properties"] for view in templates.values()
                for t in view.of_type("AWS::DynamoDB::Table").values()]
    assert indexes_of(props) == expected()
    types = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}
    assert types == {"pk": "S", "sk": "S", "status": "S", "started": "S", "listed": "S", "name": "S"}


def test_the_emulators_table_has_the_same_indexes() -> None:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_tables(client, "workflows")
        assert indexes_of(client.describe_table(TableName="workflows")["Table"]) == expected()


def test_the_engine_functions_may_query_the_indexes(templates: dict[str, CfnView]) -> None:
    # the advance Lambda answers {"action": "list"} from them: it may Query each, by name
    policies = json.dumps([p for view in templates.values() for p in view.of_type("AWS::IAM::Policy").values()])
    assert all(f"/index/{name}" in policies for name in config.LIST_INDEXES)
