"""test_scale.py -- 1, 50 and 200 ops synthesize within Lambda's and CloudFormation's limits, cfn-lint clean
(200 in ``test_scale_200.py``).

Each size is synthesized once (the 200-op app takes about half a minute), through
the real entry point with cdk-nag. Environment sizes are measured with the
values CloudFormation would fill in replaced by realistic ones (a queue URL,
a table name), since tokens are short placeholders in the template.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from infra_testkit import CfnView, app_context, load_templates

from runfox_cdk.app import build_app
from runfox_deploy import facts

REALISTIC = {  # what an intrinsic becomes at deploy, at its longest plausible size
    "queue_url": "https://sqs.ap-southeast-2.amazonaws.com/123456789012/Runfox-EngineResultsQueue0123456789-AbCdEfGhIjKl",
    "name": "Runfox-EngineTablesWorkflows0123456789ABCDEF-ABCDEFGHIJKLM",
}
#: cfn-lint warnings we accept, each with its reason.
ACCEPTED_WARNINGS: dict[str, str] = {
    "W3005": "aws-cdk-lib writes DependsOn the function's role next to the GetAtt of the same role; "
             "redundant, harmless, and not ours to remove (lambda.Function adds it for every role it is given).",
}


def _ops(count: int) -> dict[str, Any]:
    return {"ops": {f"op_{i:03d}_summarise_documents": {"handler": "executors.greeting.handler"}
                    for i in range(count)}}


def synthesize(count: int, asset_dirs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[int, Path]:
    """The app of ``count`` ops, synthesized through the real entry point; its op count and cloud assembly."""
    root = tmp_path_factory.mktemp(f"ops{count}")
    config_path = root / "executors.json"
    config_path.write_text(json.dumps(_ops(count)))
    context = app_context({**asset_dirs, "config": config_path})
    assembly = build_app(context=context, outdir=str(root / "cdk.out")).synth()
    return count, Path(assembly.directory)


# 1 and 50 ops here; 200 in test_scale_200.py, which runs these tests on it, so that the two files'
# syntheses (about half a minute for 200) go to the two test workers (``make test-infra``: by file)
@pytest.fixture(scope="module", params=[1, 50])
def synthesized_app(request: pytest.FixtureRequest, asset_dirs: dict[str, Path],
                    tmp_path_factory: pytest.TempPathFactory) -> tuple[int, Path]:
    return synthesize(request.param, asset_dirs, tmp_path_factory)


def rendered_size(value: Any) -> int:
    """Bytes of an environment value once CloudFormation has filled in its intrinsics."""
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return len(separator) * (len(parts) - 1) + sum(rendered_size(p) for p in parts)
    if isinstance(value, dict) and ("Fn::GetAtt" in value or "Ref" in value):
        ref = json.dumps(value)
        return len(REALISTIC["queue_url"] if "Queue" in ref else REALISTIC["name"])
    raise AssertionError(f"cannot size {value!r}")


def test_every_function_environment_is_under_4_kb_with_realistic_values(synthesized_app: tuple[int, Path]) -> None:
    # Given the app with N ops
    count, directory = synthesized_app
    functions = 0
    for name, view in load_templates(directory).items():
        for logical_id, function in view.of_type("AWS::Lambda::Function").items():
            variables = function["Properties"].get("Environment", {}).get("Variables", {})
            size = sum(len(key) + rendered_size(value) for key, value in variables.items())
            # Then each function's variables fit Lambda's limit with room to spare
            assert size < facts.LAMBDA_ENVIRONMENT_MAX_BYTES // 2, (name, logical_id, size)
            functions += 1
    assert functions == 3 + count


def test_every_template_is_within_cloudformation_limits(synthesized_app: tuple[int, Path]) -> None:
    # Given every template of the app (the parent and its nested stacks)
    count, directory = synthesized_app
    templates = load_templates(directory)
    # Then the ops are spread over ceil(N / OPS_PER_STACK) nested stacks
    assert len(templates) == 1 + -(-count // facts.OPS_PER_STACK)
    for name, view in templates.items():
        size = (directory / name).stat().st_size
        # And each stays well inside the per-stack limits
        assert len(view.resources) <= facts.CFN_MAX_RESOURCES * 0.8, (name, len(view.resources))
        assert len(view.outputs) <= facts.CFN_MAX_OUTPUTS, name
        assert len(view.document.get("Parameters", {})) <= facts.CFN_MAX_PARAMETERS, name
        assert size <= facts.CFN_MAX_TEMPLATE_BYTES, (name, size)


def test_the_parent_template_does_not_grow_with_the_ops(synthesized_app: tuple[int, Path]) -> None:
    # Given the parent stack of the app
    count, directory = synthesized_app
    parent = CfnView(json.loads((directory / "Runfox.template.json").read_text()))
    nested = len(parent.of_type("AWS::CloudFormation::Stack"))
    # Then besides one resource per nested stack it holds the same engine at any size
    assert len(parent.resources) - nested == ENGINE_RESOURCES
    assert len(parent.outputs) == 8


ENGINE_RESOURCES = 34  # the workflows table, the values bucket + its policy, results queue + DLQ + policies, layer, 3 functions, roles, the router's async invoke config, alarms, topic, dashboard


def test_cfn_lint_finds_no_error_and_no_unaccepted_warning(synthesized_app: tuple[int, Path]) -> None:
    # Given the parent template and one nested stack of ops (every nested stack is
    # built by the same code from OPS_PER_STACK ops; linting 10 copies costs minutes)
    _, directory = synthesized_app
    paths = [str(directory / "Runfox.template.json"), str(sorted(directory.glob("*.nested.template.json"))[-1])]
    # When AWS's own linter reads them
    lint = subprocess.run([str(Path(sys.executable).parent / "cfn-lint"), "--format", "json", *paths],
                          capture_output=True, text=True, check=False)
    findings = json.loads(lint.stdout or "[]")
    # Then there is no error, and every warning is one we accepted with a reason
    errors = [f for f in findings if f["Level"] == "Error"]
    warnings = [f for f in findings if f["Level"] == "Warning" and f["Rule"]["Id"] not in ACCEPTED_WARNINGS]
    assert not errors, [(f["Rule"]["Id"], f["Message"]) for f in errors[:3]]
    assert not warnings, [(f["Rule"]["Id"], f["Message"]) for f in warnings[:3]]
