"""test_executors_anywhere.py -- an op's code, environment, secrets, IAM, dependencies and sizing.

Synth checks each handler without importing it (``check_code``), and renders
every per-op field into the executor's function, role and layers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Stack
from infra_testkit import CfnView

from runfox_cdk import RunfoxEngine
from runfox_core.aws.config import ConfigError
from runfox_deploy.executors import check_code, parse_executors_config
from runfox_deploy.layers import requirements_folder

SUMMARISE = {
    "code": "services/summarise",
    "handler": "app.handler",
    "environment": {"MODEL": "small"},
    "secrets": ["secretsmanager:prod/model-key", "ssm:/prod/model/url"],
    "policy_statements": [{"Action": "s3:GetObject", "Resource": "arn:aws:s3:::docs/*"}],
    "requirements": ["httpx==0.27.2"],
    "layers": ["arn:aws:lambda:eu-west-1:123456789012:layer:tools:3"],
    "memory_mb": 1024,
    "lambda_timeout_seconds": 120,
    "reserved_concurrency": 4,
    "architecture": "x86_64",
}


def project(root: Path) -> Path:
    """A user's project: its own service folder (a module whose import would fail here), and built layers."""
    (root / "services" / "summarise").mkdir(parents=True)
    (root / "services" / "summarise" / "app.py").write_text(
        "import a_heavy_dependency_not_installed\n\n\ndef handler(event, context):\n    return None\n")
    for layer in ("layer", "layer-x86_64"):
        (root / "build" / layer / "python").mkdir(parents=True)
    (root / "lambdas").mkdir()
    return root


def synth(root: Path, ops: dict[str, Any]) -> dict[str, CfnView]:
    executors = parse_executors_config({"ops": ops})
    for op in executors.ops.values():
        if op.requirements:
            (requirements_folder(root / "build" / "requirements", op) / "python").mkdir(parents=True, exist_ok=True)
    app = App(outdir=str(root / "cdk.out"))
    stack = Stack(app, "Runfox")
    RunfoxEngine(stack, "Engine", executors=executors, layer_dir=root / "build" / "layer",
                 lambdas_dir=root / "lambdas", project_root=root)
    directory = Path(app.synth().directory)
    return {p.name: CfnView(json.loads(p.read_text())) for p in directory.glob("*.template.json")}


@pytest.fixture(scope="module")
def nested(tmp_path_factory: pytest.TempPathFactory) -> CfnView:
    templates = synth(project(tmp_path_factory.mktemp("user")), {"summarise": SUMMARISE})
    (view,) = [v for name, v in templates.items() if "nested" in name]
    return view


def test_the_executor_gets_its_own_code_sizing_architecture_and_concurrency(nested: CfnView) -> None:
    (function,) = [f["Properties"] for f in nested.of_type("AWS::Lambda::Function").values()]
    assert function["Handler"] == "app.handler"
    assert (function["MemorySize"], function["Timeout"]) == (1024, 120)
    assert function["Architectures"] == ["x86_64"]
    assert function["ReservedConcurrentExecutions"] == 4
    assert function["Environment"]["Variables"]["MODEL"] == "small"
    # And three layers: the x86_64 runfox layer, its requirements layer, and the one it names
    assert len(function["Layers"]) == 3
    assert "arn:aws:lambda:eu-west-1:123456789012:layer:tools:3" in function["Layers"]
    (requirements,) = nested.of_type("AWS::Lambda::LayerVersion").values()
    assert requirements["Properties"]["CompatibleArchitectures"] == ["x86_64"]


def test_the_executor_role_reads_its_secrets_and_has_its_own_statements(nested: CfnView) -> None:
    statements = [s for p in nested.of_type("AWS::IAM::Policy").values()
                  for s in p["Properties"]["PolicyDocument"]["Statement"]]
    by_action = {json.dumps(s["Action"]): json.dumps(s["Resource"]) for s in statements}
    assert "secret:prod/model-key-??????" in by_action['"secretsmanager:GetSecretValue"']
    assert "parameter/prod/model/url" in by_action['"ssm:GetParameter"']
    assert by_action['"s3:GetObject"'] == '"arn:aws:s3:::docs/*"'


@pytest.mark.parametrize(("handler", "says"), [
    ("app.hander", "defines no top-level 'hander'"),
    ("mine.handler", "module 'mine' not found"),
])
def test_a_handler_that_does_not_exist_fails_synth_naming_the_op_and_field(tmp_path: Path, handler: str,
                                                                           says: str) -> None:
    root = project(tmp_path)
    ops = parse_executors_config({"ops": {"summarise": {"code": "services/summarise", "handler": handler}}}).ops
    with pytest.raises(ConfigError, match=says) as caught:
        check_code(ops, root)
    assert (caught.value.op, caught.value.field) == ("summarise", "handler")


def test_a_missing_code_folder_names_the_op_and_field(tmp_path: Path) -> None:
    ops = parse_executors_config({"ops": {"summarise": {"code": "nowhere", "handler": "app.handler"}}}).ops
    with pytest.raises(ConfigError, match="nowhere") as caught:
        check_code(ops, tmp_path)
    assert (caught.value.op, caught.value.field) == ("summarise", "code")


def test_a_missing_requirements_layer_says_to_run_make_layer(tmp_path: Path) -> None:
    root = project(tmp_path)
    executors = parse_executors_config({"ops": {"summarise": {**SUMMARISE, "architecture": "arm64"}}})
    stack = Stack(App(outdir=str(root / "cdk.out")), "Runfox")
    with pytest.raises(ConfigError, match="make layer") as caught:
        RunfoxEngine(stack, "Engine", executors=executors, layer_dir=root / "build" / "layer",
                     lambdas_dir=root / "lambdas", project_root=root)
    assert caught.value.field == "requirements"


@pytest.mark.parametrize(("fields", "field"), [
    ({"environment": {"AWS_REGION": "x"}}, "environment"),
    ({"environment": {"OK": 1}}, "environment"),
    ({"secrets": ["vault:x"]}, "secrets"),
    ({"policy_statements": [{"Action": "s3:*"}]}, "policy_statements"),
    ({"policy_statements": [{"Action": "s3:*", "Resource": "*", "Principal": "*"}]}, "policy_statements"),
    ({"requirements": ["--index-url=http://evil"]}, "requirements"),
    ({"layers": ["tools"]}, "layers"),
    ({"architecture": "sparc"}, "architecture"),
    ({"reserved_concurrency": -1}, "reserved_concurrency"),
    ({"secrets": "secretsmanager:x"}, "secrets"),
])
def test_a_bad_per_op_field_is_refused_naming_the_op_and_field(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_executors_config({"ops": {"summarise": {"handler": "app.handler", **fields}}})
    assert (caught.value.op, caught.value.field) == ("summarise", field)


def test_an_environment_past_4_kb_fails_synth_naming_the_op(tmp_path: Path) -> None:
    root = project(tmp_path)
    big = {"code": "services/summarise", "handler": "app.handler", "environment": {"BLOB": "x" * 4000}}
    with pytest.raises(ConfigError, match="Lambda allows 4096") as caught:
        synth(root, {"summarise": big})
    assert (caught.value.op, caught.value.field) == ("summarise", "environment")
