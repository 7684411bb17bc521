"""test_settings_env.py -- Settings.from_env: reads every RUNFOX_* variable once, fails naming the bad one."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from runfox_core.aws import config
from runfox_core.aws.config import ConfigError, OpDefaults, Settings

QUEUE_MAP = {"make_greeting": "https://sqs.eu-west-1.amazonaws.com/1/greet", "shout": "https://sqs/1/shout"}


def environment(**overrides: str | None) -> dict[str, str]:
    """A complete, valid Lambda environment with ``overrides`` applied (None removes a variable)."""
    env = {
        config.ENV_WORKFLOWS_TABLE: "wf-table",
        config.ENV_TASKS_TABLE: "tasks-table",
        config.ENV_RESULTS_QUEUE_URL: "https://sqs/1/results",
        config.ENV_QUEUE_MAP: json.dumps(QUEUE_MAP),
        config.ENV_OP_DEFAULTS: json.dumps({"shout": {"timeout_seconds": 60}, "make_greeting": {}}),
        config.ENV_TASK_TTL_SECONDS: "3600",
    }
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def test_the_environment_variable_names_are_pinned() -> None:
    # Given / When / Then: infra, handlers and the emulator all rely on these exact names
    assert [
        config.ENV_WORKFLOWS_TABLE,
        config.ENV_TASKS_TABLE,
        config.ENV_RESULTS_QUEUE_URL,
        config.ENV_QUEUE_MAP,
        config.ENV_OP_DEFAULTS,
        config.ENV_TASK_TTL_SECONDS,
        config.ENV_EXECUTORS_CONFIG,
    ] == [
        "RUNFOX_WORKFLOWS_TABLE",
        "RUNFOX_TASKS_TABLE",
        "RUNFOX_RESULTS_QUEUE_URL",
        "RUNFOX_QUEUE_MAP",
        "RUNFOX_OP_DEFAULTS",
        "RUNFOX_TASK_TTL_SECONDS",
        "RUNFOX_EXECUTORS_CONFIG",
    ]
    assert (config.PARTITION_KEY, config.SORT_KEY, config.TASKS_TTL_ATTRIBUTE) == ("pk", "sk", "expires_at")


def test_a_complete_environment_is_read_into_settings() -> None:
    # Given a complete environment / When settings are read
    settings = Settings.from_env(environment())
    # Then every value is parsed
    assert settings == Settings(
        workflows_table="wf-table",
        tasks_table="tasks-table",
        results_queue_url="https://sqs/1/results",
        queue_map=QUEUE_MAP,
        op_defaults={"shout": OpDefaults(timeout_seconds=60), "make_greeting": OpDefaults(timeout_seconds=None)},
        task_ttl_seconds=3600,
    )


def test_op_defaults_and_task_ttl_are_optional() -> None:
    # Given an environment without the two optional variables
    env = environment(**{config.ENV_OP_DEFAULTS: None, config.ENV_TASK_TTL_SECONDS: None})
    # When settings are read / Then their defaults apply
    settings = Settings.from_env(env)
    assert settings.op_defaults == {}
    assert settings.task_ttl_seconds == config.DEFAULT_TASK_TTL_SECONDS


@pytest.mark.parametrize(
    "name",
    [config.ENV_WORKFLOWS_TABLE, config.ENV_TASKS_TABLE, config.ENV_RESULTS_QUEUE_URL, config.ENV_QUEUE_MAP],
)
@pytest.mark.parametrize("value", [None, "", "   "])
def test_a_missing_required_variable_is_named(name: str, value: str | None) -> None:
    # Given an environment missing (or blanking) one required variable
    # When settings are read / Then the error names that variable
    with pytest.raises(ConfigError, match=f"^{name} is not set"):
        Settings.from_env(environment(**{name: value}))


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        (config.ENV_QUEUE_MAP, "{not json", "RUNFOX_QUEUE_MAP is not valid JSON: "),
        (config.ENV_QUEUE_MAP, "[]", "RUNFOX_QUEUE_MAP must be a JSON object, got list"),
        (config.ENV_QUEUE_MAP, '{"bad token": "https://q"}', "'bad token' is not a dispatch token"),
        (config.ENV_QUEUE_MAP, '{"shout": ""}', "queue URL of 'shout' must be a non-empty string"),
        (config.ENV_QUEUE_MAP, '{"shout": 3}', "queue URL of 'shout' must be a non-empty string"),
        (config.ENV_OP_DEFAULTS, "nope", "RUNFOX_OP_DEFAULTS is not valid JSON"),
        (config.ENV_OP_DEFAULTS, '{"other": {}}', "op 'other' has no queue in RUNFOX_QUEUE_MAP"),
        (config.ENV_OP_DEFAULTS, '{"shout": 60}', "op 'shout' must be {\"timeout_seconds\""),
        (config.ENV_OP_DEFAULTS, '{"shout": {"retries": 2}}', "op 'shout' must be {\"timeout_seconds\""),
        (config.ENV_OP_DEFAULTS, '{"shout": {"timeout_seconds": -1}}', "timeout_seconds must be > 0"),
        (config.ENV_OP_DEFAULTS, '{"shout": {"timeout_seconds": true}}', "timeout_seconds must be > 0"),
        (config.ENV_TASK_TTL_SECONDS, "soon", "RUNFOX_TASK_TTL_SECONDS must be a whole number"),
        (config.ENV_TASK_TTL_SECONDS, "0", "RUNFOX_TASK_TTL_SECONDS must be a whole number"),
        (config.ENV_TASK_TTL_SECONDS, "-5", "RUNFOX_TASK_TTL_SECONDS must be a whole number"),
    ],
)
def test_an_invalid_variable_is_named_with_the_problem(name: str, value: str, fragment: str) -> None:
    # Given an environment with one invalid value / When settings are read
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(environment(**{name: value}))
    # Then the message names the variable and says what is wrong
    assert name in str(caught.value)
    assert fragment in str(caught.value)


def test_importing_the_config_module_pulls_in_neither_boto3_nor_aws_cdk() -> None:
    # Given a fresh interpreter / When only the config module is imported
    code = "import sys, runfox_core.aws.config; print(sorted({'boto3', 'botocore', 'aws_cdk'} & set(sys.modules)))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    # Then neither SDK nor CDK was loaded (Lambdas and the emulator import it cheaply)
    assert loaded.strip() == "[]"


def test_the_unsent_grace_defaults_to_a_minute_and_reads_its_variable() -> None:
    from runfox_core.aws import config

    base = {config.ENV_WORKFLOWS_TABLE: "w", config.ENV_TASKS_TABLE: "t", config.ENV_RESULTS_QUEUE_URL: "u",
            config.ENV_QUEUE_MAP: '{"a": "https://q/a"}', config.ENV_OP_DEFAULTS: '{"a": {"timeout_seconds": 9}}'}
    assert config.Settings.from_env(base).unsent_grace_seconds == 60.0
    assert config.Settings.from_env({**base, config.ENV_UNSENT_GRACE_SECONDS: "0"}).unsent_grace_seconds == 0.0
    assert config.Settings.from_env(base).engine_op_defaults() == {"a": {"timeout_seconds": 9}}


def test_a_bad_unsent_grace_is_refused_naming_the_variable() -> None:
    import pytest

    from runfox_core.aws import config

    base = {config.ENV_WORKFLOWS_TABLE: "w", config.ENV_TASKS_TABLE: "t", config.ENV_RESULTS_QUEUE_URL: "u",
            config.ENV_QUEUE_MAP: "{}", config.ENV_UNSENT_GRACE_SECONDS: "soon"}
    with pytest.raises(config.ConfigError, match="RUNFOX_UNSENT_GRACE_SECONDS"):
        config.Settings.from_env(base)
