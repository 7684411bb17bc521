"""test_executors_config.py -- the executors config loader: what loads, and what each error names."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from infra_testkit import LEGACY_ARN, TEST_EXECUTORS

from runfox_core.aws import config
from runfox_core.aws.config import ConfigError
from runfox_core.errors import RunfoxError
from runfox_deploy import executors, facts
from runfox_deploy.executors import (
    OpConfig,
    ResultsConfig,
    load_executors_config,
    parse_executors_config,
    validate_op,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


def with_op(op: str, **fields: Any) -> dict[str, Any]:
    """A config with one op whose entry is ``fields``."""
    return {"ops": {op: fields}}


def test_the_repository_executors_json_declares_the_greeting_ops() -> None:
    # Given the executors.json shipped at the repository root
    # When it is loaded
    loaded = load_executors_config(REPO_ROOT / facts.DEFAULT_EXECUTORS_CONFIG)
    # Then both greeting ops run the greeting handler in lambdas/executors/greeting.py
    assert set(loaded.ops) >= {"make_greeting", "shout"}
    assert loaded.ops["make_greeting"].handler == "executors.greeting.handler"
    assert loaded.ops["shout"].handler == "executors.greeting.handler"


def test_a_valid_file_loads_with_defaults_merged_under_every_op(tmp_path: Path) -> None:
    # Given the test config written to a file
    path = tmp_path / "executors.json"
    path.write_text(json.dumps(TEST_EXECUTORS))
    # When it is loaded
    loaded = load_executors_config(path)
    # Then defaults fill what an op leaves out, and op values win
    assert loaded.ops["make_greeting"] == OpConfig(
        handler="executors.greeting.handler",
        memory_mb=256,
        lambda_timeout_seconds=20,
        batch_size=5,
        max_concurrency=5,
        max_receive_count=3,
    )
    assert loaded.ops["shout"].memory_mb == 128
    assert loaded.ops["shout"].step_timeout_seconds == 60
    # And external ops are told apart: one gets a queue created, one imports an existing queue
    assert loaded.ops["gpu_embed"].handler is None and loaded.ops["gpu_embed"].imported_queue is None
    assert loaded.ops["legacy"].imported_queue == LEGACY_ARN
    assert loaded.results == ResultsConfig(batch_size=10, max_concurrency=4, max_receive_count=5)


def test_the_path_defaults_to_the_environment_variable_then_executors_json() -> None:
    # Given / When / Then: the env var wins, else the default file name
    assert executors.executors_config_path({config.ENV_EXECUTORS_CONFIG: "/x/ops.json"}) == Path("/x/ops.json")
    assert executors.executors_config_path({}) == Path("executors.json")


def test_the_visibility_timeout_defaults_to_six_times_the_function_timeout() -> None:
    # Given an op with a 30 s function timeout and no visibility timeout
    op = OpConfig(handler="m.f", lambda_timeout_seconds=30)
    # Then its queue hides a received job for 180 s (AWS advice: 6 x timeout)
    assert op.queue_visibility_timeout_seconds == 180


@pytest.mark.parametrize(
    ("fields", "field", "fragment"),
    [
        ({"handler": "m.f", "memory_mb": 64}, "memory_mb", "from 128 to 10240"),
        ({"handler": "m.f", "memory_mb": 10241}, "memory_mb", "from 128 to 10240"),
        ({"handler": "m.f", "memory_mb": "256"}, "memory_mb", "integer"),
        ({"handler": "m.f", "memory_mb": True}, "memory_mb", "integer"),
        ({"handler": "m.f", "lambda_timeout_seconds": 0}, "lambda_timeout_seconds", "from 1 to 900"),
        ({"handler": "m.f", "lambda_timeout_seconds": 901}, "lambda_timeout_seconds", "from 1 to 900"),
        ({"handler": "m.f", "batch_size": 0}, "batch_size", "from 1 to 10000"),
        ({"handler": "m.f", "batch_size": 10001}, "batch_size", "from 1 to 10000"),
        ({"handler": "m.f", "batch_size": 11}, "batch_size", "max_batching_window_seconds"),
        ({"handler": "m.f", "max_batching_window_seconds": 301}, "max_batching_window_seconds", "0 to 300"),
        ({"handler": "m.f", "max_concurrency": 1}, "max_concurrency", "from 2 to 1000 or null"),
        ({"handler": "m.f", "max_receive_count": 0}, "max_receive_count", "from 1 to 1000"),
        ({"handler": "m.f", "visibility_timeout_seconds": 43201}, "visibility_timeout_seconds", "43200"),
        (
            {"handler": "m.f", "lambda_timeout_seconds": 60, "visibility_timeout_seconds": 30},
            "visibility_timeout_seconds",
            ">= lambda_timeout_seconds",
        ),
        ({"handler": "m.f", "step_timeout_seconds": 0}, "step_timeout_seconds", "> 0"),
        ({"handler": "m.f", "step_timeout_seconds": "soon"}, "step_timeout_seconds", "> 0"),
        ({"handler": "m.f", "colour": "red"}, "colour", "unknown key"),
        ({"handler": "greeting"}, "handler", "module.function"),
        ({"handler": "executors/greeting.handler"}, "handler", "module.function"),
        ({}, "handler", "handler (module.function) or external_queue"),
        ({"handler": "m.f", "external_queue": True}, "handler", "not both"),
        ({"external_queue": "my.queue.fifo"}, "external_queue", "standard SQS queue name or ARN"),
        ({"external_queue": 3}, "external_queue", "standard SQS queue name or ARN"),
        ({"external_queue": True, "memory_mb": 512}, "memory_mb", "does not apply to an external worker"),
        ({"external_queue": "jobs", "max_receive_count": 4}, "max_receive_count", "does not apply"),
    ],
)
def test_every_invalid_op_field_is_reported_with_the_op_and_field_named(
    fields: dict[str, Any], field: str, fragment: str
) -> None:
    # Given a config whose single op has one bad field
    document = with_op("shout", **fields)
    # When it is parsed
    with pytest.raises(ConfigError) as caught:
        parse_executors_config(document, source="ops.json")
    # Then the error names the file, the op and the field, and says what is wrong
    message = str(caught.value)
    assert message.startswith("ops.json: op 'shout', field ")
    assert f"field {field!r}" in message
    assert fragment in message
    assert (caught.value.op, caught.value.field) == ("shout", field)


@pytest.mark.parametrize("name", ["", "has space", "dot.ted", "slash/y", "x" * 65, "é"])
def test_an_op_name_must_be_a_dispatch_token(name: str) -> None:
    # Given an op whose name is not a dispatch token
    # When it is parsed / Then the error names the op and the rule
    with pytest.raises(ConfigError, match=r"op name must match \^\[A-Za-z0-9_-\]\{1,64\}\$") as caught:
        parse_executors_config(with_op(name, handler="m.f"))
    assert caught.value.op == name


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        ([], "must be a JSON object"),
        ({}, "missing 'ops'"),
        ({"ops": []}, "'ops' must be an object"),
        ({"ops": {"a": "m.f"}}, "op 'a' must be an object"),
        ({"ops": {}, "extras": {}}, "top level, field 'extras': unknown key"),
        ({"ops": {}, "defaults": {"handler": "m.f"}}, "defaults, field 'handler': unknown key"),
        ({"ops": {}, "defaults": {"memory_mb": 1}}, "defaults, field 'memory_mb'"),
        ({"ops": {}, "results": {"batch_size": 0}}, "results, field 'batch_size'"),
        ({"ops": {}, "results": {"memory_mb": 256}}, "results, field 'memory_mb': unknown key"),
    ],
)
def test_structural_errors_name_the_section_at_fault(document: Any, fragment: str) -> None:
    # Given a malformed document / When it is parsed / Then the message says where
    with pytest.raises(ConfigError) as caught:
        parse_executors_config(document)
    assert fragment in str(caught.value)


def test_a_duplicate_op_in_the_file_is_an_error_not_a_silent_override(tmp_path: Path) -> None:
    # Given a file declaring "shout" twice (json.loads would keep the last)
    path = tmp_path / "executors.json"
    path.write_text('{"ops": {"shout": {"handler": "a.b"}, "shout": {"handler": "c.d"}}}')
    # When it is loaded / Then the duplicate is reported
    with pytest.raises(ConfigError, match="'shout' appears twice"):
        load_executors_config(path)


def test_unreadable_or_invalid_json_files_name_the_file(tmp_path: Path) -> None:
    # Given a missing file and a file that is not JSON
    broken = tmp_path / "broken.json"
    broken.write_text("{ops:")
    # When each is loaded / Then the error starts with the path
    with pytest.raises(ConfigError, match="missing.json: cannot read"):
        load_executors_config(tmp_path / "missing.json")
    with pytest.raises(ConfigError, match="broken.json: not valid JSON"):
        load_executors_config(broken)


def test_validate_op_checks_values_of_ops_built_in_code() -> None:
    # Given OpConfigs built in Python (as RunfoxEngine.add_executor receives them)
    # When they are validated / Then values and the handler choice are checked
    with pytest.raises(ConfigError, match="op 'gpu', field 'max_receive_count'"):
        validate_op("gpu", OpConfig(external_queue=True, max_receive_count=0))
    with pytest.raises(ConfigError, match="op 'gpu', field 'handler': needs a handler"):
        validate_op("gpu", OpConfig())
    # And sizing an external worker is harmless here (only a config file is linted for it)
    assert validate_op("gpu", OpConfig(external_queue=True, memory_mb=1024)).external_queue is True


def test_config_errors_belong_to_the_runfox_hierarchy() -> None:
    # Given / When / Then: callers can catch every runfox failure as one
    assert issubclass(ConfigError, RunfoxError)
    assert issubclass(ConfigError, ValueError)


def test_the_older_name_timeout_seconds_still_sets_the_lambda_timeout() -> None:
    parsed = parse_executors_config({"defaults": {"timeout_seconds": 45}, "ops": {"a": {"handler": "m.f"},
                                                                                  "b": {"handler": "m.f", "timeout_seconds": 50}}})
    assert (parsed.ops["a"].lambda_timeout_seconds, parsed.ops["b"].lambda_timeout_seconds) == (45, 50)


def test_both_names_of_the_lambda_timeout_at_once_are_refused_naming_the_op() -> None:
    with pytest.raises(ConfigError, match="op 'a'.*'timeout_seconds': is the older name of 'lambda_timeout_seconds'"):
        parse_executors_config({"ops": {"a": {"handler": "m.f", "timeout_seconds": 5, "lambda_timeout_seconds": 6}}})
