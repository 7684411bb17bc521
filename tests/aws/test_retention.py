"""Retention on DynamoDBStore: a finished execution's every item carries ``expires_at`` = its end + the
retention, whichever way it ended, however the sweep was interrupted; nothing is stamped while it runs."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from aws_kit import AwsKit

import runfox_core as rfx
from runfox_core.aws.dynamodb_store import EXPIRING, DynamoDBStore

TTL = 30 * 86_400  # seconds
WIDE = {"steps": [{"op": "spread", "input": {"keys": 120}},  # 120 state entries: a journaled commit
                  {"op": "tail", "depends_on": ["spread"]}],
        "outputs": {"last": {"var": "state.k119"}}}


def execute(op: str, inputs: dict[str, Any]) -> dict[str, Any]:
    if op == "spread":
        return {f"k{i}": i for i in range(inputs["keys"])}
    if op == "explode":
        raise RuntimeError("boom")
    return {op: True}


def backend(aws: AwsKit, client: Any = None, ttl: int | None = TTL) -> rfx.Backend:
    store = DynamoDBStore(aws.workflows_table, client=client or aws.dynamodb, execution_ttl_seconds=ttl)
    return rfx.Backend(executor=execute, store=store)


def items_of(aws: AwsKit, wf: rfx.Workflow, name: str | None = None) -> list[dict[str, Any]]:
    """Every item of the execution (and its name claim) in the workflows table."""
    rows = aws.dynamodb.scan(TableName=aws.workflows_table)["Items"]
    return [r for r in rows if r["pk"]["S"] == wf.id or (name is not None and r["pk"]["S"] == f"name#{name}")]


def expected_expiry(aws: AwsKit, wf: rfx.Workflow) -> int:
    header = aws.dynamodb.get_item(TableName=aws.workflows_table, Key={"pk": {"S": wf.id}, "sk": {"S": "header"}})
    body = header["Item"]["body"]["S"]
    ended = datetime.fromisoformat(json.loads(body)["updated_at"]).timestamp()
    return int(ended) + TTL


def assert_all_expire_with_the_execution(aws: AwsKit, wf: rfx.Workflow, name: str, started: float) -> None:
    rows = items_of(aws, wf, name)
    kinds = {r["sk"]["S"].split("#")[0] for r in rows}
    assert {"def", "header", "step", "name"} <= kinds
    expiry = expected_expiry(aws, wf)
    assert int(started) + TTL <= expiry <= int(datetime.now().timestamp()) + TTL + 1
    assert {r["sk"]["S"]: int(r["expires_at"]["N"]) for r in rows} == {r["sk"]["S"]: expiry for r in rows}
    assert not any(EXPIRING in r for r in rows)  # the sweep finished


@pytest.mark.parametrize(("spec", "status"), [
    (WIDE, "complete"),
    ({"steps": [{"op": "a", "branch": [{"condition": True, "action": "halt"}]}, {"op": "b", "depends_on": ["a"]}]},
     "halted"),
    ({"steps": [{"op": "a"}, {"op": "explode", "depends_on": ["a"], "max_attempts": 1}]}, "failed"),
])
def test_a_finished_execution_has_every_item_stamped_to_expire_its_retention_after_it_ended(
        aws: AwsKit, spec: dict[str, Any], status: str) -> None:
    # Given an execution with a name, run to its end on a store with a 30-day retention
    started = datetime.now().timestamp()
    wf = rfx.Workflow.from_dict(spec, backend(aws), name=f"nightly-{status}")
    wf.run(timeout=30)
    # Then it ended so, and every item -- definition, header, step records, state, name claim -- expires together
    assert str(wf.status) == status
    assert_all_expire_with_the_execution(aws, wf, f"nightly-{status}", started)


def test_a_cancelled_execution_is_stamped_too_and_nothing_is_stamped_while_it_runs(aws: AwsKit) -> None:
    # Given a running execution whose jobs are out
    started = datetime.now().timestamp()
    wf = rfx.Workflow.from_dict({"steps": [{"op": "a"}, {"op": "b"}]}, backend(aws), name="to-cancel")
    wf.advance()
    # Then nothing carries an expiry yet
    assert not any("expires_at" in r for r in items_of(aws, wf, "to-cancel"))
    # When it is cancelled / Then every item expires with it
    wf.cancel("no longer needed")
    assert str(wf.status) == "cancelled"
    assert_all_expire_with_the_execution(aws, wf, "to-cancel", started)


class CrashingSweep:
    """A DynamoDB client whose process dies after ``stamps`` of the sweep's UpdateItems."""

    def __init__(self, client: Any, stamps: int) -> None:
        self._client, self.left = client, stamps

    def update_item(self, **kwargs: Any) -> Any:
        if kwargs.get("UpdateExpression") == "SET #x = :x":
            if self.left == 0:
                raise RuntimeError("the Lambda timed out in the middle of the sweep")
            self.left -= 1
        return self._client.update_item(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_a_sweep_cut_short_is_finished_by_the_next_reader_and_every_item_ends_stamped(aws: AwsKit) -> None:
    # Given the terminal commit's process dying after stamping 3 of the items it did not write
    started = datetime.now().timestamp()
    crashing = backend(aws, client=CrashingSweep(aws.dynamodb, stamps=3))
    wf = rfx.Workflow.from_dict(WIDE, crashing, name="interrupted")
    with pytest.raises(RuntimeError, match="middle of the sweep"):
        wf.run(timeout=30)
    rows = items_of(aws, wf, "interrupted")
    assert any("expires_at" not in r for r in rows)  # it did stop half way
    # When the message is redelivered: another process advances the (finished) execution
    again = rfx.Workflow.resume(wf.id, backend(aws))
    assert isinstance(again.advance(), rfx.Complete)
    # Then the sweep is finished, every item stamped alike, and a second pass changes nothing
    assert_all_expire_with_the_execution(aws, wf, "interrupted", started)
    before = items_of(aws, wf, "interrupted")
    rfx.Workflow.resume(wf.id, backend(aws)).advance()
    assert items_of(aws, wf, "interrupted") == before


def test_without_a_retention_nothing_is_ever_stamped(aws: AwsKit) -> None:
    wf = rfx.Workflow.from_dict({"steps": [{"op": "a"}]}, backend(aws, ttl=None), name="kept")
    wf.run(timeout=30)
    assert str(wf.status) == "complete"
    assert not any("expires_at" in r or EXPIRING in r for r in items_of(aws, wf, "kept"))


def test_a_retention_under_a_second_is_refused(aws: AwsKit) -> None:
    with pytest.raises(ValueError, match="execution_ttl_seconds must be >= 1"):
        DynamoDBStore(aws.workflows_table, client=aws.dynamodb, execution_ttl_seconds=0)


def test_retention_counts_from_when_the_execution_ended_not_from_when_it_started(aws: AwsKit) -> None:
    clock = [1_000_000.0]
    store = DynamoDBStore(aws.workflows_table, client=aws.dynamodb, execution_ttl_seconds=TTL)
    wf = rfx.Workflow.from_dict({"steps": [{"op": "a"}]}, rfx.Backend(store=store, clock=lambda: clock[0]))
    jobs = wf.advance().jobs
    clock[0] += 3 * 86_400  # the step's result comes three days later
    assert wf.on_step_result(jobs[0].op, {"a": 1}, run_id=jobs[0].run_id) == rfx.Complete({})
    assert {int(r["expires_at"]["N"]) for r in items_of(aws, wf)} == {int(clock[0]) + TTL}
