"""test_engine_composition.py -- RunfoxEngine used directly in a user's own stack."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk import App, RemovalPolicy, Stack
from aws_cdk.assertions import Match, Template
from infra_testkit import render

from infra import RunfoxEngine
from runfox_core.aws import config
from runfox_core.aws.config import ConfigError, OpConfig, ResultsConfig


@pytest.fixture()
def user_stack(asset_dirs: dict[str, Path]) -> tuple[Stack, RunfoxEngine]:
    stack = Stack(App(), "UserStack")
    engine = RunfoxEngine(
        stack,
        "Runfox",
        layer_dir=asset_dirs["layer"],
        lambdas_dir=asset_dirs["lambdas"],
        removal_policy=RemovalPolicy.DESTROY,
        log_level="DEBUG",
    )
    return stack, engine


def test_ops_added_after_construction_reach_the_queue_map_and_the_router(
    user_stack: tuple[Stack, RunfoxEngine],
) -> None:
    # Given an engine built with no ops
    stack, engine = user_stack
    # When the user adds ops afterwards, one handled here and one by an outside worker
    greet = engine.add_executor("greet", OpConfig(handler="executors.greeting.handler", step_timeout_seconds=9))
    embed = engine.add_executor("embed", OpConfig(external_queue=True))
    template = Template.from_stack(stack)
    # Then the start function's queue map and op defaults include both
    start = template.find_resources(
        "AWS::Lambda::Function", {"Properties": Match.object_like({"Handler": config.START_HANDLER})}
    )
    (env,) = [r["Properties"]["Environment"]["Variables"] for r in start.values()]
    assert list(json.loads(render(env[config.ENV_QUEUE_MAP]))) == ["greet", "embed"]
    assert json.loads(env[config.ENV_OP_DEFAULTS]) == {
        "greet": {"timeout_seconds": 9},
        "embed": {"timeout_seconds": None},
    }
    assert env[config.ENV_LOG_LEVEL] == "DEBUG"
    # And the router consumes the results queue plus both new DLQs
    template.resource_count_is("AWS::Lambda::EventSourceMapping", 1 + 2 + 1)
    # And the user gets handles to compose further
    assert greet.function is not None and greet.dlq is not None
    assert embed.function is None and embed.op_queue is not None
    assert list(engine.ops) == ["greet", "embed"]


def test_a_destroy_removal_policy_drops_deletion_protection(user_stack: tuple[Stack, RunfoxEngine]) -> None:
    # Given an engine created with RemovalPolicy.DESTROY (a dev stack)
    stack, _ = user_stack
    template = Template.from_stack(stack)
    # Then tables are deleted with the stack and not deletion-protected
    tables = template.find_resources(
        "AWS::DynamoDB::Table",
        {"DeletionPolicy": "Delete", "Properties": Match.object_like({"DeletionProtectionEnabled": False})},
    )
    assert len(tables) == 2


def test_adding_the_same_op_twice_is_refused(user_stack: tuple[Stack, RunfoxEngine]) -> None:
    # Given an engine that already runs "greet"
    _, engine = user_stack
    engine.add_executor("greet", OpConfig(handler="m.f"))
    # When "greet" is added again / Then the engine refuses, naming the op
    with pytest.raises(ConfigError, match="op 'greet' is already added"):
        engine.add_executor("greet", OpConfig(handler="m.f"))


def test_an_invalid_op_is_refused_before_anything_is_created(user_stack: tuple[Stack, RunfoxEngine]) -> None:
    # Given an engine / When an op with an invalid name or value is added
    _, engine = user_stack
    with pytest.raises(ConfigError, match="op name must match"):
        engine.add_executor("no spaces", OpConfig(handler="m.f"))
    with pytest.raises(ConfigError, match="field 'memory_mb'"):
        engine.add_executor("greet", OpConfig(handler="m.f", memory_mb=64))
    # Then no op was registered
    assert engine.ops == {}


def test_invalid_results_consumption_is_refused(asset_dirs: dict[str, Path]) -> None:
    # Given results settings built in code with an out-of-range batch size
    # When an engine is created with them / Then the error names the field
    with pytest.raises(ConfigError, match="results, field 'batch_size'"):
        RunfoxEngine(
            Stack(App(), "Bad"),
            "Runfox",
            layer_dir=asset_dirs["layer"],
            lambdas_dir=asset_dirs["lambdas"],
            results=ResultsConfig(batch_size=0),
        )
