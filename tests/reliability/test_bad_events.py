"""Bad events and callbacks tried through the advance Lambda: each gets a structured error naming the
field, and nothing is written (the table's item count and the waiting execution's version are unchanged)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fault_kit import CONFIG

from local.cloud import LocalCloud
from local.lambda_runtime import invoke
from runfox_core import operations
from runfox_core.aws import config
from runfox_core.aws.factory import get_backend
from runfox_core.engine.wait import callback_token

SPEC = {"steps": [{"id": "approval", "wait": {"event": "approved", "match": {"==": [{"var": "event.ok"}, True]}}},
                  {"id": "signed", "wait": {"callback": True}}]}

# (payload with LIVE for the execution key and TOKEN for the live callback token, field the error names)
CASES: list[tuple[dict[str, Any], str]] = [
    ({"execution": "LIVE", "action": "send_event", "event": "nobody", "payload": {}, "event_id": "e1"}, "name"),
    ({"execution": "LIVE", "action": "send_event", "event": "approved", "payload": {"ok": False},
      "event_id": "e1"}, "payload"),
    ({"execution": "LIVE", "action": "send_event", "event": "approved", "payload": [1], "event_id": "e1"}, "payload"),
    ({"execution": "LIVE", "action": "send_event", "event": "approved", "payload": {"blob": "x" * 200_000},
      "event_id": "e1"}, "payload"),
    ({"execution": "LIVE", "action": "send_event", "event": "approved", "payload": {}, "event_id": "bad id"},
      "event_id"),
    ({"execution": "LIVE", "action": "send_event", "event": "approved", "payload": {}}, "event_id"),
    ({"execution": "LIVE", "action": "send_event", "event": "a" * 65, "payload": {}, "event_id": "e1"}, "name"),
    ({"execution": "LIVE", "action": "send_event", "event": "approved", "payload": {}, "event_id": "e1",
      "reason": "x"}, "reason"),
    ({"execution": "LIVE", "action": "send_event", "event": "approved", "payload": {}, "event_id": "e1",
      "token": "x"}, "token"),
    ({"action": "send_event", "event": "approved", "payload": {}, "event_id": "e1"}, "execution"),
    ({"execution": "no#such", "action": "send_event", "event": "approved", "payload": {}, "event_id": "e1"},
     "execution"),
    ({"action": "callback", "token": "TOKEN"}, "output"),
    ({"action": "callback", "token": "TOKEN", "output": {}, "heartbeat": True}, "output"),
    ({"action": "callback", "token": "TOKEN", "output": "yes"}, "output"),
    ({"action": "callback", "token": "TOKEN", "error": {"type": 1}}, "error"),
    ({"action": "callback", "token": "TOKEN", "heartbeat": "yes"}, "heartbeat"),
    ({"action": "callback", "token": "FORGED", "output": {}}, "token"),
    ({"action": "callback", "token": "x" * 5000, "output": {}}, "token"),
    ({"action": "callback", "token": 42, "output": {}}, "token"),
    ({"action": "callback", "output": {}}, "token"),
    ({"execution": "other#key", "action": "callback", "token": "TOKEN", "output": {}}, "execution"),
]


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud(CONFIG, quiet=True, in_process=True) as local_cloud:
        yield local_cloud


def items(cloud: LocalCloud) -> int:
    table = dict(cloud.deployment.environment)[config.ENV_WORKFLOWS_TABLE]  # type: ignore[union-attr]
    return int(cloud.client("dynamodb").scan(TableName=table, Select="COUNT")["Count"])


def test_every_bad_event_or_callback_is_answered_with_the_field_and_writes_nothing(cloud: LocalCloud) -> None:
    key = invoke(config.START_HANDLER, {"spec": SPEC})["execution"]
    token = operations.describe(get_backend(), key).waiting["signed"]["token"]
    forged = callback_token(key, "signed", 0, "guessed")
    before, version = items(cloud), get_backend().load_header(key).version
    wrong = []
    for payload, field in CASES:
        text = json.dumps(payload).replace('"LIVE"', json.dumps(key)).replace('"TOKEN"', json.dumps(token))
        answer = invoke(config.ADVANCE_HANDLER, json.loads(text.replace('"FORGED"', json.dumps(forged))))
        error = answer.get("error") or {}
        if error.get("field") != field or not error.get("message"):
            wrong.append((payload, field, answer))
    assert wrong == []
    assert items(cloud) == before and get_backend().load_header(key).version == version
    print(f"\nbad events and callbacks: {len(CASES)}/{len(CASES)} answered with the field, nothing written")
