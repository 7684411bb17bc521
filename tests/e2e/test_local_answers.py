"""Executors answer the result router by asynchronous Invoke on the emulator, and Lambda's retries and
destination records keep every result when the router fails the events."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
from e2e_kit import MODES, run_in_process, run_local

from local.cloud import LocalCloud
from local.deployment import RESULTS_QUEUE
from local.events import load_event
from local.lambda_runtime import load_handler
from runfox_core.aws import answers, config
from runfox_deploy import facts


def results_by_queue(deliveries: list[tuple[str, dict[str, Any]]]) -> list[str]:
    return [r["body"] for queue, r in deliveries if queue == RESULTS_QUEUE and json.loads(r["body"])["kind"] == "result"]


@pytest.mark.parametrize("mode", ["in-order", "shuffled-twice"])
def test_executors_hand_every_result_to_the_router_by_invoke_and_none_by_the_results_queue(
        cloud: LocalCloud, mode: str) -> None:
    # Given the chain pattern
    payload = load_event("chain")
    # When it runs on the emulator
    local = run_local(cloud, [payload], **MODES[mode])
    # Then it ends as in-process, each step's result having reached the router in an answers event
    assert local.endings == [run_in_process(payload)]
    assert local.answered and all(json.loads(body)["kind"] == "result" for body in local.answered)
    assert local.stats.failed_events == 0
    assert results_by_queue(local.deliveries) == []


def test_a_router_failing_every_answers_event_still_completes_through_lambdas_destination_records(
        cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a router that raises on every answers event (and handles its queues as ever)
    real = load_handler(config.RESULT_ROUTER_HANDLER)

    def failing(event: dict[str, Any], context: Any) -> Any:
        if answers.bodies_of(event) is not None:
            raise RuntimeError("the router cannot apply answers events")
        return real(event, context)

    monkeypatch.setattr(sys.modules["result_router"], "handler", failing)
    payload = load_event("chain")
    # When the chain runs on the emulator
    local = run_local(cloud, [payload])
    # Then it ends as in-process: each event was tried three times, then its destination record reached
    # the router through the results queue, which applied the results it carries
    assert local.endings == [run_in_process(payload)]
    tries = 1 + facts.ROUTER_EVENT_RETRY_ATTEMPTS
    assert local.stats.events == local.stats.failed_events == tries * len(local.answered) > 0
    records = [json.loads(r["body"]) for queue, r in local.deliveries if queue == RESULTS_QUEUE]
    destination = [record for record in records if "requestPayload" in record]
    assert [m for record in destination for m in record["requestPayload"]["messages"]] == local.answered
