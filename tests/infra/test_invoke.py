"""`make invoke` finds the start function from the stack outputs and reports what start returned."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from runfox_cdk.invoke import invoke_start, start_function_name


class FakeCloudFormation:
    def __init__(self, outputs: list[dict[str, str]]):
        self.outputs = outputs

    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        return {"Stacks": [{"StackName": StackName, "Outputs": self.outputs}]}


class FakeLambda:
    def __init__(self, body: Any, error: str | None = None):
        self.body, self.error, self.calls = body, error, []  # type: ignore[var-annotated]

    def invoke(self, FunctionName: str, Payload: bytes) -> dict[str, Any]:
        self.calls.append((FunctionName, json.loads(Payload)))
        response: dict[str, Any] = {"Payload": io.BytesIO(json.dumps(self.body).encode())}
        if self.error:
            response["FunctionError"] = self.error
        return response


def test_the_start_function_is_found_by_its_stack_output() -> None:
    cfn = FakeCloudFormation([{"OutputKey": "Other", "OutputValue": "x"},
                              {"OutputKey": "StartFunctionName", "OutputValue": "Runfox-Start-1"}])
    assert start_function_name(cfn, "Runfox") == "Runfox-Start-1"


def test_a_stack_without_the_output_is_reported_as_not_deployed() -> None:
    with pytest.raises(SystemExit, match="is it deployed"):
        start_function_name(FakeCloudFormation([]), "Runfox")


def test_invoke_sends_the_payload_and_returns_the_body() -> None:
    fake = FakeLambda({"execution": "wf#e", "status": "in_progress"})
    assert invoke_start(fake, "fn", {"spec": "x"}) == {"execution": "wf#e", "status": "in_progress"}
    assert fake.calls == [("fn", {"spec": "x"})]


def test_a_function_error_stops_with_its_message() -> None:
    with pytest.raises(SystemExit, match="Unhandled"):
        invoke_start(FakeLambda({"errorMessage": "boom"}, error="Unhandled"), "fn", {})
