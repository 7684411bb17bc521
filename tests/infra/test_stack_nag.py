"""test_stack_nag.py -- cdk-nag (AwsSolutions) finds nothing unacknowledged, and every acknowledgement says why.

cdk-nag v3 runs as a CDK policy-validation plugin: an unacknowledged finding
(error or warning) fails synthesis and is written to validation-report.json.
The shared fixture synthesizes through ``infra.app.build_app``, which adds the
plugin, so reaching these tests at all means synthesis passed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Template
from infra_testkit import CfnView

from runfox_cdk import nag


def violations(report: dict[str, Any]) -> list[str]:
    return [
        f"{v['ruleName']} ({v['severity']}) at {c['constructPath']}"
        for plugin in report.get("pluginReports", [])
        for v in plugin.get("violations", [])
        for c in v.get("violatingConstructs", [])
    ]


def test_the_stack_has_no_unacknowledged_aws_solutions_findings(synthesized: tuple[Stack, Path]) -> None:
    # Given the stack synthesized with the AwsSolutions checks
    _, assembly_dir = synthesized
    # When the validation report is read
    report = json.loads((assembly_dir / "validation-report.json").read_text())
    # Then it lists no violation at all (neither errors nor warnings)
    assert violations(report) == []


def test_every_acknowledged_finding_carries_a_written_reason(cfn: CfnView) -> None:
    # Given the acknowledgements cdk-nag copies into each resource's metadata
    acknowledged = [
        (logical_id, rule)
        for logical_id, resource in cfn.resources.items()
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
    ]
    # Then there are some, each names an AwsSolutions rule and explains itself in a sentence or more
    assert acknowledged
    for logical_id, rule in acknowledged:
        assert rule["id"].startswith("AwsSolutions-"), logical_id
        assert len(rule["reason"]) >= 60, (logical_id, rule)


def test_only_the_expected_rules_are_acknowledged(cfn: CfnView) -> None:
    # Given every acknowledged rule id in the template
    rules = {
        rule["id"]
        for resource in cfn.resources.values()
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
    }
    # Then nothing beyond the reviewed list slipped in: the values bucket's grants name its two prefixes
    blob_grants = {r for r in rules if re.fullmatch(r"AwsSolutions-IAM5\[Resource::<[\w.]+>/(blobs|uploads)/\*\]", r)}
    assert {r.rsplit("/", 2)[-2] for r in blob_grants} == {"blobs", "uploads"}
    assert rules - blob_grants == {
        "AwsSolutions-S1",
        "AwsSolutions-SQS3",
        "AwsSolutions-L1",
        "AwsSolutions-IAM5[Resource::*]",
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:sqs:<AWS::Region>:<AWS::AccountId>:Runfox-*]",
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:sqs:<AWS::Region>:<AWS::AccountId>:Runfox-*-dlq]",
        # the buckets the test app lists in items_buckets (tests/infra/test_items_buckets.py)
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::team-data/*]",
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::lake/exports/*]",
    }


def test_the_checks_really_run_and_fail_synthesis_on_a_finding() -> None:
    # Given a stack with a queue that has no DLQ and accepts plain HTTP, under the same checks
    app = App()
    stack = Stack(app, "Careless")
    sqs.Queue(stack, "Plain", encryption=sqs.QueueEncryption.SQS_MANAGED)
    nag.add_checks(app)
    # When it is synthesized / Then synthesis fails naming the broken rules
    with pytest.raises(RuntimeError, match="ValidationFailed") as caught:
        Template.from_stack(stack)
    assert "AwsSolutions-SQS3" in str(caught.value)
    assert "AwsSolutions-SQS4" in str(caught.value)
