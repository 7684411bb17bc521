"""test_external_app.py -- RunfoxEngine in a user's own CDK app, from the distribution's packages alone.

The app is the README's example ("In your own CDK app"), run as written.

The app lives in a temp folder outside this repository, with two executors
whose code is in that folder too. It runs in a fresh interpreter whose import
path holds only the packages pyproject.toml ships (copied out of the repo),
so it proves the constructs are usable once installed (``pip install
"runfox-core[cdk]"``), not just from a checkout.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from setuptools import find_packages

REPO = Path(__file__).resolve().parents[2]

README = REPO / "README.md"


def readme_block(first_line: str, language: str) -> str:
    """The README code block of ``language`` whose body starts with ``first_line``."""
    blocks = re.findall(r"^```" + language + r"[^\n]*\n(.*?)^```", README.read_text(), re.S | re.M)
    (found,) = [b for b in blocks if b.startswith(first_line)]
    return found


def shipped_packages() -> list[str]:
    """The packages pyproject.toml's setuptools configuration puts in the distribution."""
    settings = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    return find_packages(where=str(REPO), include=settings["include"])


def test_the_distribution_ships_the_constructs_and_the_deployment_facts() -> None:
    assert {"runfox_core", "runfox_cdk", "runfox_cdk.constructs", "runfox_deploy"} <= set(shipped_packages())


def test_a_users_own_cdk_app_deploys_two_executors_from_its_own_folders(tmp_path: Path) -> None:
    # Given only the shipped packages on the import path
    site = tmp_path / "site"
    for package in shipped_packages():
        if "." not in package:
            shutil.copytree(REPO / package, site / package, ignore=shutil.ignore_patterns("__pycache__"))
    # And a user's project outside this repository: an app, two services, a built layer
    project = tmp_path / "project"
    for folder, module in (("embed", "embed_main"), ("rank", "ranking")):
        (project / "services" / folder).mkdir(parents=True)
        (project / "services" / folder / f"{module}.py").write_text("def handler(event, context):\n    return {}\n")
    (project / "build" / "layer" / "python").mkdir(parents=True)
    app = readme_block("# app.py (your CDK app)", "python")  # the README's own example, run as written
    (project / "app.py").write_text(f"LAMBDAS = {str(REPO / 'lambdas')!r}\n" + app)
    # When the app synthesizes in a fresh interpreter
    environment = {**os.environ, "PYTHONPATH": str(site), "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    run = subprocess.run([sys.executable, "-B", "app.py"], cwd=project, env=environment,
                         capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    # Then each executor runs its own folder's handler, and its queue is named with the user's prefix
    templates = [json.loads(p.read_text()) for p in (project / "cdk.out").glob("*.template.json")]
    resources = [r for t in templates for r in t["Resources"].values()]
    handlers = {r["Properties"]["Handler"] for r in resources if r["Type"] == "AWS::Lambda::Function"}
    assert {"embed_main.handler", "ranking.handler"} <= handlers
    names = {r["Properties"].get("QueueName") for r in resources if r["Type"] == "AWS::SQS::Queue"}
    assert {"mysvc-embed", "mysvc-rank", "mysvc-embed-dlq", "mysvc-rank-dlq"} <= names


def test_the_readme_op_example_is_a_valid_executors_config() -> None:
    # Given the README's "Add an op" JSON / Then it parses, with every per-op field it shows
    from runfox_deploy.executors import parse_executors_config

    op = parse_executors_config(json.loads(readme_block('{"ops": {"summarise"', "json"))).ops["summarise"]
    assert (op.code, op.handler, op.reserved_concurrency) == ("services/summarise", "app.handler", 4)
