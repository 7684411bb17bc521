"""test_stack_queues.py -- op queues, the results queue, their DLQs and alarms."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Template
from infra_testkit import LEGACY_ARN, CfnView, render

from runfox_core.aws import config

OWNED_OPS = ["make_greeting", "shout", "gpu_embed"]  # ops whose queue the stack creates


def dlq_of(cfn: CfnView, queue_id: str) -> str:
    return cfn.props(queue_id)["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]


def queue_policy_statements(cfn: CfnView, queue_id: str) -> list[dict[str, Any]]:
    statements = []
    for policy in cfn.of_type("AWS::SQS::QueuePolicy").values():
        if {"Ref": queue_id} in policy["Properties"]["Queues"]:
            statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return statements


def test_every_owned_op_and_the_results_queue_get_a_queue_and_a_dlq(template: Template) -> None:
    # Given three owned ops plus results, each with a queue and a DLQ; the imported op adds none
    # Then there are eight queues, and no more
    template.resource_count_is("AWS::SQS::Queue", 2 * (len(OWNED_OPS) + 1))


@pytest.mark.parametrize(
    ("output", "max_receive_count", "visibility"),
    [
        (config.queue_output_key("make_greeting"), 3, 6 * 20),
        (config.queue_output_key("shout"), 3, 6 * 20),
        (config.queue_output_key("gpu_embed"), 2, 600),
        (config.OUTPUT_RESULTS_QUEUE_URL, 5, 6 * config.ENGINE_TIMEOUT_SECONDS),
    ],
)
def test_each_queue_redrives_to_its_dlq_after_max_receive_count(
    cfn: CfnView, output: str, max_receive_count: int, visibility: int
) -> None:
    # Given a queue named by a stack output
    queue_id = cfn.output_ref(output)
    queue = cfn.props(queue_id)
    # Then it redrives to its own DLQ after the configured receives
    assert queue["RedrivePolicy"]["maxReceiveCount"] == max_receive_count
    dlq = cfn.props(dlq_of(cfn, queue_id))
    assert "RedrivePolicy" not in dlq
    # And it hides a received message for 6 x its consumer's timeout (or as configured)
    assert queue["VisibilityTimeout"] == visibility
    # And the DLQ keeps messages for 14 days and outlasts a router run
    assert dlq["MessageRetentionPeriod"] == config.DLQ_RETENTION_DAYS * 24 * 3600
    assert dlq["VisibilityTimeout"] >= config.ENGINE_TIMEOUT_SECONDS


def test_every_queue_is_encrypted_with_sqs_managed_keys(cfn: CfnView) -> None:
    # Given every queue in the stack / Then SSE-SQS is on
    for queue_id, queue in cfn.of_type("AWS::SQS::Queue").items():
        assert queue["Properties"].get("SqsManagedSseEnabled") is True, queue_id


def test_every_queue_denies_requests_without_tls(cfn: CfnView) -> None:
    # Given every queue in the stack
    for queue_id in cfn.of_type("AWS::SQS::Queue"):
        # Then a queue policy denies any request where aws:SecureTransport is false
        denials = [
            s
            for s in queue_policy_statements(cfn, queue_id)
            if s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
        ]
        assert denials, f"{queue_id} accepts plain HTTP"


def test_an_alarm_fires_when_any_dlq_holds_a_message(cfn: CfnView) -> None:
    # Given the DLQ of every owned op and of the results queue
    dlq_ids = {dlq_of(cfn, cfn.output_ref(config.queue_output_key(op))) for op in OWNED_OPS}
    dlq_ids.add(dlq_of(cfn, cfn.output_ref(config.OUTPUT_RESULTS_QUEUE_URL)))
    # Then each has exactly one alarm on ApproximateNumberOfMessagesVisible > 0
    watched = []
    for alarm in cfn.of_type("AWS::CloudWatch::Alarm").values():
        props = alarm["Properties"]
        assert props["Namespace"] == "AWS/SQS"
        assert props["MetricName"] == "ApproximateNumberOfMessagesVisible"
        assert props["ComparisonOperator"] == "GreaterThanThreshold"
        assert props["Threshold"] == 0
        assert props["TreatMissingData"] == "notBreaching"
        (dimension,) = props["Dimensions"]
        watched.append(dimension["Value"]["Fn::GetAtt"][0])
    assert sorted(watched) == sorted(dlq_ids)


def test_an_imported_queue_creates_nothing_but_is_still_dispatched_to(cfn: CfnView) -> None:
    # Given the "legacy" op naming an existing queue ARN
    url = cfn.outputs[config.queue_output_key("legacy")]["Value"]
    # Then its URL is derived from the ARN (no queue resource refers to it)
    assert render(url) == "https://sqs.eu-west-1.<AWS::URLSuffix>/123456789012/legacy-jobs"
    assert LEGACY_ARN.endswith(":123456789012:legacy-jobs")


def test_external_worker_ops_get_a_queue_but_no_function(cfn: CfnView) -> None:
    # Given the "gpu_embed" op run by an external worker
    queue_id = cfn.output_ref(config.queue_output_key("gpu_embed"))
    # Then no event source mapping consumes its queue (only its DLQ, by the router)
    consumers = [
        m
        for m in cfn.of_type("AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["EventSourceArn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    ]
    assert consumers == []
    # And no function describes itself as its executor
    descriptions = [f["Properties"].get("Description", "") for f in cfn.of_type("AWS::Lambda::Function").values()]
    assert not any("gpu_embed" in d or "legacy" in d for d in descriptions)
