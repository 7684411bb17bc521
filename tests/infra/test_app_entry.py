"""test_app_entry.py -- app.py / infra.app: context, clear failures, and synthesis as the CLI runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from infra_testkit import app_context

from runfox_cdk import app as infra_app
from runfox_core.aws.config import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_a_missing_layer_folder_says_to_run_make_layer(asset_dirs: dict[str, Path], tmp_path: Path) -> None:
    # Given a layer folder that `make layer` has not built
    context = app_context(asset_dirs, **{infra_app.CONTEXT_LAYER_DIR: str(tmp_path / "nowhere")})
    # When the app is built / Then the error tells the user what to run
    with pytest.raises(ConfigError, match="run `make layer`"):
        infra_app.build_app(context=context)


def test_a_missing_lambdas_folder_is_named(asset_dirs: dict[str, Path], tmp_path: Path) -> None:
    # Given no Lambda code folder / When the app is built / Then the folder is named
    context = app_context(asset_dirs, **{infra_app.CONTEXT_LAMBDAS_DIR: str(tmp_path / "gone")})
    with pytest.raises(ConfigError, match="Lambda code folder .*gone is missing"):
        infra_app.build_app(context=context)


def test_an_unknown_removal_policy_is_refused(asset_dirs: dict[str, Path]) -> None:
    # Given a removal policy context value that is not retain/destroy
    context = app_context(asset_dirs, **{infra_app.CONTEXT_REMOVAL_POLICY: "snapshot"})
    # When the app is built / Then the error names the context key and the choices
    with pytest.raises(ConfigError, match=r"runfox:removalPolicy must be one of \['destroy', 'retain'\]"):
        infra_app.build_app(context=context)


def run_app_py(context: dict[str, object], outdir: Path) -> subprocess.CompletedProcess[str]:
    """Run app.py the way the CDK CLI does: context and output folder in the environment."""
    env = {**os.environ, "CDK_OUTDIR": str(outdir), "CDK_CONTEXT_JSON": json.dumps(context)}
    return subprocess.run(
        [sys.executable, "app.py"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_app_py_exits_with_a_one_line_message_on_bad_config(asset_dirs: dict[str, Path], tmp_path: Path) -> None:
    # Given the CDK CLI's environment pointing at a missing layer folder
    context = app_context(asset_dirs, **{infra_app.CONTEXT_LAYER_DIR: str(tmp_path / "nowhere")})
    # When app.py runs
    result = run_app_py(context, tmp_path / "out")
    # Then it exits non-zero with the message and no traceback
    assert result.returncode == 1
    assert "run `make layer` first" in result.stderr
    assert "Traceback" not in result.stderr


def test_app_py_synthesizes_into_the_cli_output_folder_with_the_removal_policy_context(
        asset_dirs: dict[str, Path], tmp_path: Path) -> None:
    # Given the CDK CLI's environment with valid folders and removalPolicy=destroy, as
    # `cdk deploy -c runfox:removalPolicy=destroy` passes it (one synthesis, with nag, proves both)
    outdir = tmp_path / "out"
    context = app_context(asset_dirs, **{infra_app.CONTEXT_REMOVAL_POLICY: "destroy"})
    # When app.py runs
    result = run_app_py(context, outdir)
    # Then the stack template lands where the CLI asked, with no nag findings
    assert result.returncode == 0, result.stderr
    template = json.loads((outdir / "Runfox.template.json").read_text())
    assert template["Outputs"]["StartFunctionName"]
    report = json.loads((outdir / "validation-report.json").read_text())
    assert report["pluginReports"] == []
    # And the tables are deleted with the stack
    policies = {r["DeletionPolicy"] for r in template["Resources"].values() if r["Type"] == "AWS::DynamoDB::Table"}
    assert policies == {"Delete"}


def test_cdk_json_runs_the_app_with_the_project_venv_and_the_recommended_flags() -> None:
    # Given cdk.json
    document = json.loads((REPO_ROOT / "cdk.json").read_text())
    # Then `npx aws-cdk@2 ...` runs app.py with the venv's Python (no activation needed)
    assert document["app"] == ".venv/bin/python app.py"
    # And its context matches the app's defaults, plus CDK feature flags
    context = infra_app.cdk_json_context(REPO_ROOT / "cdk.json")
    assert context[infra_app.CONTEXT_REMOVAL_POLICY] == "retain"
    assert context["@aws-cdk/aws-lambda:recognizeLayerVersion"] is True
    # And it leaves the executors config path to $RUNFOX_EXECUTORS_CONFIG / executors.json
    assert infra_app.CONTEXT_EXECUTORS_CONFIG not in context
