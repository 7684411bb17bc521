"""The buckets map steps read items from (``items_from``): GetObject for the three engine functions, nothing more."""

from __future__ import annotations

from typing import Any

import pytest
from infra_testkit import ITEMS_BUCKETS, CfnView, actions, render

from runfox_cdk.constructs.items_buckets import object_patterns
from runfox_core.aws import config
from runfox_core.aws.config import ConfigError

ITEMS_ARNS = {"arn:<AWS::Partition>:s3:::team-data/*", "arn:<AWS::Partition>:s3:::lake/exports/*"}


def items_grants(templates: dict[str, CfnView]) -> dict[str, list[tuple[list[str], set[str]]]]:
    """Role -> the (actions, resources) of each statement naming a bucket outside the stack."""
    found: dict[str, list[tuple[list[str], set[str]]]] = {}
    for view in templates.values():
        for policy in view.of_type("AWS::IAM::Policy").values():
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
                named = {render(r) for r in resources if render(r).startswith("arn:<AWS::Partition>:s3:::")}
                if named:
                    for role in policy["Properties"]["Roles"]:
                        found.setdefault(role["Ref"], []).append((actions(statement), named))
    return found


def test_the_engine_functions_may_get_objects_of_the_listed_buckets_and_prefixes_only(
        templates: dict[str, CfnView], cfn: CfnView) -> None:
    # Given the test app, built with items_buckets = team-data (whole) and lake/exports/ (a prefix)
    grants = items_grants(templates)
    engine_roles = {cfn.function_by_handler(h)["Role"]["Fn::GetAtt"][0]
                    for h in (config.START_HANDLER, config.ADVANCE_HANDLER, config.RESULT_ROUTER_HANDLER)}
    # Then exactly the three engine roles hold the grant: GetObject, on those objects and nothing else
    assert set(grants) == engine_roles
    for statements in grants.values():
        assert statements == [(["s3:GetObject"], ITEMS_ARNS)]


@pytest.mark.parametrize(("entries", "message"), [
    ("team-data", "must be a list of bucket names, got the string 'team-data'"),
    (["Team_Data"], "'Team_Data' is not a bucket name"),
    (["team-data/*"], "'team-data/\\*' is not a bucket name, optionally with a key prefix"),
    (["ab"], "'ab' is not a bucket name"),
])
def test_a_bad_items_bucket_is_refused_naming_the_field(entries: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        object_patterns(entries)
    assert caught.value.field == "items_buckets"


def test_each_entry_becomes_its_object_pattern() -> None:
    assert object_patterns(ITEMS_BUCKETS) == ["team-data/*", "lake/exports/*"]
    assert object_patterns([]) == []


def test_the_context_value_is_a_list_or_names_separated_by_commas() -> None:
    from runfox_cdk.app import context_names

    # Given runfox:itemsBuckets from cdk.json (a list) or the CLI (-c key=a,b), then both give the names
    assert context_names(["team-data", "lake/exports/"]) == ["team-data", "lake/exports/"]
    assert context_names("team-data, lake/exports/") == ["team-data", "lake/exports/"]
    assert context_names(None) == context_names("") == []
    with pytest.raises(ConfigError, match="runfox:itemsBuckets must be a list of bucket names, got 3"):
        context_names(3)
