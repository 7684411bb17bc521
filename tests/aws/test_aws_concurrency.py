"""test_aws_concurrency.py -- the engine on DynamoDBStore + SQSRunner under concurrent handles.

Every thread has its own boto3 clients and its own Backend (like separate
Lambda containers) over ONE moto account. ``serialised_moto`` makes each
moto request atomic, as each DynamoDB request is; the races under test are
between requests: load, decide, commit.
"""

from __future__ import annotations

import functools
import os
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from aws_kit import AwsKit

import runfox_core as rfx
from local.moto_patches import fast_moto_transactions
from runfox_core.aws.dynamodb_store import DynamoDBStore
from runfox_core.aws.sqs_runner import SQSRunner
from runfox_core.aws.tables import create_table

THREADS = 8
WIDTH = 50
# rounds of the 50-wide join race, each a fresh table and a fresh interleaving (4 to 8 s a round): 3, or what
# RUNFOX_RACE_ROUNDS says (``make test`` runs 1, ``make reliability`` 3)
REPEAT = max(1, int(os.environ.get("RUNFOX_RACE_ROUNDS", "3")))


@pytest.fixture(autouse=True)
def _moto_for_threads(serialised_moto: None) -> Any:
    with fast_moto_transactions():
        yield


def fan_out(width: int = WIDTH) -> dict[str, Any]:
    """seed -> w0..w{width-1} -> join; each w_i outputs {"v": i, "k<i>": i}; join reads all of it."""
    steps: list[dict[str, Any]] = [{"id": "seed", "fn": "op_a", "input": {"x": {"var": "input.x"}}}]
    steps += [{"id": f"w{i}", "fn": "op_a", "depends_on": ["seed"], "input": {"i": i}} for i in range(width)]
    steps.append({
        "id": "join", "fn": "op_b", "depends_on": [f"w{i}" for i in range(width)],
        "input": {"values": [{"var": f"steps.w{i}.output.v"} for i in range(width)], "state": {"var": "state"}},
    })
    return {"steps": steps, "outputs": {"n": {"var": "steps.join.output.n"}}}


def backend(aws: AwsKit, sqs: Any = None, ddb: Any = None, table: str | None = None, **kw: Any) -> rfx.Backend:
    """A Backend with its own clients (unless given), as one Lambda container would have."""
    ddb = ddb or aws.client("dynamodb")
    runner = SQSRunner(aws.queues, aws.results_url, sqs_client=sqs or aws.client("sqs"))
    return rfx.Backend(store=DynamoDBStore(table or aws.workflows_table, client=ddb), runner=runner, **kw)


def started_fan_out(b: rfx.Backend) -> tuple[rfx.Workflow, list[rfx.DispatchJob]]:
    """A fan-out whose seed has completed; returns it and its 50 claimed, dispatched jobs."""
    wf = rfx.Workflow.from_dict(fan_out(), b, inputs={"x": 1})
    first = wf.advance()
    assert isinstance(first, rfx.Dispatch) and [j.step for j in first.jobs] == ["seed"]
    wf.dispatch(first.jobs)
    wf.on_step_result("seed", {"seeded": True}, run_id=first.jobs[0].run_id)
    wide = wf.advance()
    assert isinstance(wide, rfx.Dispatch) and len(wide.jobs) == WIDTH
    wf.dispatch(wide.jobs)
    return wf, wide.jobs


def in_threads(work: Callable[[int], Any], n: int = THREADS) -> list[Any]:
    """Run ``work(i)`` in ``n`` threads released together; return their results; re-raise any failure."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = work(i)
        except BaseException as exc:  # re-raised below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def apply_share(t: int, key: str, jobs: list[rfx.DispatchJob], backends: list[rfx.Backend]) -> list[rfx.DispatchJob]:
    """Thread ``t``: apply every THREADS-th result, advancing after each; return what it dispatched."""
    dispatched: list[rfx.DispatchJob] = []
    for job in jobs[t::THREADS]:
        i = job.inputs["i"]
        handle = rfx.Workflow.resume(key, backends[t])
        handle.on_step_result(job.step, {"v": i, f"k{i}": i}, run_id=job.run_id)
        result = handle.advance()
        if isinstance(result, rfx.Dispatch):
            handle.dispatch(result.jobs)
            dispatched += result.jobs
    return dispatched


def test_eight_threads_applying_a_50_wide_fan_out_join_once_with_every_output(aws: AwsKit) -> None:
    clients = [(aws.client("dynamodb"), aws.client("sqs")) for _ in range(THREADS)]
    for rep in range(REPEAT):
        # A table per round keeps moto's per-transaction table backup small.
        create_table(aws.dynamodb, f"round-{rep}")
        backends = [backend(aws, ddb=ddb, sqs=sqs, table=f"round-{rep}") for ddb, sqs in clients]
        # Given a fan-out with 50 jobs in flight
        wf, jobs = started_fan_out(backends[0])

        # When 8 threads each apply a share of the results and advance
        work = functools.partial(apply_share, key=wf.id, jobs=jobs, backends=backends)
        dispatched = [j for share in in_threads(work) for j in share]

        # Then the join was dispatched exactly once, seeing all 50 outputs
        assert [(j.step, j.run_id) for j in dispatched] == [("join", 0)]
        join = dispatched[0]
        assert join.inputs["values"] == list(range(WIDTH))
        assert {k: v for k, v in join.inputs["state"].items() if k.startswith("k")} == {
            f"k{i}": i for i in range(WIDTH)}
        assert wf.on_step_result("join", {"n": len(join.inputs["values"])}, run_id=0) == rfx.Complete({"n": WIDTH})


def test_concurrent_advances_never_dispatch_the_same_step_run_twice(aws: AwsKit) -> None:
    b0 = backend(aws)
    wf = rfx.Workflow.from_dict(fan_out(), b0, inputs={"x": 1})
    seed = wf.advance()
    assert isinstance(seed, rfx.Dispatch)
    wf.on_step_result("seed", {}, run_id=0)

    def advance_repeatedly(t: int) -> list[tuple[str, int]]:
        b = backend(aws)
        claimed: list[tuple[str, int]] = []
        for _ in range(3):
            result = rfx.Workflow.resume(wf.id, b).advance()
            if isinstance(result, rfx.Dispatch):
                claimed += [(j.step, j.run_id) for j in result.jobs]
        return claimed

    claimed = [c for share in in_threads(advance_repeatedly) for c in share]
    assert Counter(claimed).most_common(1)[0][1] == 1
    assert sorted(claimed) == sorted((f"w{i}", 0) for i in range(WIDTH))


def test_the_same_result_delivered_by_eight_threads_is_applied_once(aws: AwsKit) -> None:
    merges: list[Any] = []
    lock = threading.Lock()

    def on_state_change(key: str, previous: Any, new: Any, event: Any) -> None:
        with lock:
            merges.append(event.step)

    wf, jobs = started_fan_out(backend(aws))
    job = jobs[0]

    def deliver(t: int) -> Any:
        b = backend(aws, on_state_change=on_state_change)
        return rfx.Workflow.resume(wf.id, b).on_step_result(job.step, {"v": 0, "k0": 0}, run_id=job.run_id)

    in_threads(deliver)
    assert merges == [job.step]
    header = DynamoDBStore(aws.workflows_table, client=aws.dynamodb).load_header(wf.id)
    assert header.joins["join"] == WIDTH - 1
    assert header.remaining == WIDTH + 1 - 1  # the 50 workers and the join, less the one applied


class FailingSends:
    """An SQS client whose sends fail until ``healthy`` is set (everything else passes through)."""

    def __init__(self, client: Any):
        self.client, self.healthy = client, False

    def send_message_batch(self, **kw: Any) -> Any:
        if not self.healthy:
            raise ConnectionError("SQS unreachable")
        return self.client.send_message_batch(**kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def test_a_job_whose_send_failed_after_its_claim_is_re_emitted_after_the_grace(aws: AwsKit) -> None:
    now = [1_800_000_000.0]
    sqs = FailingSends(aws.client("sqs"))
    b = backend(aws, sqs=sqs, clock=lambda: now[0], unsent_grace_seconds=60)
    wf = rfx.Workflow.from_dict({"steps": [{"id": "a", "fn": "op_a", "input": {"x": 1}}]}, b)
    # Given a claimed job whose send failed
    claimed = wf.advance()
    assert isinstance(claimed, rfx.Dispatch)
    with pytest.raises(ConnectionError):
        wf.dispatch(claimed.jobs)
    assert aws.count(aws.queues["op_a"]) == 0
    # When another process advances within the grace period, nothing is re-sent
    assert isinstance(rfx.Workflow.resume(wf.id, b).advance(), rfx.Pending)
    # Then after the grace period the same run is re-emitted, and once sent, no longer pending
    now[0] += 61
    sqs.healthy = True
    again = rfx.Workflow.resume(wf.id, b).advance()
    assert isinstance(again, rfx.Dispatch)
    job = again.jobs[0]
    assert (job.step, job.run_id, job.inputs) == ("a", claimed.jobs[0].run_id, {"x": 1})
    rfx.Workflow.resume(wf.id, b).dispatch(again.jobs)
    assert [m["step"] for m in aws.receive_all(aws.queues["op_a"])] == ["a"]
    assert DynamoDBStore(aws.workflows_table, client=aws.dynamodb).load_header(wf.id).unsent == {}
    now[0] += 120
    assert isinstance(rfx.Workflow.resume(wf.id, b).advance(), rfx.Pending)
