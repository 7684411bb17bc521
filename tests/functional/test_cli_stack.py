"""``--stack NAME`` against the local emulator: outputs from a CloudFormation stack, the real handlers.

The stack here is a stand-in holding only the outputs the CLI reads, created
in moto's CloudFormation; its values name the emulator's table and the
engine functions. The emulator has no Lambda service, so the one fake is a
Lambda client whose ``invoke`` runs the named engine handler as Lambda would
(``local.lambda_runtime.invoke``); everything else is the emulator's AWS.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from test_cli_local import STUCK

from local.cloud import LocalCloud
from local.lambda_runtime import invoke
from runfox_core import cli
from runfox_core.aws import config
from runfox_core.cli import stack as stack_target
from runfox_deploy import facts

ROOT = Path(__file__).resolve().parents[2]
GREETING_SPEC = (ROOT / "examples" / "greeting.yaml").read_text()
FUNCTIONS = {"runfox-start": config.START_HANDLER, "runfox-advance": config.ADVANCE_HANDLER}


class EmulatedLambda:
    """The Lambda service for the engine functions: invoke runs the named handler."""

    def invoke(self, FunctionName: str, Payload: bytes) -> dict[str, Any]:  # noqa: N803 (boto3's names)
        body = invoke(FUNCTIONS[FunctionName], json.loads(Payload))
        return {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(body).encode())}


@pytest.fixture
def deployed(cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """A stack named like a deployed one, its outputs pointing at the emulator; the current dir holds stuck.yaml."""
    name = f"Runfox{tmp_path.name.replace('_', '')[-20:]}"
    outputs = {facts.OUTPUT_START_FUNCTION: "runfox-start", facts.OUTPUT_ADVANCE_FUNCTION: "runfox-advance",
               facts.OUTPUT_WORKFLOWS_TABLE: os.environ[config.ENV_WORKFLOWS_TABLE],
               facts.OUTPUT_RESULTS_QUEUE_URL: os.environ[config.ENV_RESULTS_QUEUE_URL]}
    template = {"Resources": {"Anchor": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
                "Outputs": {key: {"Value": value} for key, value in outputs.items()}}
    cloud.client("cloudformation").create_stack(StackName=name, TemplateBody=json.dumps(template))
    real_client = boto3.client
    monkeypatch.setattr(boto3, "client", lambda service, *a, **kw: EmulatedLambda() if service == "lambda"
                        else real_client(service, *a, **kw))
    (tmp_path / "stuck.yaml").write_text(STUCK)
    monkeypatch.chdir(tmp_path)
    yield name


def runfox(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_output_keys_are_the_ones_the_stack_publishes() -> None:
    assert (stack_target.OUTPUT_START_FUNCTION, stack_target.OUTPUT_ADVANCE_FUNCTION,
            stack_target.OUTPUT_WORKFLOWS_TABLE) == (
        facts.OUTPUT_START_FUNCTION, facts.OUTPUT_ADVANCE_FUNCTION, facts.OUTPUT_WORKFLOWS_TABLE)


def test_start_status_graph_cancel_on_a_stack_found_by_its_outputs(
        deployed: str, capsys: pytest.CaptureFixture[str]) -> None:
    # When an execution is started on the stack
    code, out, _ = runfox(capsys, "start", "stuck.yaml", "--inputs", '{"n": 7}', "--stack", deployed, "--json")
    started = json.loads(out)
    assert code == 0 and started["created"] is True and started["dispatched"][0]["step"] == "shout"
    key = started["execution"]
    # Then status and graph read it from the stack's table
    code, out, _ = runfox(capsys, "status", key, "--stack", deployed, "--json")
    assert code == 0 and json.loads(out)["steps"][0]["status"] == "in_progress"
    assert "class s0 in_progress" in runfox(capsys, "graph", key, "--stack", deployed)[1]
    # And cancel goes through the advance Lambda; watch then sees it ended
    assert runfox(capsys, "cancel", key, "--stack", deployed, "--reason", "stuck")[:2] == (0, f"{key}: cancelled\n")
    code, out, _ = runfox(capsys, "watch", key, "--stack", deployed, "--json")
    assert code == 1 and json.loads(out)["outcome"] == {"reason": "stuck"}


def test_what_the_deployed_functions_refuse_is_bad_usage_naming_the_problem(
        deployed: str, capsys: pytest.CaptureFixture[str]) -> None:
    Path("other.yaml").write_text("steps:\n  - op: not_deployed\n")
    code, _, err = runfox(capsys, "start", "other.yaml", "--stack", deployed)
    assert code == 2 and "UnknownOpError: step 'not_deployed', field 'op': no executor is deployed" in err
    code, _, err = runfox(capsys, "cancel", "no#such", "--stack", deployed)
    assert code == 2 and "ExecutionNotFoundError" in err
    assert runfox(capsys, "status", "no#such", "--stack", deployed)[0] == 2


def test_a_stack_that_does_not_exist_or_is_not_runfox_is_bad_usage(
        deployed: str, cloud: LocalCloud, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = runfox(capsys, "status", "a#b", "--stack", "NoSuchStack")
    assert code == 2 and "cannot describe stack 'NoSuchStack'" in err
    template = {"Resources": {"Anchor": {"Type": "AWS::CloudFormation::WaitConditionHandle"}}}
    cloud.client("cloudformation").create_stack(StackName=f"{deployed}Other", TemplateBody=json.dumps(template))
    code, _, err = runfox(capsys, "status", "a#b", "--stack", f"{deployed}Other")
    assert code == 2 and "has no output StartFunctionName, AdvanceFunctionName, WorkflowsTableName" in err


def test_history_list_redrive_and_rerun_on_a_stack(deployed: str, capsys: pytest.CaptureFixture[str]) -> None:
    # Given a cancelled execution on the stack
    key = json.loads(runfox(capsys, "start", "stuck.yaml", "--inputs", '{"n": 7}', "--stack", deployed,
                            "--json")[1])["execution"]
    runfox(capsys, "cancel", key, "--stack", deployed)
    # Then history and list read the stack's table (list from its indexes)
    code, out, _ = runfox(capsys, "history", key, "--stack", deployed, "--json")
    assert code == 0 and [e["type"] for e in json.loads(out)["events"]] == ["started", "dispatched", "cancelled"]
    code, out, _ = runfox(capsys, "list", "--status", "cancelled", "--stack", deployed, "--json", "--limit", "1000")
    assert code == 0 and key in [e["execution"] for e in json.loads(out)["executions"]]
    # And redrive and rerun go through the advance Lambda
    assert runfox(capsys, "redrive", key, "--stack", deployed)[:2] == (
        0, f"{key}: in_progress, dispatched shout (run 1)\n")
    code, out, _ = runfox(capsys, "rerun", key, "--step", "shout", "--new", "--stack", deployed, "--json")
    assert code == 0 and json.loads(out)["execution"] != key
    code, _, err = runfox(capsys, "redrive", key, "--stack", deployed)
    assert code == 2 and "ExecutionStatusError: execution" in err and "still running (in_progress)" in err


def test_dlq_lists_the_routers_dead_letters_and_redrives_them_into_the_run(
        deployed: str, cloud: LocalCloud, capsys: pytest.CaptureFixture[str]) -> None:
    from functional_kit import call, take_messages

    from local.deployment import RESULTS_QUEUE, dlq_name, op_queue_name

    # Given a running execution whose first result the router gave up on (it sits in the results DLQ)
    key = call(config.START_HANDLER, {"spec": GREETING_SPEC, "inputs": {"name": "dlq"}})["execution"]
    take_messages(cloud, op_queue_name("make_greeting"))
    sqs = cloud.client("sqs")
    dlq = sqs.get_queue_url(QueueName=dlq_name(RESULTS_QUEUE))["QueueUrl"]
    result = {"kind": "result", "execution": key, "step": "make_greeting", "run_id": 0, "output": {"text": "hi"}}
    sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps(result))
    # When the DLQ is listed, then redriven
    code, out, _ = runfox(capsys, "dlq", "list", "--stack", deployed, "--json")
    listed = json.loads(out)
    assert code == 0 and [(m["kind"], m["step"], m["run_id"], m["execution"]) for m in listed["list"]] == [
        ("result", "make_greeting", 0, key)]
    code, out, _ = runfox(capsys, "dlq", "redrive", "--stack", deployed)
    assert code == 0 and out.endswith(f"1 message sent back to the router from {dlq}\n")
    # Then the DLQ is empty, and the router applies the result from its queue: the next step goes out
    assert runfox(capsys, "dlq", "list", "--stack", deployed)[1] == f"0 messages in {dlq}\n"
    [message] = take_messages(cloud, RESULTS_QUEUE)
    take_messages(cloud, op_queue_name("shout"))  # other tests' jobs (the cloud is the module's)
    call(config.RESULT_ROUTER_HANDLER, {"Records": [{"messageId": "m1", "body": json.dumps(message),
                                                     "eventSourceARN": "arn:aws:sqs:us-east-1:0:results"}]})
    assert [(m["execution"], m["step"]) for m in take_messages(cloud, op_queue_name("shout"))] == [(key, "shout")]
    assert runfox(capsys, "dlq", "list", "--db", "x.db")[0] == 2
