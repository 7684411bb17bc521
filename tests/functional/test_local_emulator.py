"""The local emulator itself: what it deploys, and the SQS behaviour it relies on moto for."""

from __future__ import annotations

import json
import os
import time

from functional_kit import EXAMPLES_CONFIG, call, take_messages

from local.cloud import LocalCloud
from local.deployment import RESULTS_QUEUE, dlq_name, op_queue_name
from local.event_source import EventSourceDriver
from local.events import SPEC_SOURCES, load_event, stale_events
from runfox_core import api
from runfox_core.aws import config
from runfox_core.aws.config import Settings
from runfox_deploy.executors import load_executors_config


def attributes(cloud: LocalCloud, queue: str) -> dict[str, str]:
    return cloud.client("sqs").get_queue_attributes(QueueUrl=cloud.queues[queue],
                                                    AttributeNames=["All"])["Attributes"]


def test_every_op_gets_a_queue_and_a_dlq_with_the_configured_redrive(cloud: LocalCloud) -> None:
    # Given the examples config
    executors = load_executors_config(EXAMPLES_CONFIG)
    for name, op in executors.ops.items():
        # Then each op queue redrives to its DLQ after the op's max_receive_count
        redrive = json.loads(attributes(cloud, op_queue_name(name))["RedrivePolicy"])
        assert redrive["maxReceiveCount"] == op.max_receive_count
        assert redrive["deadLetterTargetArn"] == attributes(cloud, dlq_name(op_queue_name(name)))["QueueArn"]
        assert int(attributes(cloud, op_queue_name(name))["VisibilityTimeout"]) == op.queue_visibility_timeout_seconds
    # And the router consumes the results queue and every op DLQ; each executor its op queue
    routed = sorted(c.name for c in cloud.consumers if c.handler == config.RESULT_ROUTER_HANDLER)
    assert routed == sorted([RESULTS_QUEUE] + [dlq_name(op_queue_name(n)) for n in executors.ops])
    handlers = {c.name: c.handler for c in cloud.consumers if c.handler != config.RESULT_ROUTER_HANDLER}
    assert handlers == {op_queue_name(n): op.handler for n, op in executors.ops.items()}


def test_the_lambdas_environment_names_the_deployment(cloud: LocalCloud) -> None:
    # Then the engine variables are set, and the queue map they derive covers every op
    assert Settings.from_env().queue_map == {
        name: cloud.queues[op_queue_name(name)] for name in load_executors_config(EXAMPLES_CONFIG).ops}
    assert os.environ[config.ENV_RESULTS_QUEUE_URL] == cloud.queues[RESULTS_QUEUE]
    assert os.environ["AWS_ENDPOINT_URL"] == cloud.endpoint


def test_moto_moves_a_message_to_the_dlq_after_max_receive_count(cloud: LocalCloud) -> None:
    # Given a message on the crash op's queue (max_receive_count 2) that is never deleted
    sqs = cloud.client("sqs")
    queue = op_queue_name("crash")
    sqs.send_message(QueueUrl=cloud.queues[queue], MessageBody='{"probe": 1}')
    # When it is received twice without being deleted, then received again
    counts = []
    for _ in range(3):
        got = sqs.receive_message(QueueUrl=cloud.queues[queue], VisibilityTimeout=0,
                                  MessageSystemAttributeNames=["All"]).get("Messages", [])
        counts.append([m["Attributes"]["ApproximateReceiveCount"] for m in got])
    # Then the third receive finds it gone: it is in the DLQ
    assert counts == [["1"], ["2"], []]
    assert take_messages(cloud, dlq_name(queue)) == [{"probe": 1}]


def test_moto_holds_a_delayed_message_back_until_it_is_due(cloud: LocalCloud) -> None:
    # Given a message sent with DelaySeconds=1
    sqs = cloud.client("sqs")
    url = cloud.queues[dlq_name(RESULTS_QUEUE)]
    sqs.send_message(QueueUrl=url, MessageBody="{}", DelaySeconds=1)
    # Then it is not received at once, but is after the delay
    assert sqs.receive_message(QueueUrl=url).get("Messages") is None
    time.sleep(1.1)
    assert len(sqs.receive_message(QueueUrl=url, VisibilityTimeout=60)["Messages"]) == 1


def test_a_batch_failed_by_its_handler_comes_back_and_is_delivered_again(cloud: LocalCloud) -> None:
    # Given a job for the crash op, whose handler fails every batch
    started = call(config.START_HANDLER, load_event("dead_letter"))
    deliveries: list[str] = []
    driver = EventSourceDriver(
        [c for c in cloud.consumers if c.name == op_queue_name("crash")], cloud.client("sqs"),
        visibility_timeout_seconds=0,
        on_delivery=lambda consumer, records, failed, duplicate: deliveries.extend(
            r["attributes"]["ApproximateReceiveCount"] for r in records if r["messageId"] in failed))
    # When the event source runs until the queue is empty
    driver.run(timeout=10)
    # Then it was delivered max_receive_count (2) times, failed both times, and went to the DLQ
    assert deliveries == ["1", "2"]
    dead = take_messages(cloud, dlq_name(op_queue_name("crash")))
    assert [(m["kind"], m["execution"]) for m in dead] == [("job", started["execution"])]


def test_the_sample_start_payloads_carry_the_example_specs_and_parse() -> None:
    # Given every pattern payload in events/
    # Then its spec is the example's YAML verbatim, and it passes the start checks for the examples config
    assert stale_events() == [], "run: python -m local.events --write"
    tokens = load_executors_config(EXAMPLES_CONFIG).ops.keys()
    for name in SPEC_SOURCES:
        api.parse_start(load_event(name), tokens)
