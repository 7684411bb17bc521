"""stack.py -- RunfoxStack: one RunfoxEngine built from the executors config, tagged, with outputs.

The stack only composes: the engine (and through it every construct and the
nested stacks of ops), tags, and outputs for scripts and end-to-end tests
(keys in ``runfox_deploy.facts``). cdk-nag runs over the whole app
(``runfox_cdk.app``); accepted findings are acknowledged in ``runfox_cdk.nag``.
The outputs do not grow with the ops: an op's queue URL is
``OpQueueUrlPrefix`` + the op name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import CfnOutput, Stack, Tags
from constructs import Construct

from runfox_cdk.engine import RunfoxEngine
from runfox_core.aws import config
from runfox_deploy import facts

TAGS = {"project": "runfox", "service": config.SERVICE_NAME}


class RunfoxStack(Stack):
    """One ``RunfoxEngine`` (``engine``, for further composition), tagged, with outputs."""

    def __init__(self, scope: Construct, id: str, *, engine: Mapping[str, Any], **kwargs: Any) -> None:
        """``engine``: the keyword arguments of ``RunfoxEngine`` (executors, layer_dir, ...); ``kwargs``: Stack's."""
        super().__init__(scope, id, **kwargs)
        self.engine = RunfoxEngine(self, "Engine", **engine)
        for key, value in TAGS.items():
            Tags.of(self).add(key, value)
        built = self.engine
        outputs = {
            facts.OUTPUT_WORKFLOWS_TABLE: built.workflows_table.table_name,
            facts.OUTPUT_START_FUNCTION: built.start_function.function_name,
            facts.OUTPUT_ADVANCE_FUNCTION: built.advance_function.function_name,
            facts.OUTPUT_RESULT_ROUTER_FUNCTION: built.result_router_function.function_name,
            facts.OUTPUT_RESULTS_QUEUE_URL: built.results_queue.queue_url,
            facts.OUTPUT_QUEUE_URL_PREFIX: built.queue_url_prefix,
            facts.OUTPUT_ALARM_TOPIC: built.alarm_topic.topic_arn,
            facts.OUTPUT_DASHBOARD: built.monitoring.dashboard.dashboard_name,
        }
        for key, value in outputs.items():
            CfnOutput(self, key, value=value)
