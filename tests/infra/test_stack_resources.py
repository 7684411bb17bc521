"""test_stack_resources.py -- queues, event sources, tables, functions and outputs of the test app.

The test app (``infra_testkit.TEST_EXECUTORS``): two ops with handlers (one
batching above 10), an external worker with a queue we create, and an
imported queue. The engine is in the parent template, the ops in a nested one.
"""

from __future__ import annotations

from typing import Any

import pytest
from infra_testkit import CfnView

from runfox_core.aws import config
from runfox_deploy import facts

PARENT = "Runfox.template.json"


def all_of(templates: dict[str, CfnView], cfn_type: str) -> dict[str, dict[str, Any]]:
    return {k: r for view in templates.values() for k, r in view.of_type(cfn_type).items()}


def queue_named(templates: dict[str, CfnView], name: str) -> dict[str, Any]:
    (found,) = [q["Properties"] for q in all_of(templates, "AWS::SQS::Queue").values()
                if q["Properties"].get("QueueName") == name]
    return found


def test_three_owned_ops_and_the_results_get_a_queue_and_a_dlq_each(templates: dict[str, CfnView]) -> None:
    assert len(all_of(templates, "AWS::SQS::Queue")) == 2 * 4
    assert len(templates) == 2  # the parent and one nested stack of ops


@pytest.mark.parametrize(("op", "max_receive_count", "visibility"), [
    ("make_greeting", 3, 6 * 20), ("shout", 3, 6 * 20), ("gpu_embed", 2, 600)])
def test_each_op_queue_redrives_to_its_dlq_after_max_receive_count(
    templates: dict[str, CfnView], op: str, max_receive_count: int, visibility: int
) -> None:
    queue = queue_named(templates, f"Runfox-{op}")
    dlq = queue_named(templates, f"Runfox-{op}-dlq")
    assert queue["RedrivePolicy"]["maxReceiveCount"] == max_receive_count
    assert queue["VisibilityTimeout"] == visibility
    assert "RedrivePolicy" not in dlq
    assert dlq["MessageRetentionPeriod"] == facts.DLQ_RETENTION_DAYS * 86_400
    assert dlq["VisibilityTimeout"] == facts.ROUTER_VISIBILITY_TIMEOUT_SECONDS


def test_every_queue_is_encrypted_and_denies_requests_without_tls(templates: dict[str, CfnView]) -> None:
    for view in templates.values():
        for queue_id, queue in view.of_type("AWS::SQS::Queue").items():
            assert queue["Properties"].get("SqsManagedSseEnabled") is True, queue_id
            denials = [s for policy in view.of_type("AWS::SQS::QueuePolicy").values()
                       if {"Ref": queue_id} in policy["Properties"]["Queues"]
                       for s in policy["Properties"]["PolicyDocument"]["Statement"]
                       if s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}]
            assert denials, f"{queue_id} accepts plain HTTP"


def test_every_event_source_reports_partial_batch_failures_with_the_op_batching(
    templates: dict[str, CfnView],
) -> None:
    mappings = all_of(templates, "AWS::Lambda::EventSourceMapping")
    # the results queue and three DLQs feed the router; two op queues feed their executors
    assert len(mappings) == 1 + 3 + 2
    for mapping in mappings.values():
        assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    by_size = sorted((m["Properties"]["BatchSize"], m["Properties"].get("MaximumBatchingWindowInSeconds"),
                      m["Properties"].get("ScalingConfig", {}).get("MaximumConcurrency"))
                     for m in mappings.values())
    # results + 3 DLQs: 10 at a time, 4 concurrent; make_greeting 5 (5 concurrent); shout 50 with a 2 s window
    assert by_size == [(5, None, 5)] + [(10, None, 4)] * 4 + [(50, 2, None)]


def test_the_external_worker_op_gets_a_queue_but_no_function(templates: dict[str, CfnView]) -> None:
    descriptions = [f["Properties"]["Description"] for f in all_of(templates, "AWS::Lambda::Function").values()]
    assert sorted(d for d in descriptions if "executor" in d) == [
        "runfox executor for op make_greeting", "runfox executor for op shout"]


def test_the_one_table_is_the_workflows_table_with_the_key_schema_and_pitr(templates: dict[str, CfnView]) -> None:
    # Given every table of every template / Then there is one: workflows (the engine writes no tasks table)
    tables = {k: t["Properties"] for view in templates.values() for k, t in view.of_type("AWS::DynamoDB::Table").items()}
    ((logical_id, props),) = tables.items()
    assert logical_id.startswith("EngineTablesWorkflows")
    assert props["KeySchema"] == [{"AttributeName": config.PARTITION_KEY, "KeyType": "HASH"},
                                  {"AttributeName": config.SORT_KEY, "KeyType": "RANGE"}]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["SSESpecification"] == {"SSEEnabled": True}
    assert props["DeletionProtectionEnabled"] is True  # the default removal policy is retain
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True


def test_every_function_runs_the_pinned_runtime_on_arm64_with_tracing_and_its_log_group(
    templates: dict[str, CfnView],
) -> None:
    for view in templates.values():
        for function_id, function in view.of_type("AWS::Lambda::Function").items():
            props = function["Properties"]
            assert props["Runtime"] == facts.LAMBDA_RUNTIME, function_id
            assert props["Architectures"] == ["arm64"], function_id
            assert len(props["Layers"]) == 1, function_id
            assert props["TracingConfig"] == {"Mode": "Active"}, function_id
            group = props["LoggingConfig"]["LogGroup"]["Ref"]
            assert view.props(group)["RetentionInDays"] == facts.LOG_RETENTION_DAYS


def test_an_executor_knows_only_the_results_queue_the_router_the_values_bucket_and_powertools(
        templates: dict[str, CfnView]) -> None:
    executors = [f["Properties"] for f in all_of(templates, "AWS::Lambda::Function").values()
                 if "executor" in f["Properties"]["Description"]]
    for props in executors:
        assert set(props["Environment"]["Variables"]) == {
            config.ENV_RESULTS_QUEUE_URL, config.ENV_ROUTER_FUNCTION, config.ENV_BLOB_BUCKET,
            config.ENV_POWERTOOLS_SERVICE_NAME, config.ENV_POWERTOOLS_METRICS_NAMESPACE, config.ENV_LOG_LEVEL}


def test_the_outputs_name_what_scripts_need_and_do_not_grow_with_the_ops(templates: dict[str, CfnView]) -> None:
    outputs = templates[PARENT].outputs
    assert set(outputs) == {facts.OUTPUT_WORKFLOWS_TABLE, facts.OUTPUT_START_FUNCTION,
                            facts.OUTPUT_ADVANCE_FUNCTION, facts.OUTPUT_RESULT_ROUTER_FUNCTION,
                            facts.OUTPUT_RESULTS_QUEUE_URL, facts.OUTPUT_QUEUE_URL_PREFIX, facts.OUTPUT_ALARM_TOPIC,
                            facts.OUTPUT_DASHBOARD}
    assert not templates[next(n for n in templates if n != PARENT)].outputs
