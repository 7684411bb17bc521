"""stack.py -- ``--stack NAME``: the deployed stack as a CLI target, found from its CloudFormation outputs.

With the user's AWS credentials (the usual boto3 chain) and nothing else:
``describe_stacks`` gives ``StartFunctionName``, ``AdvanceFunctionName`` and
``WorkflowsTableName`` (``runfox_deploy.facts``). ``start``, and ``cancel``,
``redrive`` and ``rerun`` (``act``), invoke the deployed start and advance
Lambdas (so the deployed ops, op defaults and settings apply, exactly as for
any caller); ``status``, ``watch``, ``graph``, ``history`` and ``list`` read
the workflows table (``DynamoDBStore``): one
load per read, nothing written.

Known limits: the caller needs ``cloudformation:DescribeStacks``,
``lambda:InvokeFunction`` on the two functions and read access to the
workflows table; a Lambda that answers ``{"error": ...}`` is a bad request
(exit 2), one that fails (``FunctionError``) is reported as such.
"""

from __future__ import annotations

import json
from typing import Any

from ..backend.base import Backend
from ..errors import RunfoxError

OUTPUT_START_FUNCTION = "StartFunctionName"  # = runfox_deploy.facts.OUTPUT_* (checked by a test)
OUTPUT_ADVANCE_FUNCTION = "AdvanceFunctionName"
OUTPUT_WORKFLOWS_TABLE = "WorkflowsTableName"
OUTPUT_RESULTS_QUEUE_URL = "ResultsQueueUrl"  # only `runfox dlq` needs it
NEEDED = (OUTPUT_START_FUNCTION, OUTPUT_ADVANCE_FUNCTION, OUTPUT_WORKFLOWS_TABLE)


class StackError(RunfoxError):
    """Raised when the stack cannot be found or used, or a deployed function refused the request."""


class StackTarget:
    """The deployed engine of one stack: its two Lambdas to invoke, and a read-only Backend on its table."""

    def __init__(self, name: str, cloudformation: Any = None, lambda_client: Any = None, dynamodb: Any = None):
        import boto3  # only here: the CLI needs no AWS SDK for its other targets

        cloudformation = cloudformation or boto3.client("cloudformation")
        self.outputs = stack_outputs(cloudformation, name)
        self._lambda = lambda_client or boto3.client("lambda")
        from ..aws.dynamodb_store import DynamoDBStore

        self.backend = Backend(store=DynamoDBStore(self.outputs[OUTPUT_WORKFLOWS_TABLE],
                                                   client=dynamodb or boto3.client("dynamodb")))

    def start(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The start Lambda's answer to ``payload``; raises StackError for an ``{"error"}`` answer."""
        return self.invoke(self.outputs[OUTPUT_START_FUNCTION], payload)

    def act(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The advance Lambda's answer to ``payload`` (``{"action": ...}``: cancel, redrive, rerun...)."""
        return self.invoke(self.outputs[OUTPUT_ADVANCE_FUNCTION], payload)

    def results_queue_url(self) -> str:
        """The router's queue (its dead-letter queue is found from it: ``aws/dead_letters.py``)."""
        url = self.outputs.get(OUTPUT_RESULTS_QUEUE_URL)
        if url is None:
            raise StackError(f"the stack has no output {OUTPUT_RESULTS_QUEUE_URL}: is it a deployed runfox stack?")
        return url

    def invoke(self, function: str, payload: dict[str, Any]) -> dict[str, Any]:
        response = self._lambda.invoke(FunctionName=function, Payload=json.dumps(payload).encode())
        body = json.loads(response["Payload"].read() or b"null")
        if response.get("FunctionError"):
            raise StackError(f"{function} failed ({response['FunctionError']}): {json.dumps(body)}")
        if not isinstance(body, dict):
            raise StackError(f"{function} answered {json.dumps(body)}, not an object")
        if "error" in body:
            error = body["error"]
            raise StackError(f"{error.get('type')}: {error.get('message')}")
        return body


def stack_outputs(cloudformation: Any, name: str) -> dict[str, str]:
    """The outputs of stack ``name`` the CLI needs; raises StackError naming what is missing."""
    try:
        stacks = cloudformation.describe_stacks(StackName=name)["Stacks"]
    except Exception as exc:  # botocore's ClientError (no such stack, no credentials), whatever the SDK
        raise StackError(f"cannot describe stack {name!r}: {exc}") from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in (stacks[0].get("Outputs") or [])} if stacks else {}
    missing = [key for key in NEEDED if key not in outputs]
    if missing:
        raise StackError(f"stack {name!r} has no output {', '.join(missing)}: is it a deployed runfox stack?")
    return outputs
