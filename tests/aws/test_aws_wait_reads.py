"""What an answer to a wait reads on DynamoDB (``events.py``, ``engine/wait.py``): the header alone, then
every record it needs that the header does not hold in one BatchGetItem (1 read unit each, not
TransactGetItems' 2), and a wait that begins with no event kept for its name reads nothing more than
its claim does."""

from __future__ import annotations

from typing import Any

from aws_kit import AwsKit, record_calls

import runfox_core as rfx
from runfox_core import Workflow, operations
from runfox_core.aws.dynamodb_store import DynamoDBStore
from runfox_core.backend import InProcessRunner

SPEC = {"steps": [{"id": "draft", "fn": "write", "input": {"doc": "d1"}},
                  {"id": "approval", "depends_on": ["draft"], "wait": {"event": "approved"}},
                  {"id": "signed", "depends_on": ["approval"], "wait": {"callback": True}},
                  {"id": "publish", "fn": "publish", "depends_on": ["signed"],
                   "input": {"doc": {"var": "steps.draft.output.doc"}}}],
        "outputs": {"published": {"var": "steps.publish.output.doc"}}}


def backend(aws: AwsKit, room: bool = True) -> rfx.Backend:
    """``room=False``: a header that holds no records, so each is an item of its own."""
    store = DynamoDBStore(aws.workflows_table, client=aws.dynamodb)
    if not room:
        store.inline_record_bytes = 0
    return rfx.Backend(executor=lambda token, inputs: {"doc": inputs.get("doc")}, store=store,
                       runner=InProcessRunner())


def settle(b: rfx.Backend, key: str) -> None:
    wf = Workflow(key, b)
    while True:
        operations.advance(b, key)
        b.worker.run(key)
        results = b.gather(key)
        if not results:
            return
        for r in results:
            wf.on_step_result(r.step, r.output, run_id=r.run_id, error=r.error)


def reads(calls: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, int]]:
    """(operation, keys asked) of each read, in order."""
    out = []
    for op, params in calls:
        if op == "GetItem":
            out.append((op, 1))
        elif op == "BatchGetItem":
            out.append((op, sum(len(t["Keys"]) for t in params["RequestItems"].values())))
        elif op == "TransactGetItems":
            out.append((op, len(params["TransactItems"])))
        elif op == "Query":
            out.append((op, 0))
    return out


def test_an_event_is_answered_from_the_header_alone_when_its_records_ride_in_it(aws: AwsKit) -> None:
    # Given an execution whose approval waits for its event
    b = backend(aws)
    key = operations.start(b, SPEC).execution
    settle(b, key)
    calls = record_calls(aws.dynamodb)
    # When the event comes
    sent = operations.send_event(b, key, "approved", {"by": "ann"}, "evt-1")
    # Then it read the header and nothing more: the waiting step and its dependency (which says whether its
    # claim committed: ``transitions.as_claimed``) ride in the header, read already ("Inline records":
    # ``load_steps_after``), and the event id is the waiting step's own (at run 0 it never took an event
    # before: ``wait._seen``)
    assert sent.event["disposition"] == "delivered"
    assert reads(calls) == [("GetItem", 1)]


def at_the_callback(b: rfx.Backend) -> str:
    """Start SPEC and take it to its callback wait (the event sent); the callback's token."""
    key = operations.start(b, SPEC).execution
    settle(b, key)
    operations.send_event(b, key, "approved", {"by": "ann"}, "evt-1")
    settle(b, key)
    return str(operations.describe(b, key).waiting["signed"]["token"])


def test_a_callback_is_answered_from_the_header_alone_when_the_records_it_reads_ride_in_it(
        aws: AwsKit) -> None:
    # Given the callback wait after the event, and a next step whose input reads the draft
    b = backend(aws)
    token = at_the_callback(b)
    calls = record_calls(aws.dynamodb)
    # When the callback completes it
    done = operations.complete_callback(b, token, output={"signed": True})
    # Then it read the header and nothing more: the step, whose record holds the token's nonce, and the
    # draft (read by publish's claim in the same commit) ride in it; no wait record of its own is read
    assert [j.step for j in done.dispatched] == ["publish"]
    assert reads(calls) == [("GetItem", 1)]


def test_an_answer_reads_the_records_the_header_does_not_hold_in_one_call_after_it(aws: AwsKit) -> None:
    # Given the callback wait after the event, on a store whose header holds no records
    b = backend(aws, room=False)
    token = at_the_callback(b)
    calls = record_calls(aws.dynamodb)
    # When the callback completes it
    operations.complete_callback(b, token, output={"signed": True})
    # Then after the header, one call read the header's marker, the step and the draft (read by publish's
    # claim in the same commit), 1 read unit each
    assert reads(calls) == [("GetItem", 1), ("BatchGetItem", 3)]
    asked = [k["sk"]["S"] for op, p in calls if op == "BatchGetItem" for t in p["RequestItems"].values()
             for k in t["Keys"]]
    assert sorted(asked) == ["header", "step#draft", "step#signed"]


def test_a_wait_that_begins_with_nothing_kept_reads_no_more_than_a_task_claim(aws: AwsKit) -> None:
    # Given the draft done and its result not applied yet
    b = backend(aws)
    key = operations.start(b, SPEC).execution
    b.worker.run(key)
    [result] = b.gather(key)
    calls = record_calls(aws.dynamodb)
    # When the router applies it, and the approval's wait begins in the same commit
    wf = Workflow.resume(key, b, steps=Workflow.records_read_by([result]))
    wf.on_step_result(result.step, result.output, run_id=result.run_id, claim_ready=True)
    # Then nothing was read but the router's snapshot (header and draft): no mailbox for the event's name
    assert reads(calls) == [("TransactGetItems", 2)]
    assert operations.describe(b, key).step_statuses["approval"] == "in_progress"
