"""Retention on DynamoDBStore: every item is stamped ahead when it is written (``expires_at`` = then + the
retention + a slack), a read of a running execution renews them once half the slack is used, and a finished
execution's every item expires between its end + the retention and that + the slack, with no sweep at its end."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from aws_kit import AwsKit

import runfox_core as rfx
from runfox_core.aws.dynamodb_store import EXPIRING, RENEW_SLACK_SECONDS, STAMPED, DynamoDBStore

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


def backend(aws: AwsKit, client: Any = None, ttl: int | None = TTL, clock: Any = None) -> rfx.Backend:
    store = DynamoDBStore(aws.workflows_table, client=client or aws.dynamodb, execution_ttl_seconds=ttl,
                          **({"clock": clock} if clock else {}))
    return rfx.Backend(executor=execute, store=store, **({"clock": clock} if clock else {}))


def items_of(aws: AwsKit, wf: rfx.Workflow, name: str | None = None) -> list[dict[str, Any]]:
    """Every item of the execution (and its name claim) in the workflows table."""
    rows = aws.dynamodb.scan(TableName=aws.workflows_table)["Items"]
    return [r for r in rows if r["pk"]["S"] == wf.id or (name is not None and r["pk"]["S"] == f"name#{name}")]


def ended_at(aws: AwsKit, wf: rfx.Workflow) -> float:
    header = aws.dynamodb.get_item(TableName=aws.workflows_table, Key={"pk": {"S": wf.id}, "sk": {"S": "header"}})
    return datetime.fromisoformat(json.loads(header["Item"]["body"]["S"])["updated_at"]).timestamp()


def expiries(aws: AwsKit, wf: rfx.Workflow, name: str | None = None) -> dict[str, int]:
    return {r["sk"]["S"]: int(r["expires_at"]["N"]) for r in items_of(aws, wf, name)}


def assert_all_expire_with_the_execution(aws: AwsKit, wf: rfx.Workflow, name: str, steps: bool = True) -> None:
    """Every item expires with the execution; ``steps``: some step records are items (not all in the header)."""
    rows = items_of(aws, wf, name)
    kinds = {r["sk"]["S"].split("#")[0] for r in rows}
    assert {"def", "header", "name"} | ({"step"} if steps else set()) <= kinds
    ended = int(ended_at(aws, wf))
    late = {sk: x for sk, x in expiries(aws, wf, name).items()
            if not ended + TTL <= x <= ended + TTL + RENEW_SLACK_SECONDS + 1}
    assert late == {}  # each item: at least the retention after the end, at most the slack more
    assert not any(EXPIRING in r for r in rows)


@pytest.mark.parametrize(("spec", "status"), [
    (WIDE, "complete"),
    ({"steps": [{"op": "a", "branch": [{"condition": True, "action": "halt"}]}, {"op": "b", "depends_on": ["a"]}]},
     "halted"),
    ({"steps": [{"op": "a"}, {"op": "explode", "depends_on": ["a"], "max_attempts": 1}]}, "failed"),
])
def test_a_finished_execution_has_every_item_stamped_to_expire_its_retention_after_it_ended(
        aws: AwsKit, spec: dict[str, Any], status: str) -> None:
    # Given an execution with a name, run to its end on a store with a 30-day retention
    wf = rfx.Workflow.from_dict(spec, backend(aws), name=f"nightly-{status}")
    wf.run(timeout=30)
    # Then it ended so, and every item -- definition, header, step records, state, name claim -- expires with it
    assert str(wf.status) == status
    assert_all_expire_with_the_execution(aws, wf, f"nightly-{status}")


def test_a_running_execution_is_stamped_ahead_as_it_is_written_and_a_cancel_ends_it_like_any_end(
        aws: AwsKit) -> None:
    # Given a running execution whose jobs are out
    wf = rfx.Workflow.from_dict({"steps": [{"op": "a"}, {"op": "b"}]}, backend(aws), name="to-cancel")
    wf.advance()
    # Then every item already expires no sooner than the retention and slack from now (no sweep will be owed)
    now = int(datetime.now().timestamp())
    assert all(x >= now - 5 + TTL + RENEW_SLACK_SECONDS for x in expiries(aws, wf, "to-cancel").values())
    # When it is cancelled / Then every item expires with it
    wf.cancel("no longer needed")
    assert str(wf.status) == "cancelled"
    # (its two claims never went out, so they still ride in the header: "Inline records")
    assert_all_expire_with_the_execution(aws, wf, "to-cancel", steps=False)


class CrashingSweep:
    """A DynamoDB client whose process dies after ``stamps`` of a renewal's UpdateItems."""

    def __init__(self, client: Any, stamps: int) -> None:
        self._client, self.left = client, stamps

    def update_item(self, **kwargs: Any) -> Any:
        if kwargs.get("UpdateExpression") == "SET #x = :x":
            if self.left == 0:
                raise RuntimeError("the Lambda timed out in the middle of the renewal")
            self.left -= 1
        return self._client.update_item(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_a_running_execution_idle_past_half_the_slack_is_renewed_by_its_next_read_even_one_cut_short(
        aws: AwsKit) -> None:
    # Given an execution started at t0 whose step is out (a long wait: nothing is written meanwhile)
    clock = [1_800_000_000.0]
    wf = rfx.Workflow.from_dict(WIDE, backend(aws, clock=lambda: clock[0]), name="idle")
    jobs = wf.advance().jobs
    born = expiries(aws, wf, "idle")
    assert set(born.values()) == {int(clock[0]) + TTL + RENEW_SLACK_SECONDS}
    # When 40 days pass and a reader (the wait's 15-minute re-arm, a describe) dies 3 stamps into the renewal
    clock[0] += 40 * 86_400
    crashing = backend(aws, client=CrashingSweep(aws.dynamodb, stamps=3), clock=lambda: clock[0])
    with pytest.raises(RuntimeError, match="middle of the renewal"):
        rfx.Workflow.resume(wf.id, crashing).advance()
    # Then the next reader finishes it: every item, header and name claim included, expires from now on
    rfx.Workflow.resume(wf.id, backend(aws, clock=lambda: clock[0])).advance()
    renewed = int(clock[0]) + TTL + RENEW_SLACK_SECONDS
    assert set(expiries(aws, wf, "idle").values()) == {renewed}
    header = aws.dynamodb.get_item(TableName=aws.workflows_table, Key={"pk": {"S": wf.id}, "sk": {"S": "header"}})
    assert int(header["Item"][STAMPED]["N"]) == renewed
    # And a read soon after renews nothing (the stamps are fresh), and the run still ends as it would have
    later = backend(aws, clock=lambda: clock[0] + 60)
    again = rfx.Workflow.resume(wf.id, later)
    assert str(again.status) == "in_progress"
    assert set(expiries(aws, wf, "idle").values()) == {renewed}
    again.on_step_result(jobs[0].op, execute("spread", {"keys": 120}), run_id=jobs[0].run_id)
    again.run(timeout=30)
    assert str(again.status) == "complete"


def test_a_finished_execution_read_later_is_never_renewed(aws: AwsKit) -> None:
    clock = [1_800_000_000.0]
    wf = rfx.Workflow.from_dict({"steps": [{"op": "a"}]}, backend(aws, clock=lambda: clock[0]), name="done")
    wf.run(timeout=30)
    before = expiries(aws, wf, "done")
    clock[0] += 60 * 86_400  # read again two months after it ended
    assert str(rfx.Workflow.resume(wf.id, backend(aws, clock=lambda: clock[0])).status) == "complete"
    assert expiries(aws, wf, "done") == before


def test_without_a_retention_nothing_is_ever_stamped(aws: AwsKit) -> None:
    wf = rfx.Workflow.from_dict({"steps": [{"op": "a"}]}, backend(aws, ttl=None), name="kept")
    wf.run(timeout=30)
    assert str(wf.status) == "complete"
    assert not any("expires_at" in r or EXPIRING in r or STAMPED in r for r in items_of(aws, wf, "kept"))


def test_a_retention_under_a_second_is_refused(aws: AwsKit) -> None:
    with pytest.raises(ValueError, match="execution_ttl_seconds must be >= 1"):
        DynamoDBStore(aws.workflows_table, client=aws.dynamodb, execution_ttl_seconds=0)


def test_retention_counts_from_when_the_execution_ended_not_from_when_it_started(aws: AwsKit) -> None:
    clock = [1_000_000.0]
    store = DynamoDBStore(aws.workflows_table, client=aws.dynamodb, execution_ttl_seconds=TTL,
                          clock=lambda: clock[0])
    wf = rfx.Workflow.from_dict({"steps": [{"op": "a"}]}, rfx.Backend(store=store, clock=lambda: clock[0]))
    jobs = wf.advance().jobs
    clock[0] += 3 * 86_400  # the step's result comes three days later
    assert wf.on_step_result(jobs[0].op, {"a": 1}, run_id=jobs[0].run_id) == rfx.Complete({})
    assert all(int(clock[0]) + TTL <= x <= int(clock[0]) + TTL + RENEW_SLACK_SECONDS
               for x in expiries(aws, wf).values())
