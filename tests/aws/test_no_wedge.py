"""No execution can wedge: every shape that once stuck ends on strict DynamoDB exactly as in memory.

Widths 99, 100 and 101 straddle DynamoDB's 100 items per transaction
(``make test`` runs 1, 100 and 101: ``RUNFOX_NO_WEDGE_WIDTHS``; ``make reliability`` all four). They
run with the header's inline budget cut to ``SMALL_BUDGET`` bytes per
schedule, so that nearly every schedule entry is spilled to an item of its
own, as at 10,000 wide with the deployed budget; one 1,000-wide run uses the
deployed budget. The header never passes ``header_bound`` whatever the
width. The 10,000-wide runs are ``bench/no_wedge.py``.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import pytest
from aws_kit import record_calls
from botocore.exceptions import ClientError
from no_wedge_kit import (
    HANG_FOR,
    SHAPES,
    FakeClock,
    HeaderWatch,
    deadlines,
    execute,
    fan_out,
    in_memory,
    on_aws,
    strict_limits,
)

import runfox_core as rfx
from local.moto_patches import fast_moto_transactions
from runfox_core import driver, messages
from runfox_core.aws import _items, dynamodb_store
from runfox_core.aws.dynamodb_store import SCHEDULE_INLINE_BYTES, DynamoDBStore
from runfox_core.backend import InProcessRunner
from runfox_core.engine.records import SCHEDULES
from runfox_core.errors import MessageError
from runfox_core.results import Dispatch

WIDTHS = tuple(int(w) for w in os.environ.get("RUNFOX_NO_WEDGE_WIDTHS", "1,99,100,101").split(","))  # see above
SMALL_BUDGET = 200  # inline bytes per schedule: about five entries, the rest spilled


def header_bound(budget: int) -> int:
    """The most bytes a header item can take: its five schedules' inline budgets and 4 KB for the
    rest (status, counters, a small outcome, the spill summaries), whatever the width."""
    return len(SCHEDULES) * budget + 4096


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_each_shape_ends_on_dynamodb_exactly_as_in_memory(aws: Any, shape: str, width: int) -> None:
    # Given the shape run to its end in memory
    expected = in_memory(shape, width)
    assert expected.status == "complete"
    # When it runs on DynamoDB + SQS with DynamoDB's limits enforced on every write, and its header's
    # schedules spill past a few entries each
    watch: list[HeaderWatch] = []
    ending = on_aws(aws, shape, width, inline_bytes=SMALL_BUDGET, watch=watch)
    # Then it ends exactly the same: outcome, run ids and state
    assert ending == expected
    # And its header never held more than the bound, whatever the width
    assert 0 < watch[0].largest <= header_bound(SMALL_BUDGET)


# ---- the rows of issue 11's table that the shapes above do not cover by themselves
# (the same shapes at 1,000 and 9,998 wide, with the deployed header budget: bench/no_wedge.py)


def test_a_crash_between_claiming_and_sending_a_300_wide_fan_out_is_re_driven_to_the_same_end(aws: Any) -> None:
    # 300 claims unsent: the re-drive re-emits them in commits the store can take
    assert on_aws(aws, "crash", 300) == in_memory("crash", 300)


def test_one_advance_of_a_wide_static_fan_out_with_24_character_ids_keeps_the_header_bounded(aws: Any) -> None:
    # Given a static fan-out of 600 steps with 24-character ids, its header's budget cut to a tenth
    # (at 10,000 steps and the deployed budget it was a 409,063-byte header: bench/no_wedge.py --header)
    ids = [f"step_{i:019d}" for i in range(600)]
    client = strict_limits(aws.client("dynamodb"), aws.workflows_table)
    watch = HeaderWatch(client, aws.dynamodb, aws.workflows_table)
    store = DynamoDBStore(aws.workflows_table, client=client)
    store.schedule_inline_bytes = SCHEDULE_INLINE_BYTES // 10
    backend = rfx.Backend(store=store, runner=InProcessRunner())
    with fast_moto_transactions():
        wf = rfx.Workflow.from_dict({"steps": [{"id": sid, "fn": "work"} for sid in ids]}, backend)
        # When advance() claims them, each call stopping once its claims not yet sent spill
        jobs: list[Any] = []
        while len(jobs) < 600:
            result = wf.advance()
            assert isinstance(result, Dispatch) and result.jobs
            jobs += result.jobs
            wf.dispatch(result.jobs)
        # Then every step was claimed once, and the header stayed within its bound all along
        assert sorted(job.op for job in jobs) == ids
        assert watch.largest <= header_bound(store.schedule_inline_bytes)
        header = backend.load_header(wf.id)
        assert len(header.ready) == 0 and len(header.unsent) == 0


def test_claiming_a_spilled_ready_set_a_few_at_a_time_reads_each_entry_a_bounded_number_of_times(
        aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a 101-wide static fan-out whose ready set is spilled at creation, read 10 items a Query page
    # and claimed 10 a commit (at 10,000 wide: 200 a page, 50 a commit, the same ratio to the width)
    monkeypatch.setattr(dynamodb_store, "SPILL_PAGE_ITEMS", 10)
    client = strict_limits(aws.client("dynamodb"), aws.workflows_table)
    scanned: list[int] = []
    client.meta.events.register("after-call.dynamodb.Query",
                                lambda parsed, **_: scanned.append(parsed.get("ScannedCount", 0)))
    store = DynamoDBStore(aws.workflows_table, client=client)
    store.schedule_inline_bytes, store.max_steps_per_commit = SMALL_BUDGET, 10
    backend = rfx.Backend(store=store, runner=InProcessRunner())
    with fast_moto_transactions():
        # When every step is claimed, one advance() per commit, each a fresh handle (as Lambdas are)
        _claim_a_static_fan_out(backend, 101, spilled_at_creation=True)
    # Then the Queries read each entry (or its tombstone) a few times, not once per claim before it:
    # each starts after the entries already claimed (the schedule's read cursor, kept in the header)
    assert sum(scanned) <= 3 * 101, (sum(scanned), len(scanned))


def _claim_a_static_fan_out(backend: rfx.Backend, width: int, spilled_at_creation: bool = False) -> rfx.Workflow:
    """Create a static fan-out of ``width`` steps, then claim and send them all, one advance() per
    commit, each from a fresh handle (as Lambdas are)."""
    wf = rfx.Workflow.from_dict({"steps": [{"id": f"s{i:03d}", "fn": "work"} for i in range(width)]}, backend)
    if spilled_at_creation:
        assert backend.load_header(wf.id).ready.spilled > width * 0.9
    claimed = 0
    while claimed < width:
        result = rfx.Workflow.resume(wf.id, backend).advance()
        assert isinstance(result, Dispatch)
        claimed += len(result.jobs)
        wf.dispatch(result.jobs)
    return wf


def test_once_every_spilled_claim_is_confirmed_sent_idle_advances_stop_reading_them(aws: Any) -> None:
    # Given a 101-wide static fan-out, every step claimed and its job sent, its claims spilled past
    # a small header budget (so their count in the header is only an upper bound once confirmed)
    clock = FakeClock()
    client = aws.client("dynamodb")
    store = DynamoDBStore(aws.workflows_table, client=client)
    store.schedule_inline_bytes = SMALL_BUDGET
    backend = rfx.Backend(store=store, runner=InProcessRunner(), clock=clock)
    with fast_moto_transactions():
        wf = _claim_a_static_fan_out(backend, 101)
        assert backend.load_header(wf.id).unsent.spilled > 0
        # When the grace for unconfirmed claims has passed and the execution is advanced with nothing to do
        clock.now += backend.unsent_grace_seconds + 1
        assert isinstance(rfx.Workflow.resume(wf.id, backend).advance(), rfx.Pending)
        calls = record_calls(client)
        assert isinstance(rfx.Workflow.resume(wf.id, backend).advance(), rfx.Pending)
    # Then the first found them all confirmed and said so in the header: the next reads no spilled entry
    assert [op for op, _ in calls if op != "GetItem"] == [], [op for op, _ in calls]
    assert backend.load_header(wf.id).unsent.spilled == 0 and not backend.take_tasks()[101:]


def test_outputs_resolving_to_450_kb_fail_the_execution_on_dynamodb_with_a_clear_error(aws: Any) -> None:
    backend = _workflow_backend(aws, lambda op, i: {"v": "x" * 150_000})
    spec = {"steps": [{"op": "a"}, {"op": "b"}],
            "outputs": {"a": {"var": "steps.a.output.v"}, "b": {"var": "steps.b.output.v"},
                        "c": {"var": "steps.a.output.v"}}}
    result = rfx.Workflow.from_dict(spec, backend).run(timeout=30)
    assert isinstance(result, rfx.Failed) and result.error.type == "PayloadError"
    assert "the outcome (the workflow's outputs) is 450," in result.error.message


def test_a_220_kb_error_on_a_step_holding_190_kb_of_inputs_is_stored_cut_on_dynamodb(aws: Any) -> None:
    def raise_long(op: str, inputs: dict[str, Any]) -> dict[str, Any]:
        raise ValueError("e" * 220_000)

    backend = _workflow_backend(aws, raise_long)
    wf = rfx.Workflow.from_dict({"steps": [{"op": "big", "input": {"b": {"var": "input.b"}}}]}, backend,
                                inputs={"b": "b" * 190_000})
    result = wf.run(timeout=30)
    assert isinstance(result, rfx.Failed) and result.error.step == "big"
    assert result.error.message.endswith("... (truncated; the original was 220,000 characters)")
    assert backend.load_steps(wf.id)["big"].error["message"] == result.error.message


def test_a_result_naming_a_3000_byte_execution_key_is_a_message_error_not_a_store_error(aws: Any) -> None:
    backend = _workflow_backend(aws, lambda op, i: {})
    body = messages.encode({"kind": "result", "execution": "k" * 3000, "step": "a", "run_id": 0, "output": {}})
    router = driver.ResultRouter(backend, [body])
    with pytest.raises(MessageError, match="'execution' is 3,000 characters"):
        router.handle(body)


def test_expiring_100_deadlines_reads_their_records_in_batches_not_one_by_one(aws: Any) -> None:
    clock = FakeClock()
    backend = rfx.Backend(store=DynamoDBStore(aws.workflows_table, client=aws.dynamodb), runner=InProcessRunner(),
                          clock=clock)
    wf = rfx.Workflow.from_dict(deadlines(100), backend)
    wf.dispatch(wf.advance().jobs)  # the seed
    seed = backend.take_tasks()[0]
    wf.on_step_result("seed", execute(seed.token, seed.inputs), run_id=0)
    wf.dispatch(wf.advance().jobs)  # the 100 workers, which never answer
    clock.now += HANG_FOR
    calls = record_calls(aws.dynamodb)
    result = rfx.Workflow.resume(wf.id, backend).advance()
    assert isinstance(result, Dispatch) and len(result.jobs) == 100  # every one retried
    ops = Counter(op for op, _ in calls)
    assert ops["GetItem"] <= 1 and ops["BatchGetItem"] <= 4, ops


def test_mark_sent_retries_a_transaction_conflict_and_removes_the_entries(aws: Any) -> None:
    store = DynamoDBStore(aws.workflows_table, client=_ConflictOnce(aws.dynamodb))
    backend = rfx.Backend(store=store, runner=InProcessRunner())
    wf = rfx.Workflow.from_dict({"steps": [{"op": "a"}, {"op": "b"}]}, backend)
    wf.advance()
    store.mark_sent(wf.id, {"a": 0, "b": 0})
    assert store.client.conflicts == 1 and backend.load_header(wf.id).unsent == {}


class _ConflictOnce:
    def __init__(self, client: Any):
        self.client, self.conflicts = client, 0

    def update_item(self, **kw: Any) -> Any:
        if not self.conflicts:
            self.conflicts += 1
            raise ClientError({"Error": {"Code": "TransactionConflictException", "Message": "busy"}}, "UpdateItem")
        return self.client.update_item(**kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def _workflow_backend(aws: Any, executor: Any) -> rfx.Backend:
    store = DynamoDBStore(aws.workflows_table, client=strict_limits(aws.client("dynamodb"), aws.workflows_table))
    return rfx.Backend(executor=executor, store=store, runner=InProcessRunner())


def test_a_transition_no_store_can_hold_ends_the_execution_failed_naming_the_limit(
        aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a store whose items may hold only 1,500 bytes (DynamoDB's 400 KB, scaled down to a test)
    monkeypatch.setattr(_items, "MAX_ITEM_BYTES", 1_500)
    backend = rfx.Backend(store=DynamoDBStore(aws.workflows_table, client=aws.dynamodb), runner=InProcessRunner())
    wf = rfx.Workflow.from_dict(fan_out(60), backend)
    wf.dispatch(wf.advance().jobs)
    seed = backend.take_tasks()[0]
    # When the seed's result makes 60 steps ready and their claims would grow the header past it
    result = wf.on_step_result("seed", execute(seed.token, seed.inputs), run_id=0, claim_ready=True)
    # Then the execution ends failed with an error naming the item, its size and the limit, and stays failed
    assert isinstance(result, rfx.Failed) and result.error.type == "LimitError" and result.error.step == "seed"
    assert "the header is" in result.error.message and "holds at most 1,500" in result.error.message
    assert wf.status == rfx.WorkflowStatus.FAILED and isinstance(wf.advance(), rfx.Failed)
