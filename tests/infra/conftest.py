"""conftest.py -- one synthesized test stack shared by the whole infra tier.

Synthesis costs seconds, so the stack is built once per session, through the
real entry point (``infra.app.build_app``, cdk-nag included), from temp
folders standing in for ``build/layer`` and ``lambdas/`` and a small executors
config that covers every kind of op: Lambda handlers (one batching above 10),
an external worker with a queue we create, and an imported queue.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# jsii (under aws-cdk-lib) prints a banner on Node 20; set before aws_cdk loads.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from aws_cdk import Stack  # noqa: E402
from aws_cdk.assertions import Template  # noqa: E402
from infra_testkit import TEST_EXECUTORS, CfnView, app_context, load_templates  # noqa: E402

from runfox_cdk.app import build_app  # noqa: E402


@pytest.fixture(scope="session")
def asset_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A layer folder (with python/) and a lambdas folder, as `make layer` and the handlers would leave."""
    root = tmp_path_factory.mktemp("assets")
    (root / "layer" / "python").mkdir(parents=True)
    (root / "layer" / "python" / "placeholder.py").write_text("")
    (root / "lambdas" / "executors").mkdir(parents=True)
    (root / "lambdas" / "start.py").write_text("def handler(event, context):\n    return None\n")
    (root / "lambdas" / "executors" / "greeting.py").write_text("def handler(event, context):\n    return None\n")
    config_path = root / "executors.json"
    config_path.write_text(json.dumps(TEST_EXECUTORS))
    return {"layer": root / "layer", "lambdas": root / "lambdas", "config": config_path, "root": root}


@pytest.fixture(scope="session")
def synthesized(asset_dirs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, Path]]:
    """The test stack and its cloud assembly folder; synthesis runs the cdk-nag checks."""
    app = build_app(context=app_context(asset_dirs), outdir=str(tmp_path_factory.mktemp("cdk.out")))
    assembly = app.synth()
    (stack,) = [child for child in app.node.children if isinstance(child, Stack)]
    yield stack, Path(assembly.directory)


@pytest.fixture(scope="session")
def templates(synthesized: tuple[Stack, Path]) -> dict[str, CfnView]:
    """Every template of the assembly (the parent and its nested stacks): file name -> view."""
    _, directory = synthesized
    return load_templates(directory)


@pytest.fixture(scope="session")
def template(synthesized: tuple[Stack, Path]) -> Template:
    stack, _ = synthesized
    return Template.from_stack(stack)


@pytest.fixture(scope="session")
def cfn(template: Template) -> CfnView:
    """The same template as a dict, with lookup helpers."""
    return CfnView(template.to_json())
