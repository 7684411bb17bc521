"""infra_testkit.py -- shared test data and template helpers for tests/infra.

(A uniquely named module rather than conftest imports, so it never collides
with another tier's conftest.)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from runfox_cdk.app import (
    CONTEXT_EXECUTORS_CONFIG,
    CONTEXT_ITEMS_BUCKETS,
    CONTEXT_LAMBDAS_DIR,
    CONTEXT_LAYER_DIR,
    CONTEXT_PROJECT_ROOT,
)

# Every kind of op: two Lambda handlers (one batching above 10), an external
# worker whose queue we create, and an existing queue we import.
LEGACY_ARN = "arn:aws:sqs:eu-west-1:123456789012:legacy-jobs"
TEST_EXECUTORS: dict[str, Any] = {
    "defaults": {"memory_mb": 256, "lambda_timeout_seconds": 20, "batch_size": 5, "max_receive_count": 3},
    "results": {"batch_size": 10, "max_concurrency": 4, "max_receive_count": 5},
    "ops": {
        "make_greeting": {"handler": "executors.greeting.handler", "max_concurrency": 5},
        "shout": {
            "handler": "executors.greeting.handler",
            "memory_mb": 128,
            "batch_size": 50,
            "max_batching_window_seconds": 2,
            "step_timeout_seconds": 60,
        },
        "gpu_embed": {"external_queue": True, "visibility_timeout_seconds": 600, "max_receive_count": 2},
        "legacy": {"external_queue": LEGACY_ARN},
    },
}


ITEMS_BUCKETS = ["team-data", "lake/exports/"]  # buckets map steps read items from (a whole bucket, a prefix)


def app_context(asset_dirs: dict[str, Path], **extra: Any) -> dict[str, Any]:
    """CDK context pointing the app at the temp folders and test config (``extra`` overrides)."""
    return {
        CONTEXT_LAYER_DIR: str(asset_dirs["layer"]),
        CONTEXT_LAMBDAS_DIR: str(asset_dirs["lambdas"]),
        CONTEXT_EXECUTORS_CONFIG: str(asset_dirs["config"]),
        CONTEXT_PROJECT_ROOT: str(asset_dirs["lambdas"].parent),
        CONTEXT_ITEMS_BUCKETS: ITEMS_BUCKETS,
        **extra,
    }


def load_templates(directory: Path) -> dict[str, CfnView]:
    """Every ``*.template.json`` of a cloud assembly folder: file name -> view."""
    return {path.name: CfnView(json.loads(path.read_text())) for path in sorted(directory.glob("*.template.json"))}


class CfnView:
    """Read-only helpers over a synthesized template (a plain dict)."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.resources: dict[str, dict[str, Any]] = document["Resources"]
        self.outputs: dict[str, dict[str, Any]] = document.get("Outputs", {})

    def of_type(self, cfn_type: str) -> dict[str, dict[str, Any]]:
        return {k: r for k, r in self.resources.items() if r["Type"] == cfn_type}

    def props(self, logical_id: str) -> dict[str, Any]:
        return self.resources[logical_id].get("Properties", {})

    def output_ref(self, key: str) -> str:
        """The logical id an output refers to (outputs of names and URLs are plain Refs)."""
        return self.outputs[key]["Value"]["Ref"]

    def function_by_handler(self, handler: str) -> dict[str, Any]:
        found = [
            r["Properties"]
            for r in self.of_type("AWS::Lambda::Function").values()
            if r["Properties"]["Handler"] == handler
        ]
        assert len(found) >= 1, f"no function with handler {handler}"
        return found[0]

    def function_id(self, description: str) -> str:
        (found,) = [
            k
            for k, r in self.of_type("AWS::Lambda::Function").items()
            if r["Properties"].get("Description") == description
        ]
        return found

    def role_statements(self, function_id: str) -> list[dict[str, Any]]:
        """Every statement of the inline policies attached to ``function_id``'s role."""
        role_id = self.props(function_id)["Role"]["Fn::GetAtt"][0]
        statements = []
        for policy in self.of_type("AWS::IAM::Policy").values():
            if {"Ref": role_id} in policy["Properties"]["Roles"]:
                statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
        return statements

    def event_sources_of(self, function_id: str) -> list[dict[str, Any]]:
        return [
            r["Properties"]
            for r in self.of_type("AWS::Lambda::EventSourceMapping").values()
            if r["Properties"]["FunctionName"] == {"Ref": function_id}
        ]


def render(value: Any) -> str:
    """A CloudFormation value as text, intrinsics as placeholders: Ref X -> <X>, GetAtt X.Y -> <X.Y>."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Ref" in value:
        return f"<{value['Ref']}>"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return "<{}.{}>".format(*value["Fn::GetAtt"])
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(render(part) for part in parts)
    raise AssertionError(f"cannot render {value!r}")


def render_nested(value: Any, parent: CfnView) -> str:
    """A nested template's value as text, each of its parameters replaced by what ``parent`` passes
    its nested stacks (rendered in the parent: the router's name is ``<its logical id>``)."""
    passed: dict[str, Any] = {}
    for stack in parent.of_type("AWS::CloudFormation::Stack").values():
        passed.update(stack["Properties"].get("Parameters", {}))

    def substitute(node: Any) -> Any:
        if isinstance(node, dict) and set(node) == {"Ref"} and node["Ref"] in passed:
            return passed[node["Ref"]]
        if isinstance(node, dict):
            return {key: substitute(item) for key, item in node.items()}
        if isinstance(node, list):
            return [substitute(item) for item in node]
        return node

    return render(substitute(value))


def resource_arns(statement: dict[str, Any]) -> list[str]:
    resources = statement["Resource"]
    return [render(r) for r in (resources if isinstance(resources, list) else [resources])]


def actions(statement: dict[str, Any]) -> list[str]:
    acts = statement["Action"]
    return acts if isinstance(acts, list) else [acts]
