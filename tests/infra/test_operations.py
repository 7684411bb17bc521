"""test_operations.py -- alarms that page someone, the dashboard, retention and removal policies."""

from __future__ import annotations

import json
from pathlib import Path

from aws_cdk import App, Stack
from infra_testkit import CfnView

from runfox_cdk import RunfoxEngine
from runfox_core.aws import config
from runfox_deploy import facts
from runfox_deploy.executors import parse_executors_config


def alarms(templates: dict[str, CfnView]) -> dict[str, dict]:
    return {k: r["Properties"] for view in templates.values() for k, r in view.of_type("AWS::CloudWatch::Alarm").items()}


def test_every_dlq_queue_age_function_and_failed_workflow_has_an_alarm(templates: dict[str, CfnView]) -> None:
    # Given the test app: three owned op queues (two with executors), the results queue, three engine functions
    descriptions = sorted(a["AlarmDescription"] for a in alarms(templates).values())
    # Then each DLQ, each queue's oldest message, each function's errors and throttles, and WorkflowsFailed alarm
    for queue in ("runfox results", "runfox op make_greeting", "runfox op shout", "runfox op gpu_embed"):
        assert sum(d.startswith(f"{queue}: messages in the dead-letter queue") for d in descriptions) == 1, queue
        assert sum(d.startswith(f"{queue}: oldest message older than") for d in descriptions) == 1, queue
    for function in ("runfox Start", "runfox Advance", "runfox ResultRouter", "runfox executor make_greeting",
                     "runfox executor shout"):
        assert sum(d.startswith(f"{function}: the function raised") for d in descriptions) == 1, function
        assert sum(d.startswith(f"{function}: invocations throttled") for d in descriptions) == 1, function
    assert "runfox: a workflow execution failed (WorkflowsFailed > 0)" in descriptions
    assert len(descriptions) == facts.alarm_count(queues=4, functions=5)  # the count bench/aws_calls.py prices


def test_every_alarm_notifies_the_alarm_topic_on_alarm_and_on_recovery(templates: dict[str, CfnView]) -> None:
    parent = templates["Runfox.template.json"]
    (topic,) = parent.of_type("AWS::SNS::Topic")
    # what the parent passes its nested stacks under each parameter name
    passed = {name: value for stack in parent.of_type("AWS::CloudFormation::Stack").values()
              for name, value in stack["Properties"]["Parameters"].items()}
    for logical_id, alarm in alarms(templates).items():
        for key in ("AlarmActions", "OKActions"):
            (action,) = alarm[key]
            # the topic itself, or (in a nested stack) the parameter the parent fills with it
            assert passed.get(action["Ref"], action) == {"Ref": topic}, (logical_id, key, action)


def test_the_workflows_failed_alarm_watches_the_engine_metric(templates: dict[str, CfnView]) -> None:
    (failed,) = [a for a in alarms(templates).values() if a.get("MetricName") == "WorkflowsFailed"]
    assert failed["Namespace"] == config.METRICS_NAMESPACE
    assert failed["Dimensions"] == [{"Name": "service", "Value": config.SERVICE_NAME}]


def test_the_dashboard_shows_executions_steps_queues_errors_and_router_duration(
    templates: dict[str, CfnView],
) -> None:
    parent = templates["Runfox.template.json"]
    (dashboard,) = parent.of_type("AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for fragment in ("WorkflowsStarted", "WorkflowsCompleted", "WorkflowsFailed", "NumberOfMessagesSent",
                     "ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage", "Errors",
                     "Duration", "SEARCH("):
        assert fragment in body, fragment


def test_the_workflows_table_expires_items_by_ttl_and_the_engine_knows_the_retention(templates: dict[str, CfnView]) -> None:
    parent = templates["Runfox.template.json"]
    tables = parent.of_type("AWS::DynamoDB::Table").values()
    assert [t["Properties"]["TimeToLiveSpecification"] for t in tables] == [
        {"AttributeName": config.TTL_ATTRIBUTE, "Enabled": True}]
    start = [f for f in parent.of_type("AWS::Lambda::Function").values()
             if f["Properties"]["Handler"] == config.START_HANDLER][0]
    variables = start["Properties"]["Environment"]["Variables"]
    assert variables[config.ENV_EXECUTION_RETENTION_DAYS] == str(config.DEFAULT_EXECUTION_RETENTION_DAYS)


def test_queues_and_dlqs_follow_the_removal_policy(templates: dict[str, CfnView]) -> None:
    # Given the default removal policy (retain) / Then no queue anywhere is deleted with its stack
    queues = [r for view in templates.values() for r in view.of_type("AWS::SQS::Queue").values()]
    assert len(queues) == 2 * 4
    assert {(q["DeletionPolicy"], q["UpdateReplacePolicy"]) for q in queues} == {("Retain", "Retain")}


def test_an_alarm_email_subscribes_to_the_topic(tmp_path: Path) -> None:
    # Given an engine built with an alarm address and no ops
    (tmp_path / "layer" / "python").mkdir(parents=True)
    stack = Stack(App(outdir=str(tmp_path / "out")), "Runfox")
    RunfoxEngine(stack, "Engine", executors=parse_executors_config({"ops": {}}), layer_dir=tmp_path / "layer",
                 lambdas_dir=tmp_path, alarm_email="oncall@example.com", execution_retention_days=30)
    from aws_cdk.assertions import Template

    template = Template.from_stack(stack)
    # Then the topic has that email subscription, and the engine keeps finished executions 30 days
    template.has_resource_properties("AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "oncall@example.com"})
    functions = template.find_resources("AWS::Lambda::Function")
    assert {f["Properties"]["Environment"]["Variables"][config.ENV_EXECUTION_RETENTION_DAYS]
            for f in functions.values()} == {"30"}
