"""invoke.py -- start a workflow on the deployed stack (``make invoke``).

Finds the start function through the stack's ``StartFunctionName`` output,
invokes it with a payload file (``events/start.json`` by default), and prints
the execution id. Needs AWS credentials, like ``cdk deploy``.

Usage: python -m runfox_cdk.invoke (or infra.invoke) [--payload events/start.json] [--stack Runfox]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from runfox_cdk.app import DEFAULT_STACK_NAME
from runfox_deploy.facts import OUTPUT_START_FUNCTION


def start_function_name(cloudformation: Any, stack: str) -> str:
    outputs = cloudformation.describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
    for output in outputs:
        if output["OutputKey"] == OUTPUT_START_FUNCTION:
            return str(output["OutputValue"])
    raise SystemExit(f"stack {stack!r} has no {OUTPUT_START_FUNCTION} output: is it deployed?")


def invoke_start(lambda_client: Any, function: str, payload: dict[str, Any]) -> dict[str, Any]:
    response = lambda_client.invoke(FunctionName=function, Payload=json.dumps(payload).encode())
    body = json.loads(response["Payload"].read() or b"null")
    if response.get("FunctionError"):
        raise SystemExit(f"{function} failed ({response['FunctionError']}): {json.dumps(body)}")
    return body if isinstance(body, dict) else {"response": body}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--payload", default="events/start.json", type=Path)
    parser.add_argument("--stack", default=DEFAULT_STACK_NAME)
    args = parser.parse_args(argv)
    import boto3  # only here: the module stays importable without credentials or network

    payload = json.loads(args.payload.read_text())
    function = start_function_name(boto3.client("cloudformation"), args.stack)
    body = invoke_start(boto3.client("lambda"), function, payload)
    print(json.dumps(body, indent=2))
    if "error" in body:
        return 1
    print(f"execution: {body.get('execution')}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
