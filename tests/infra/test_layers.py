"""test_layers.py -- the layers are pinned to the versions the tests run, and rebuilt only when inputs change."""

from __future__ import annotations

import importlib.metadata
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from runfox_deploy import facts, layers

REPO = Path(__file__).resolve().parents[2]


def test_the_committed_pins_are_the_versions_installed_where_the_tests_run(tmp_path: Path) -> None:
    # Given the constraints file as committed, re-pinned from this venv in a copy
    committed = layers.pins(REPO)
    (tmp_path / "constraints").mkdir()
    shutil.copy(REPO / facts.LAYER_CONSTRAINTS, tmp_path / facts.LAYER_CONSTRAINTS)
    installed = layers.pin_from_environment(tmp_path)
    # Then every layer package and dependency is pinned, at exactly the installed version
    # (`make layer` rewrites the file; a stale commit fails here)
    assert {"aws-lambda-powertools", "pyyaml", "json-logic-path", "jsonpath-ng", "aws-xray-sdk"} <= set(installed)
    assert {name: committed.get(name) for name in installed} == installed


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_package_of_the_dev_install_is_pinned_at_the_version_installed() -> None:
    # Given constraints/dev.txt, which `make install` passes to pip with -c
    pinned = {}
    for line in (REPO / "constraints" / "dev.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pinned[_canonical(name)] = version
    # When the venv the tests run in is read
    installed = {_canonical(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()}
    installed.pop("runfox-core", None)  # this project, installed editable
    for tool in ("pip", "setuptools", "wheel"):  # the venv's own, not the project's
        installed.pop(tool, None)
    # Then what deploy and the tests use is exactly what is pinned (`make lock` rewrites the file)
    assert {"aws-cdk-lib", "constructs", "cdk-nag", "boto3", "moto", "pytest"} <= set(pinned)
    assert {name: pinned.get(name) for name in installed} == installed


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, list[Path]]:
    """A project whose pip installs are recorded instead of run (no network in tests)."""
    shutil.copytree(REPO / "runfox_core", tmp_path / "runfox_core", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "constraints").mkdir()
    (tmp_path / facts.LAYER_CONSTRAINTS).write_text("pyyaml==6.0.4\n")
    (tmp_path / "executors.json").write_text(json.dumps({"ops": {
        "a": {"handler": "m.f", "requirements": ["httpx==0.27.2"]},
        "b": {"handler": "m.f", "requirements": ["httpx==0.27.2"]},
        "c": {"handler": "m.f"}}}))
    installs: list[Path] = []

    def fake_install(folder: Path, *args: Any) -> None:
        installs.append(folder)
        shutil.rmtree(folder, ignore_errors=True)  # as the real install starts afresh
        (folder / "python").mkdir(parents=True)

    monkeypatch.setattr(layers, "_pip_install", fake_install)
    return tmp_path, installs


def test_a_layer_is_built_once_and_rebuilt_only_when_its_inputs_change(project: tuple[Path, list[Path]]) -> None:
    root, installs = project
    config = root / "executors.json"
    # When the layers are built twice / Then the shared layer and the one requirements set are built once
    first = layers.build(root, config)
    assert len(first) == 2 and (root / facts.LAYER_DIR / "python" / "runfox_core").is_dir()
    assert layers.build(root, config) == []
    # When runfox_core changes / Then only the shared layer is rebuilt
    (root / "runfox_core" / "added.py").write_text("X = 1\n")
    assert layers.build(root, config) == [root / facts.LAYER_DIR]
    # When a pin changes / Then everything is rebuilt
    (root / facts.LAYER_CONSTRAINTS).write_text("pyyaml==6.0.3\n")
    assert len(layers.build(root, config)) == 2


def test_make_synth_builds_the_layer_first() -> None:
    # Given a dry run of `make synth` / Then the layers are built (when stale) before app.py synthesizes
    plan = subprocess.run(["make", "-n", "synth"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert plan.index("runfox_deploy.layers") < plan.index("app.py")
