"""conftest.py -- session-wide: with RUNFOX_UPDATE_AWS_CALLS=1, keep the AWS calls every handler made.

The local emulator records each AWS call a handler makes (``local.lambda_runtime``).
Running ``RUNFOX_UPDATE_AWS_CALLS=1 pytest tests/e2e tests/reliability`` merges
the calls of both tiers into ``tests/infra/aws_calls.json``, the recording the
IAM test proves against the synthesized policies.
"""

from __future__ import annotations

import os
import sys

import pytest


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    runtime = sys.modules.get("local.lambda_runtime")
    if os.environ.get("RUNFOX_UPDATE_AWS_CALLS") and runtime is not None and exitstatus == 0:
        runtime.merge_recording()  # type: ignore[attr-defined]
