"""LocalCloud's lifecycle: it owns os.environ only while it runs, and one runs at a time."""

from __future__ import annotations

import os

import pytest
from functional_kit import EXAMPLES_CONFIG

from local.cloud import LocalCloud
from runfox_core.aws import config


def test_leaving_a_local_cloud_restores_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a variable the cloud overrides and one it sets
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-3")
    monkeypatch.delenv(config.ENV_OPS_FILE, raising=False)
    # When a LocalCloud starts and stops
    with LocalCloud(EXAMPLES_CONFIG, quiet=True):
        assert os.environ["AWS_DEFAULT_REGION"] == "us-east-1"
        assert config.ENV_OPS_FILE in os.environ
    # Then both are as they were
    assert os.environ["AWS_DEFAULT_REGION"] == "eu-west-3"
    assert config.ENV_OPS_FILE not in os.environ


def test_a_second_local_cloud_cannot_start_while_one_runs() -> None:
    # Given a running LocalCloud
    with LocalCloud(EXAMPLES_CONFIG, quiet=True):
        # When / Then a second one is refused (they would share os.environ and the server)
        with pytest.raises(RuntimeError, match="another LocalCloud"):
            LocalCloud(EXAMPLES_CONFIG).start()
