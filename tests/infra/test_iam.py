"""test_iam.py -- every role allows exactly what its function was recorded calling, and no more.

``aws_calls.json`` is the recording of every AWS call each handler made on the
local emulator during the end-to-end and reliability tiers (``local.lambda_runtime``
hooks botocore; ``tests/e2e/test_aws_calls.py`` checks it is still complete).
Here each recorded (function, IAM action, resource) must be allowed by that
function's role in the synthesized templates, and each action a role grants
must have been recorded for that kind of function, or be listed in
``NOT_CALLED_BY_HANDLERS`` with the reason it is there.
"""

from __future__ import annotations

import json
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest
from infra_testkit import ITEMS_BUCKETS, LEGACY_ARN, CfnView

from runfox_core.aws import config

RECORDING = json.loads((Path(__file__).parent / "aws_calls.json").read_text())
ENGINE = {"start": config.START_HANDLER, "advance": config.ADVANCE_HANDLER,
          "result_router": config.RESULT_ROUTER_HANDLER}
#: Granted actions no handler calls itself, and why each is granted anyway.
NOT_CALLED_BY_HANDLERS = {
    "logs:CreateLogStream": "Lambda writes the function's logs to its own log group with the function's role.",
    "logs:PutLogEvents": "Lambda writes the function's logs to its own log group with the function's role.",
    "xray:PutTraceSegments": "Active X-Ray tracing: the Lambda runtime sends the segments.",
    "xray:PutTelemetryRecords": "Active X-Ray tracing: the Lambda runtime sends telemetry.",
    "sqs:ReceiveMessage": "The Lambda SQS poller of the function's event source calls it with the function's role.",
    "sqs:DeleteMessage": "The Lambda SQS poller deletes the records a batch handled, with the function's role.",
    "sqs:ChangeMessageVisibility": "The Lambda SQS poller returns failed records, with the function's role.",
    "sqs:GetQueueAttributes": "The Lambda SQS poller reads the queue's attributes, with the function's role.",
}
#: start and advance share the router's grants: all three run the same engine code (driver.advance_execution
#: claims and dispatches), so a re-drive through advance needs what the router does, though the tests' runs
#: rarely make advance dispatch. The check "every grant was called" is over the three together.
ENGINE_KINDS = tuple(ENGINE)


class Templates:
    """The parent template and its nested ones, with intrinsics rendered to comparable text."""

    def __init__(self, views: dict[str, CfnView]) -> None:
        self.parent = views["Runfox.template.json"]
        self.nested = {name: view for name, view in views.items() if name != "Runfox.template.json"}
        # what the parent passes its nested stacks: the same engine resources to each, under the same names
        passed: dict[str, Any] = {}
        for resource in self.parent.of_type("AWS::CloudFormation::Stack").values():
            passed.update(resource["Properties"].get("Parameters", {}))
        self.parameters = {name: passed for name in self.nested}

    def render(self, value: Any, template: str) -> str:
        if isinstance(value, str):
            return value
        if "Ref" in value:
            ref = value["Ref"]
            passed = self.parameters.get(template, {}).get(ref)
            return self.render(passed, "Runfox.template.json") if passed is not None else f"<{ref}>"
        if "Fn::GetAtt" in value:
            return "<{}.{}>".format(*value["Fn::GetAtt"])
        if "Fn::Join" in value:
            separator, parts = value["Fn::Join"]
            return separator.join(self.render(part, template) for part in parts)
        raise AssertionError(f"cannot render {value!r}")

    def statements(self, view: CfnView, template: str, function_id: str) -> list[tuple[set[str], list[str]]]:
        """(actions, rendered resources) of every Allow statement on ``function_id``'s role."""
        role = view.props(function_id)["Role"]["Fn::GetAtt"][0]
        found = []
        for policy in view.of_type("AWS::IAM::Policy").values():
            if {"Ref": role} not in policy["Properties"]["Roles"]:
                continue
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                assert statement["Effect"] == "Allow"
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
                found.append((set(actions), [self.render(r, template) for r in resources]))
        assert not view.props(role).get("ManagedPolicyArns"), f"{function_id} has a managed policy"
        return found

    def functions(self, kind: str) -> list[tuple[CfnView, str, str]]:
        """(view, template, logical id) of every function of ``kind``."""
        if kind in ENGINE:
            return [(self.parent, "Runfox.template.json", k) for k, r in self.parent.of_type("AWS::Lambda::Function").items()
                    if r["Properties"]["Handler"] == ENGINE[kind]]
        return [(view, name, k) for name, view in self.nested.items()
                for k in view.of_type("AWS::Lambda::Function")]


def resource_arn(kind: str, cfn: CfnView) -> str:
    """A concrete ARN (as rendered from the template) of a resource of ``kind``."""
    logical = {
        "table:workflows": lambda: _only(cfn, "AWS::DynamoDB::Table", "Workflows"),
        "queue:results": lambda: _only(cfn, "AWS::SQS::Queue", "ResultsQueue"),
        "queue:results-dlq": lambda: _only(cfn, "AWS::SQS::Queue", "ResultsDlq"),
    }
    if kind in logical:
        return f"<{logical[kind]()}.Arn>"
    if kind == "bucket:values":  # an object blobs/<sha256> of the values bucket
        return f"<{_only(cfn, 'AWS::S3::Bucket', 'Values')}.Arn>/blobs/{'0' * 64}"
    if kind == "bucket:items":  # an object a map reads its items from, in a bucket the test app lists
        return f"arn:<AWS::Partition>:s3:::{ITEMS_BUCKETS[0]}/exports/items.jsonl"
    if kind.startswith("function:"):  # an engine function, as Invoke names it (executors invoke the router)
        (function_id,) = [k for k, r in cfn.of_type("AWS::Lambda::Function").items()
                          if r["Properties"]["Handler"] == ENGINE[kind.removeprefix("function:")]]
        return f"<{function_id}.Arn>"
    base = "arn:<AWS::Partition>:sqs:<AWS::Region>:<AWS::AccountId>:Runfox-make_greeting"
    return {"queue:op": base, "queue:op-dlq": base + "-dlq", "queue:imported": LEGACY_ARN}[kind]


def _only(cfn: CfnView, cfn_type: str, fragment: str) -> str:
    (found,) = [k for k in cfn.of_type(cfn_type) if fragment in k]
    return found


def allowed(statements: list[tuple[set[str], list[str]]], action: str, arn: str) -> bool:
    return any(any(fnmatchcase(action, a) for a in actions) and any(fnmatchcase(arn, r) for r in resources)
               for actions, resources in statements)


@pytest.fixture(scope="module")
def stacks(templates: dict[str, CfnView]) -> Templates:
    return Templates(templates)


@pytest.mark.parametrize("kind", [*ENGINE, "executor"])
def test_every_recorded_call_is_allowed_by_the_function_role(stacks: Templates, kind: str) -> None:
    # Given every function of this kind in the synthesized templates
    functions = stacks.functions(kind)
    assert functions
    for view, template, function_id in functions:
        statements = stacks.statements(view, template, function_id)
        # Then each call its handler was recorded making is allowed on that resource
        for action, resource in RECORDING.get(kind, []):
            arn = resource_arn(resource, stacks.parent)
            assert allowed(statements, action, arn), (kind, function_id, action, resource)


def test_every_granted_action_was_called_or_has_a_written_reason(stacks: Templates) -> None:
    # Given what each kind of function was recorded calling (the engine's three together)
    called = {kind: {action for action, _ in RECORDING.get(kind, [])} for kind in [*ENGINE, "executor"]}
    engine_called = set().union(*(called[k] for k in ENGINE_KINDS))
    for kind in [*ENGINE, "executor"]:
        expected = engine_called if kind in ENGINE else called[kind]
        for view, template, function_id in stacks.functions(kind):
            granted = set().union(*(actions for actions, _ in stacks.statements(view, template, function_id)))
            # Then nothing is granted that no handler calls, unless its reason is written down
            unexplained = granted - expected - set(NOT_CALLED_BY_HANDLERS)
            assert not unexplained, (kind, function_id, sorted(unexplained))


def test_no_role_can_scan_delete_or_read_a_stream(stacks: Templates) -> None:
    for kind in [*ENGINE, "executor"]:
        for view, template, function_id in stacks.functions(kind):
            granted = set().union(*(actions for actions, _ in stacks.statements(view, template, function_id)))
            assert not granted & {"dynamodb:Scan", "dynamodb:DeleteItem", "dynamodb:GetRecords",
                                  "dynamodb:GetShardIterator", "logs:CreateLogGroup"}, function_id


def test_each_function_writes_logs_only_to_its_own_log_group(stacks: Templates) -> None:
    for kind in [*ENGINE, "executor"]:
        for view, template, function_id in stacks.functions(kind):
            group = view.props(function_id)["LoggingConfig"]["LogGroup"]["Ref"]
            logs = [resources for actions, resources in stacks.statements(view, template, function_id)
                    if any(a.startswith("logs:") for a in actions)]
            assert logs == [[f"<{group}.Arn>"]], (function_id, logs)
