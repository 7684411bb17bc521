"""test_topology.py -- the stack and the local emulator render the same topology from one executors config.

Both derive from ``runfox_deploy.topology.Topology``; this compares what each
actually made: which queue role feeds which handler with what batch size,
which queues redrive to which DLQ after how many receives, and the op queue
names (the prefix aside).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from infra_testkit import TEST_EXECUTORS, CfnView
from moto import mock_aws

from local import deployment
from runfox_core.aws import config
from runfox_deploy.executors import parse_executors_config

EXECUTORS = parse_executors_config(TEST_EXECUTORS)


@pytest.fixture(scope="module")
def local_deployment() -> Iterator[tuple[deployment.Deployment, Any]]:
    """The emulator's deployment of the test config, on an in-process moto, with its SQS client."""
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        yield deployment.deploy(EXECUTORS, sqs, boto3.client("dynamodb", region_name="us-east-1")), sqs


def local_edges(local: deployment.Deployment) -> set[tuple[str, str, int]]:
    role_of = {name: role for role, name in local.roles.items()}
    return {(role_of[c.name], c.handler, c.batch_size) for c in local.consumers}


def stack_roles(templates: dict[str, CfnView]) -> dict[str, str]:
    """Logical id of every queue -> its topology role (by its fixed name, or the results queues' ids)."""
    roles = {}
    for view in templates.values():
        for logical_id, queue in view.of_type("AWS::SQS::Queue").items():
            name = queue["Properties"].get("QueueName")
            if name is None:
                roles[logical_id] = "results-dlq" if "Dlq" in logical_id else "results"
            elif name.endswith("-dlq"):
                roles[logical_id] = "dlq:" + name.removeprefix("Runfox-").removesuffix("-dlq")
            else:
                roles[logical_id] = "op:" + name.removeprefix("Runfox-")
    return roles


def stack_edges(templates: dict[str, CfnView]) -> set[tuple[str, str, int]]:
    roles = stack_roles(templates)
    parent = templates["Runfox.template.json"]
    handlers = {k: r["Properties"]["Handler"] for view in templates.values()
                for k, r in view.of_type("AWS::Lambda::Function").items()}
    edges = set()
    for name, view in templates.items():
        params = _nested_parameters(parent, name)
        for mapping in view.of_type("AWS::Lambda::EventSourceMapping").values():
            props = mapping["Properties"]
            queue = props["EventSourceArn"]["Fn::GetAtt"][0]
            function = _resolve_ref(props["FunctionName"], params)
            edges.add((roles[queue], handlers[function], props["BatchSize"]))
    return edges


def _nested_parameters(parent: CfnView, template: str) -> dict[str, Any]:
    """What the parent passes its nested stacks (the same engine resources to each, under the same names)."""
    passed: dict[str, Any] = {}
    for resource in parent.of_type("AWS::CloudFormation::Stack").values():
        passed.update(resource["Properties"].get("Parameters", {}))
    return passed


def _resolve_ref(value: Any, params: dict[str, Any]) -> str:
    ref = value["Ref"]
    return _resolve_ref(params[ref], {}) if ref in params else ref


def test_the_stack_and_the_emulator_wire_the_same_consumers(
    templates: dict[str, CfnView], local_deployment: tuple[deployment.Deployment, Any]
) -> None:
    # Given the same executors config rendered by the CDK stack and by the local emulator
    local, _ = local_deployment
    # Then every queue role feeds the same handler with the same batch size in both
    assert stack_edges(templates) == local_edges(local)


def test_the_stack_and_the_emulator_redrive_the_same_queues(
    templates: dict[str, CfnView], local_deployment: tuple[deployment.Deployment, Any]
) -> None:
    # Given the stack's queues and their redrive policies, by role
    roles = stack_roles(templates)
    stack = {}
    for view in templates.values():
        for logical_id, queue in view.of_type("AWS::SQS::Queue").items():
            redrive = queue["Properties"].get("RedrivePolicy")
            if redrive:
                stack[roles[logical_id]] = (roles[redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]],
                                            redrive["maxReceiveCount"])
    # And the emulator's queues and theirs
    local, sqs = local_deployment
    role_of = {name: role for role, name in local.roles.items()}
    arn_role = {sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]:
                role_of.get(name) for name, url in local.queues.items()}
    emulator = {}
    for name, url in local.queues.items():
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"]).get("Attributes", {})
        if "RedrivePolicy" in attributes:
            redrive = json.loads(attributes["RedrivePolicy"])
            emulator[role_of[name]] = (arn_role[redrive["deadLetterTargetArn"]], int(redrive["maxReceiveCount"]))
    # Then both redrive the same queues to the same DLQs after as many receives
    assert stack == emulator


def test_the_local_manifest_lists_the_same_ops_as_the_stack(
    templates: dict[str, CfnView], local_deployment: tuple[deployment.Deployment, Any]
) -> None:
    # Given the manifest the local engine reads, and the op queues (owned or imported) of the stack
    local, _ = local_deployment
    manifest = json.loads(Path(local.environment[config.ENV_OPS_FILE]).read_text())
    owned = {role[3:] for role in stack_roles(templates).values() if role.startswith("op:")}
    # Then it lists exactly the ops of the config: the stack's owned queues plus the imported one
    assert set(manifest["ops"]) == owned | {"legacy"} == set(EXECUTORS.ops)
