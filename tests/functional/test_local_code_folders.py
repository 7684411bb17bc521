"""test_local_code_folders.py -- the emulator runs an executor from its own code folder, as Lambda would."""

from __future__ import annotations

from pathlib import Path

import pytest

from local.cloud import LocalCloud
from local.deployment import op_queue_name
from local.event_source import EventSourceDriver
from local.lambda_runtime import invoke
from runfox_core.aws import config
from runfox_core.aws.config import ConfigError
from runfox_core.aws.factory import get_backend
from runfox_core.status import TERMINAL_WORKFLOW_STATUSES
from runfox_core.workflow import Workflow
from runfox_deploy.executors import parse_executors_config

SPEC = "steps:\n  - op: summarise\n    input: {text: hello}\noutputs:\n  summary: {var: steps.summarise.output.summary}\n"


def service(tmp_path: Path) -> Path:
    folder = tmp_path / "services" / "summarise"
    folder.mkdir(parents=True)
    (folder / "summarise_app.py").write_text(
        "from runfox_core.aws.executor import sqs_executor\n\n\n"
        "def execute(op, inputs):\n    return {'summary': inputs['text'][:2]}\n\n\n"
        "handler = sqs_executor(execute)\n")
    return folder


def test_an_executor_in_its_own_folder_runs_on_the_emulator(tmp_path: Path) -> None:
    # Given an op whose code lives outside lambdas/
    folder = service(tmp_path)
    executors = parse_executors_config({"ops": {"summarise": {"code": str(folder), "handler": "summarise_app.handler"}}})
    with LocalCloud(executors, quiet=True) as cloud:
        # When a workflow calls it and the event sources run
        started = invoke(config.START_HANDLER, {"spec": SPEC})
        workflow = Workflow(started["execution"], get_backend())
        driver = EventSourceDriver(cloud.consumers, cloud.client("sqs"), visibility_timeout_seconds=0)
        driver.run(lambda: workflow.status in TERMINAL_WORKFLOW_STATUSES, timeout=60)
        # Then its handler ran from that folder and the execution completed with its output
        assert (str(workflow.status), workflow.outcome) == ("complete", {"summary": "he"})
        assert op_queue_name("summarise") in cloud.queues


def test_a_missing_handler_is_refused_before_anything_is_created(tmp_path: Path) -> None:
    folder = service(tmp_path)
    executors = parse_executors_config({"ops": {"summarise": {"code": str(folder), "handler": "summarise_app.hander"}}})
    with pytest.raises(ConfigError, match="no top-level 'hander'"), LocalCloud(executors, quiet=True):
        pass
