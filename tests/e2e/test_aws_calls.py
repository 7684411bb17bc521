"""test_aws_calls.py -- the recording of every AWS call the handlers make is still complete.

``local.lambda_runtime`` records each call a handler makes (handler, IAM
action, resource). This test drives every pattern of ``events/`` (with retries,
wake timers, a dead-lettered job and a re-drive through advance) on the
emulator, reduces the calls to (function kind, action, resource kind), and
checks they are all in ``tests/infra/aws_calls.json``, the committed recording
that ``tests/infra/test_iam.py`` proves against the synthesized policies.
Run with ``RUNFOX_UPDATE_AWS_CALLS=1`` to rewrite the file from this run.
"""

from __future__ import annotations

import json
import os

from e2e_kit import items_from_payload, run_local

from local import lambda_runtime
from local.cloud import LocalCloud
from local.events import load_event
from local.lambda_runtime import invoke
from runfox_core.aws import config

PATTERNS = ["start", "chain", "fanout", "fanin", "diamond", "state", "halt", "retry", "retry_backoff", "fibonacci",
            "raises", "dead_letter"]


def test_every_aws_call_the_handlers_make_is_in_the_committed_recording(cloud: LocalCloud) -> None:
    # Given every pattern, run to its end (and a map reading its items from a bucket of its own),
    # and an operator's re-drive of one execution
    run = run_local(cloud, [load_event(p) for p in PATTERNS] + [items_from_payload(cloud, [1, 2, 3])], timeout=300)
    assert all(e.status in ("complete", "halted", "failed") for e in run.endings)
    redriven = invoke(config.START_HANDLER, load_event("start"))["execution"]
    invoke(config.ADVANCE_HANDLER, {"execution": redriven})
    calls = lambda_runtime.recorded_iam_calls()
    # Then each (function, action, resource) seen is in the recording the IAM test checks
    # (RUNFOX_UPDATE_AWS_CALLS=1 merges this session's calls into it at the end: see tests/conftest.py)
    recorded = json.loads(lambda_runtime.RECORDING.read_text()) if lambda_runtime.RECORDING.is_file() else {}
    missing = {kind: [c for c in pairs if c not in recorded.get(kind, [])] for kind, pairs in calls.items()}
    assert os.environ.get("RUNFOX_UPDATE_AWS_CALLS") or not any(missing.values()), (
        f"calls missing from {lambda_runtime.RECORDING.name} (rerun with RUNFOX_UPDATE_AWS_CALLS=1): {missing}")
