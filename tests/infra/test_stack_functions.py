"""test_stack_functions.py -- the Lambdas: runtime, layer, environment, event sources and grants."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Template
from infra_testkit import LEGACY_ARN, CfnView, actions, render, resource_arns

from runfox_core.aws import config

ENGINE_HANDLERS = [config.START_HANDLER, config.ADVANCE_HANDLER, config.RESULT_ROUTER_HANDLER]
ALL_OPS = ["make_greeting", "shout", "gpu_embed", "legacy"]
OWNED_OPS = ["make_greeting", "shout", "gpu_embed"]


def engine_function_ids(cfn: CfnView) -> dict[str, str]:
    """Handler -> logical id of the three engine functions."""
    return {
        r["Properties"]["Handler"]: k
        for k, r in cfn.of_type("AWS::Lambda::Function").items()
        if r["Properties"]["Handler"] in ENGINE_HANDLERS
    }


def executor_id(cfn: CfnView, op: str) -> str:
    return cfn.function_id(f"runfox executor for op {op}")


def queue_arn(cfn: CfnView, output: str) -> str:
    return f"<{cfn.output_ref(output)}.Arn>"


def test_there_are_three_engine_functions_and_one_executor_per_handler_op(template: Template) -> None:
    # Given two ops with handlers and two external ones / Then five functions and one shared layer
    template.resource_count_is("AWS::Lambda::Function", 5)
    template.resource_count_is("AWS::Lambda::LayerVersion", 1)


def test_every_function_runs_the_pinned_runtime_on_arm64_with_the_shared_layer_and_tracing(cfn: CfnView) -> None:
    # Given the one layer of the stack
    (layer_id,) = cfn.of_type("AWS::Lambda::LayerVersion")
    layer = cfn.props(layer_id)
    assert layer["CompatibleRuntimes"] == [config.LAMBDA_RUNTIME]
    assert layer["CompatibleArchitectures"] == [config.LAMBDA_ARCHITECTURE]
    # Then every function uses it, on the pinned runtime, arm64, with active X-Ray tracing
    for function_id, function in cfn.of_type("AWS::Lambda::Function").items():
        props = function["Properties"]
        assert props["Runtime"] == config.LAMBDA_RUNTIME, function_id
        assert props["Architectures"] == ["arm64"], function_id
        assert props["Layers"] == [{"Ref": layer_id}], function_id
        assert props["TracingConfig"] == {"Mode": "Active"}, function_id


def test_every_function_logs_to_its_own_log_group_with_retention(cfn: CfnView) -> None:
    # Given every function / Then it names a log group kept for the configured days
    for function in cfn.of_type("AWS::Lambda::Function").values():
        group_id = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert cfn.props(group_id)["RetentionInDays"] == config.LOG_RETENTION_DAYS


def test_the_engine_functions_use_the_engine_handlers_and_sizes(cfn: CfnView) -> None:
    # Given the three engine functions / Then each has its handler and the engine memory and timeout
    assert sorted(engine_function_ids(cfn)) == sorted(ENGINE_HANDLERS)
    for handler in ENGINE_HANDLERS:
        props = cfn.function_by_handler(handler)
        assert props["MemorySize"] == config.ENGINE_MEMORY_MB
        assert props["Timeout"] == config.ENGINE_TIMEOUT_SECONDS


@pytest.mark.parametrize("handler", ENGINE_HANDLERS)
def test_the_engine_functions_get_every_runfox_and_powertools_variable(cfn: CfnView, handler: str) -> None:
    # Given one engine function's environment
    env = cfn.function_by_handler(handler)["Environment"]["Variables"]
    # Then Powertools is configured
    assert env[config.ENV_POWERTOOLS_SERVICE_NAME] == config.SERVICE_NAME
    assert env[config.ENV_POWERTOOLS_METRICS_NAMESPACE] == config.METRICS_NAMESPACE
    assert env[config.ENV_LOG_LEVEL] == config.DEFAULT_LOG_LEVEL
    # And the tables and results queue are the stack's own
    assert env[config.ENV_WORKFLOWS_TABLE] == {"Ref": cfn.output_ref(config.OUTPUT_WORKFLOWS_TABLE)}
    assert env[config.ENV_TASKS_TABLE] == {"Ref": cfn.output_ref(config.OUTPUT_TASKS_TABLE)}
    assert env[config.ENV_RESULTS_QUEUE_URL] == {"Ref": cfn.output_ref(config.OUTPUT_RESULTS_QUEUE_URL)}
    assert env[config.ENV_TASK_TTL_SECONDS] == str(config.DEFAULT_TASK_TTL_SECONDS)
    # And the queue map sends each op to its queue's URL (imported queues too)
    queue_map = json.loads(render(env[config.ENV_QUEUE_MAP]))
    assert list(queue_map) == ALL_OPS
    for op in OWNED_OPS:
        assert queue_map[op] == f"<{cfn.output_ref(config.queue_output_key(op))}>"
    assert queue_map["legacy"] == "https://sqs.eu-west-1.<AWS::URLSuffix>/123456789012/legacy-jobs"
    # And op defaults carry each op's step timeout (JSON null when unset)
    assert json.loads(env[config.ENV_OP_DEFAULTS]) == {
        "make_greeting": {"timeout_seconds": None},
        "shout": {"timeout_seconds": 60},
        "gpu_embed": {"timeout_seconds": None},
        "legacy": {"timeout_seconds": None},
    }


def test_the_queue_map_output_matches_the_environment(cfn: CfnView) -> None:
    # Given the QueueMap output and the start function's RUNFOX_QUEUE_MAP / Then they agree
    env = cfn.function_by_handler(config.START_HANDLER)["Environment"]["Variables"]
    assert render(cfn.outputs[config.OUTPUT_QUEUE_MAP]["Value"]) == render(env[config.ENV_QUEUE_MAP])


@pytest.mark.parametrize(
    ("op", "memory", "batch", "window", "concurrency"),
    [("make_greeting", 256, 5, None, 5), ("shout", 128, 50, 2, None)],
)
def test_each_handler_op_gets_a_function_fed_by_its_queue(
    cfn: CfnView, op: str, memory: int, batch: int, window: int | None, concurrency: int | None
) -> None:
    # Given an op with a handler
    function_id = executor_id(cfn, op)
    props = cfn.props(function_id)
    # Then its function runs the configured handler with its size, timeout and the results queue URL
    assert props["Handler"] == "executors.greeting.handler"
    assert props["MemorySize"] == memory
    assert props["Timeout"] == 20
    assert props["Environment"]["Variables"][config.ENV_RESULTS_QUEUE_URL] == {
        "Ref": cfn.output_ref(config.OUTPUT_RESULTS_QUEUE_URL)
    }
    # And exactly one event source feeds it: its op queue, with batching and partial batch failures
    (mapping,) = cfn.event_sources_of(function_id)
    assert render(mapping["EventSourceArn"]) == queue_arn(cfn, config.queue_output_key(op))
    assert mapping["BatchSize"] == batch
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping.get("MaximumBatchingWindowInSeconds") == window
    assert mapping.get("ScalingConfig") == ({"MaximumConcurrency": concurrency} if concurrency else None)


def test_the_result_router_consumes_the_results_queue_and_every_owned_op_dlq(cfn: CfnView) -> None:
    # Given the result router's event sources
    router_id = engine_function_ids(cfn)[config.RESULT_ROUTER_HANDLER]
    mappings = cfn.event_sources_of(router_id)
    # Then it reads the results queue and the DLQ of every op whose queue the stack owns
    results_id = cfn.output_ref(config.OUTPUT_RESULTS_QUEUE_URL)
    expected = {f"<{results_id}.Arn>"}
    for op in OWNED_OPS:
        queue_id = cfn.output_ref(config.queue_output_key(op))
        expected.add(render(cfn.props(queue_id)["RedrivePolicy"]["deadLetterTargetArn"]))
    assert {render(m["EventSourceArn"]) for m in mappings} == expected
    # And every mapping reports partial batch failures, with the results batching
    for mapping in mappings:
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert mapping["BatchSize"] == 10
        assert mapping["ScalingConfig"] == {"MaximumConcurrency": 4}


@pytest.mark.parametrize("handler", ENGINE_HANDLERS)
def test_engine_functions_may_use_both_tables_and_send_to_every_queue(cfn: CfnView, handler: str) -> None:
    # Given one engine function's role policy
    statements = cfn.role_statements(engine_function_ids(cfn)[handler])
    # Then DynamoDB access names both tables
    table_arns = {
        f"<{cfn.output_ref(config.OUTPUT_WORKFLOWS_TABLE)}.Arn>",
        f"<{cfn.output_ref(config.OUTPUT_TASKS_TABLE)}.Arn>",
    }
    ddb = {arn for s in statements if "dynamodb:PutItem" in actions(s) for arn in resource_arns(s)}
    assert ddb == table_arns
    # And it may send to every op queue (the imported one by its ARN) and to the results queue
    send = {arn for s in statements if "sqs:SendMessage" in actions(s) for arn in resource_arns(s)}
    expected = {queue_arn(cfn, config.queue_output_key(op)) for op in OWNED_OPS}
    expected |= {LEGACY_ARN, queue_arn(cfn, config.OUTPUT_RESULTS_QUEUE_URL)}
    assert send == expected


def test_executors_may_consume_their_queue_and_send_results_only(cfn: CfnView) -> None:
    # Given the make_greeting executor's role policy
    statements = cfn.role_statements(executor_id(cfn, "make_greeting"))
    # Then it receives only from its own queue, sends only to the results queue, and has no table access
    receive = {arn for s in statements if "sqs:ReceiveMessage" in actions(s) for arn in resource_arns(s)}
    send = {arn for s in statements if "sqs:SendMessage" in actions(s) for arn in resource_arns(s)}
    assert receive == {queue_arn(cfn, config.queue_output_key("make_greeting"))}
    assert send == {queue_arn(cfn, config.OUTPUT_RESULTS_QUEUE_URL)}
    assert not any(a.startswith("dynamodb:") for s in statements for a in actions(s))


def test_no_dynamodb_or_sqs_permission_uses_a_wildcard_resource(cfn: CfnView) -> None:
    # Given every inline IAM policy statement in the stack
    for policy_id, policy in cfn.of_type("AWS::IAM::Policy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            data_actions = [a for a in actions(statement) if a.split(":")[0] in ("dynamodb", "sqs")]
            if not data_actions:
                # Only X-Ray may use "*": it has no resource-level permissions
                assert all(a.startswith("xray:") for a in actions(statement)), policy_id
                continue
            # Then table and queue actions name their resources: no "*" anywhere in them
            assert all("*" not in arn for arn in resource_arns(statement)), (policy_id, statement)
            assert all("*" not in a for a in data_actions), (policy_id, statement)
