"""test_settings_env.py -- Settings: the engine's environment plus the ops manifest, read once and checked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runfox_core.aws import config
from runfox_core.aws.config import ConfigError, OpDefaults, Settings
from runfox_deploy import facts
from runfox_deploy.executors import parse_executors_config
from runfox_deploy.topology import Topology, engine_environment

BASE = "https://sqs.eu-west-1.amazonaws.com/123456789012/"
LEGACY_ARN = "arn:aws:sqs:eu-west-1:210987654321:legacy-jobs"
EXECUTORS = parse_executors_config({"ops": {
    "make_greeting": {"handler": "executors.greeting.handler"},
    "shout": {"handler": "executors.greeting.handler", "step_timeout_seconds": 60},
    "legacy": {"external_queue": LEGACY_ARN},
    "nearby": {"external_queue": "nearby-jobs"},
}})


def environment(tmp_path: Path, manifest: object = None, **extra: str) -> dict[str, str]:
    plan = Topology(EXECUTORS, "Runfox-")
    path = tmp_path / facts.OPS_MANIFEST_FILE
    path.write_text(plan.ops_manifest_json() if manifest is None else json.dumps(manifest))
    env = engine_environment(workflows_table="wf", results_queue_url=BASE + "results",
                             queue_url_base=BASE, ops_file=facts.OPS_MANIFEST_FILE)
    return {**env, config.ENV_LAMBDA_TASK_ROOT: str(tmp_path), **extra}


def test_op_queue_urls_are_derived_from_the_prefix_and_imported_queues_keep_theirs(tmp_path: Path) -> None:
    # Given the environment and manifest the stack renders
    settings = Settings.from_env(environment(tmp_path))
    # Then an owned op's URL is base + prefix + op; an imported ARN becomes its own URL
    assert settings.queue_map == {
        "make_greeting": BASE + "Runfox-make_greeting",
        "shout": BASE + "Runfox-shout",
        "legacy": "https://sqs.eu-west-1.amazonaws.com/210987654321/legacy-jobs",
        "nearby": BASE + "nearby-jobs",
    }
    # And step timeouts come from the manifest
    assert settings.op_defaults["shout"] == OpDefaults(timeout_seconds=60)
    assert settings.engine_op_defaults() == {"shout": {"timeout_seconds": 60}}
    assert settings.execution_ttl_seconds == config.DEFAULT_EXECUTION_RETENTION_DAYS * 86_400


@pytest.mark.parametrize("missing", [config.ENV_WORKFLOWS_TABLE, config.ENV_RESULTS_QUEUE_URL,
                                     config.ENV_QUEUE_URL_BASE, config.ENV_OPS_FILE])
def test_a_missing_variable_is_named(tmp_path: Path, missing: str) -> None:
    env = environment(tmp_path)
    del env[missing]
    with pytest.raises(ConfigError, match=missing):
        Settings.from_env(env)


@pytest.mark.parametrize(("manifest", "fragment"), [
    ({"queue_prefix": "p-"}, "must be an object with"),
    ({"queue_prefix": "", "ops": {}}, "queue_prefix"),
    ({"queue_prefix": "p-", "ops": {"bad op": {}}}, "not a dispatch token"),
    ({"queue_prefix": "p-", "ops": {"a": {"timeout_seconds": -1}}}, "timeout_seconds must be > 0"),
    ({"queue_prefix": "p-", "ops": {"a": {"colour": 1}}}, "op 'a' must be an object of"),
])
def test_a_bad_manifest_is_refused_naming_the_entry(tmp_path: Path, manifest: object, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        Settings.from_env(environment(tmp_path, manifest))


def test_a_missing_manifest_file_is_named(tmp_path: Path) -> None:
    env = environment(tmp_path, **{config.ENV_OPS_FILE: str(tmp_path / "nowhere.json")})
    with pytest.raises(ConfigError, match="nowhere.json"):
        Settings.from_env(env)


@pytest.mark.parametrize(("name", "raw"), [(config.ENV_EXECUTION_RETENTION_DAYS, "0"),
                                           (config.ENV_EXECUTION_RETENTION_DAYS, "a week"),
                                           (config.ENV_UNSENT_GRACE_SECONDS, "-1")])
def test_a_bad_number_is_refused_naming_the_variable(tmp_path: Path, name: str, raw: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env(environment(tmp_path, **{name: raw}))


def test_the_engine_environment_does_not_grow_with_the_ops() -> None:
    # Given the environment rendered for 1 and for 200 ops
    one = engine_environment(workflows_table="w", results_queue_url="u", queue_url_base="b",
                             ops_file="f")
    # Then it has no per-op variable at all: the same keys, whatever the ops
    assert set(one) == {config.ENV_WORKFLOWS_TABLE, config.ENV_RESULTS_QUEUE_URL, config.ENV_QUEUE_URL_BASE,
                        config.ENV_OPS_FILE, config.ENV_EXECUTION_RETENTION_DAYS}
