"""test_answers.py -- executors hand their results to the result router by an asynchronous Invoke.

What the stack builds for ``runfox_core.aws.answers``: each executor of an
op with a handler carries the router's name (``RUNFOX_ROUTER_FUNCTION``) and
may invoke that function alone, by its ARN; the router's asynchronous
invocations are retried twice and kept at most six hours, then sent to the
results queue, which its role may send to. An op without an executor (an
imported queue, an external worker) gets neither the name nor the grant.
The recorder of the emulator's calls (``local.lambda_runtime``) names such an
Invoke the way ``test_iam.py`` proves it against these policies.
"""

from __future__ import annotations

from typing import Any

import pytest
from infra_testkit import CfnView, actions, render_nested

from local import lambda_runtime
from runfox_core.aws import config
from runfox_deploy import facts

PARENT = "Runfox.template.json"
EXECUTOR = "executors.greeting.handler"  # the test app's executors' handler


def engine_function(parent: CfnView, handler: str) -> str:
    (found,) = [k for k, r in parent.of_type("AWS::Lambda::Function").items() if r["Properties"]["Handler"] == handler]
    return found


def results_queue(parent: CfnView) -> str:
    (found,) = [k for k in parent.of_type("AWS::SQS::Queue") if "ResultsQueue" in k]
    return found


def every_function(templates: dict[str, CfnView]) -> list[tuple[CfnView, str, dict[str, Any]]]:
    """(view, logical id, properties) of every function of the app, engine and executors."""
    return [(view, k, r["Properties"]) for view in templates.values()
            for k, r in view.of_type("AWS::Lambda::Function").items()]


def invoke_statements(view: CfnView, function_id: str, parent: CfnView) -> list[tuple[list[str], list[str]]]:
    """(actions, rendered resources) of each statement of the function's role that names a Lambda action."""
    found = []
    for statement in view.role_statements(function_id):
        if any(action.startswith("lambda:") for action in actions(statement)):
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            found.append((actions(statement), [render_nested(r, parent) for r in resources]))
    return found


def test_every_executor_function_names_the_result_router_in_its_environment(templates: dict[str, CfnView]) -> None:
    # Given the functions of the app that carry the router's name
    parent = templates[PARENT]
    named = {props["Description"]: props["Environment"]["Variables"][config.ENV_ROUTER_FUNCTION]
             for _, _, props in every_function(templates)
             if config.ENV_ROUTER_FUNCTION in props["Environment"]["Variables"]}
    # Then they are the executors of the two ops with a handler, and the name is the router's (a function's Ref)
    assert sorted(named) == ["runfox executor for op make_greeting", "runfox executor for op shout"]
    router = engine_function(parent, config.RESULT_ROUTER_HANDLER)
    assert {render_nested(value, parent) for value in named.values()} == {f"<{router}>"}


def test_an_executor_may_invoke_the_result_router_by_its_arn_and_no_other_function(
    templates: dict[str, CfnView],
) -> None:
    # Given every function of the app and the router's ARN
    parent = templates[PARENT]
    router_arn = f"<{engine_function(parent, config.RESULT_ROUTER_HANDLER)}.Arn>"
    granted = {props["Description"]: invoke_statements(view, function_id, parent)
               for view, function_id, props in every_function(templates)}
    # Then each executor's role has one Lambda statement: InvokeFunction on that ARN, no version or alias
    executors = {d: s for d, s in granted.items() if d.startswith("runfox executor")}
    assert len(executors) == 2
    for description, statements in executors.items():
        assert statements == [(["lambda:InvokeFunction"], [router_arn])], description
    # And no engine function may call Lambda at all
    assert all(not s for d, s in granted.items() if d not in executors), granted


def test_the_router_retries_a_failed_answers_event_twice_and_keeps_one_at_most_six_hours(cfn: CfnView) -> None:
    # Given the router's asynchronous invocation config
    (invoke_config,) = [r["Properties"] for r in cfn.of_type("AWS::Lambda::EventInvokeConfig").values()]
    # Then it is the router's own (its unqualified function), with two retries and six hours in Lambda's queue
    assert invoke_config["FunctionName"] == {"Ref": engine_function(cfn, config.RESULT_ROUTER_HANDLER)}
    assert invoke_config["Qualifier"] == "$LATEST"
    assert invoke_config["MaximumRetryAttempts"] == facts.ROUTER_EVENT_RETRY_ATTEMPTS == 2
    assert invoke_config["MaximumEventAgeInSeconds"] == facts.ROUTER_EVENT_MAX_AGE_SECONDS == 6 * 3600


def test_an_answers_event_the_router_could_not_apply_goes_to_the_results_queue(cfn: CfnView) -> None:
    # Given the router's on-failure destination
    (invoke_config,) = [r["Properties"] for r in cfn.of_type("AWS::Lambda::EventInvokeConfig").values()]
    destination = invoke_config["DestinationConfig"]
    # Then it is the results queue, and there is no on-success destination (a success needs no record)
    assert destination == {"OnFailure": {"Destination": {"Fn::GetAtt": [results_queue(cfn), "Arn"]}}}
    # And the router's role, with which Lambda sends the record, may send there (and no more than that)
    router = engine_function(cfn, config.RESULT_ROUTER_HANDLER)
    on_queue = [actions(s) for s in cfn.role_statements(router)
                if {"Fn::GetAtt": [results_queue(cfn), "Arn"]} in (s["Resource"] if isinstance(s["Resource"], list)
                                                                    else [s["Resource"]])]
    assert any("sqs:SendMessage" in found for found in on_queue), on_queue
    assert not any("sqs:GetQueueUrl" in found for found in on_queue), on_queue


def test_an_op_without_an_executor_gets_neither_the_routers_name_nor_a_grant_to_invoke_it(
    templates: dict[str, CfnView],
) -> None:
    # Given the imported-queue op (legacy) and the external worker's op (gpu_embed) in the nested stack
    (nested,) = [view for name, view in templates.items() if name != PARENT]
    # Then the imported queue adds no resource at all, and the external worker's adds no function nor policy
    assert not [k for k in nested.resources if k.startswith("Oplegacy")]
    worker = {r["Type"] for k, r in nested.resources.items() if k.startswith("Opgpuembed")}
    assert worker and not worker & {"AWS::Lambda::Function", "AWS::IAM::Policy", "AWS::IAM::Role"}
    # And no policy of the nested stack grants Lambda actions but the two executors' own
    invoking = [k for k, policy in nested.of_type("AWS::IAM::Policy").items()
                for statement in policy["Properties"]["PolicyDocument"]["Statement"]
                if any(a.startswith("lambda:") for a in actions(statement))]
    assert sorted(invoking) == sorted(k for k in nested.of_type("AWS::IAM::Policy")
                                      if k.startswith(("Opmakegreeting", "Opshout")))
    assert len(invoking) == 2


@pytest.mark.parametrize("function", [
    lambda_runtime.function_name(config.RESULT_ROUTER_HANDLER),
    f"arn:aws:lambda:us-east-1:123456789012:function:{lambda_runtime.function_name(config.RESULT_ROUTER_HANDLER)}",
])
def test_the_recorder_counts_an_executors_invoke_of_the_router_as_invoke_function_on_it(
    function: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the emulator's executor invoking the router, by name or by ARN
    requests = lambda_runtime.iam_requests("lambda", "Invoke", {"FunctionName": function, "InvocationType": "Event"})
    monkeypatch.setattr(lambda_runtime, "AWS_CALLS", {(EXECUTOR, action, name) for action, name in requests})
    # Then the call is InvokeFunction on the router, which test_iam.py proves the executor's role allows
    assert lambda_runtime.recorded_iam_calls() == {"executor": [["lambda:InvokeFunction", "function:result_router"]]}

