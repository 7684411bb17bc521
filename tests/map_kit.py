"""map_kit.py -- map-step scenarios every backend runs (tests/unit on memory and SQLite, tests/aws on DynamoDB).

Each scenario takes ``make(**backend_kwargs) -> Backend`` and drives the
execution by hand (``drive``): advance, then answer the jobs in flight in a
shuffled order, so the window, the fences and the counters are exercised the
way concurrent workers would, and the jobs in flight can be counted at every
moment.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable
from typing import Any

import runfox_core as rfx
from runfox_core import payloads
from runfox_core.results import Dispatch, DispatchJob, StepResult

Make = Callable[..., rfx.Backend]


def square(job: DispatchJob) -> StepResult:
    """The executor of these scenarios: {"x": n} -> {"sq": n*n}; a batch gets a list."""
    if job.item is not None and job.item.batch:
        return StepResult(job.execution_key, job.step, job.run_id, item=job.item,
                          output={"batch": [{"sq": i["x"] * i["x"]} for i in job.inputs["batch"]]})
    if job.inputs.get("fail"):
        return StepResult(job.execution_key, job.step, job.run_id, item=job.item,
                          error={"type": "ValueError", "message": f"item {job.inputs['x']} is bad"})
    return StepResult(job.execution_key, job.step, job.run_id, item=job.item,
                      output={"sq": job.inputs["x"] * job.inputs["x"]})


def drive(wf: rfx.Workflow, answer: Callable[[DispatchJob], StepResult | None] = square,
          seed: int = 7, limit: int = 100_000) -> tuple[Any, int]:
    """Run ``wf`` to its end by hand; returns (its ending, the most jobs in flight at once)."""
    rng = random.Random(seed)
    flight: dict[tuple[str, Any], DispatchJob] = {}
    most = 0
    for _ in range(limit):
        result = wf.advance()
        if isinstance(result, Dispatch):
            for job in result.jobs:
                flight[(job.step, job.item.index if job.item else None)] = job
            wf.dispatch(result.jobs)
            most = max(most, sum(1 for key in flight if key[1] is not None))
            continue
        if isinstance(result, (rfx.Complete, rfx.Halt, rfx.Failed, rfx.Cancelled)):
            return result, most
        if not flight:
            raise AssertionError(f"stalled: {result} with nothing in flight")
        key = rng.choice(sorted(flight, key=str))
        job = flight.pop(key)
        reply = answer(job)
        if reply is not None:
            wf.on_step_result(reply.step, reply.output, run_id=reply.run_id, error=reply.error, item=reply.item)
    raise AssertionError("did not end")


def mapped(n: int | None = None, items: Any = None, **block: Any) -> dict[str, Any]:
    """A spec: a step listing n numbers (or ``items`` given literally), a map squaring them, its output out."""
    steps: list[dict[str, Any]] = []
    source = items
    if items is None:
        steps.append({"id": "list", "fn": "list", "input": {"n": n}})
        source = {"var": "steps.list.output.keys"}
    per_job = {k: block.pop(k) for k in ("max_attempts", "timeout_seconds", "retry") if k in block}
    step = {"id": "sq", "map": {"items": source, "fn": "square", "input": {"x": {"var": "item"}}, **block}, **per_job}
    if items is None:
        step["depends_on"] = ["list"]
    steps.append(step)
    return {"steps": steps, "outputs": {"out": {"var": "steps.sq.output"}}}


def lister(job: DispatchJob) -> StepResult:
    if job.step == "list":
        return StepResult(job.execution_key, job.step, job.run_id, output={"keys": list(range(job.inputs["n"]))})
    return square(job)


# ---------------------------------------------------------------- scenarios


def results_come_back_in_item_order_whatever_the_order_of_answers(make: Make) -> None:
    for batch in (1, 4):
        wf = rfx.Workflow.from_dict(mapped(10, batch=batch, max_concurrency=3), make())
        result, _ = drive(wf, lister)
        assert result == rfx.Complete({"out": {"results": [{"sq": i * i} for i in range(10)], "succeeded": 10,
                                               "failed": 0, "errors": []}})


def an_empty_list_completes_at_once_with_empty_results(make: Make) -> None:
    wf = rfx.Workflow.from_dict(mapped(items=[]), make())
    assert wf.advance() == rfx.Complete({"out": {"results": [], "succeeded": 0, "failed": 0, "errors": []}})


def max_concurrency_is_never_exceeded(make: Make) -> None:
    wf = rfx.Workflow.from_dict(mapped(items=list(range(40)), max_concurrency=5), make())
    result, most = drive(wf)
    assert isinstance(result, rfx.Complete) and result.outcome["out"]["succeeded"] == 40
    assert most == 5


def failing(bad: int) -> dict[str, Any]:
    """A spec of 20 items, ``bad`` of which fail, tolerating 10% (2 items)."""
    spec = mapped(items=list(range(20)), tolerated_failure_percent=10, max_concurrency=4)
    spec["steps"][0]["map"]["input"]["fail"] = {"<": [{"var": "item"}, bad]}
    return spec


def tolerated_failures_at_and_under_the_threshold_complete_and_over_it_fail(make: Make) -> None:
    for bad in (1, 2):
        result, _ = drive(rfx.Workflow.from_dict(failing(bad), make()))
        out = result.outcome["out"]
        assert (out["succeeded"], out["failed"]) == (20 - bad, bad)
        assert out["results"][:bad] == [None] * bad and out["results"][bad] == {"sq": bad * bad}
        assert sorted(e["index"] for e in out["errors"]) == list(range(bad))
        assert {e["type"] for e in out["errors"]} == {"ValueError"}
    result, _ = drive(rfx.Workflow.from_dict(failing(3), make()))
    assert isinstance(result, rfx.Failed) and result.error.type == "MapError"
    assert "3 of 20 items failed (15%), more than tolerated_failure_percent=10" in result.error.message


def a_duplicate_or_stale_answer_changes_nothing(make: Make) -> None:
    wf = rfx.Workflow.from_dict(mapped(items=[1, 2], max_concurrency=2, max_attempts=2,
                                        retry={"backoff_seconds": 0}), make())
    jobs = wf.advance().jobs
    wf.dispatch(jobs)
    first, second = jobs
    failed = StepResult(wf.id, "sq", first.run_id, error={"type": "E", "message": "once"}, item=first.item)
    wf.on_step_result("sq", error=failed.error, run_id=first.run_id, item=first.item)  # attempt 1 of job 0 fails
    retry = wf.advance().jobs
    assert [(j.item.index, j.item.run_id) for j in retry] == [(0, 1)]
    # the answer of the failed attempt, delivered late, and a duplicate of job 1's answer change nothing
    assert wf.on_step_result("sq", {"sq": 99}, run_id=first.run_id, item=first.item) is None
    assert wf.written_step("sq:map") is None
    wf.on_step_result("sq", {"sq": 4}, run_id=second.run_id, item=second.item)
    wf.on_step_result("sq", {"sq": 40}, run_id=second.run_id, item=second.item)
    done = wf.on_step_result("sq", {"sq": 1}, run_id=first.run_id, item=retry[0].item)
    assert done == rfx.Complete({"out": {"results": [{"sq": 1}, {"sq": 4}], "succeeded": 2, "failed": 0,
                                         "errors": []}})


LOOPED = {"steps": [
    {"id": "count", "fn": "count", "input": {"n": {"var": ["state.round", 0]}}},
    {"id": "sq", "depends_on": ["count"],
     "map": {"items": {"var": "steps.count.output.keys"}, "fn": "square", "input": {"x": {"var": "item"}}},
     "branch": [{"condition": {"<": [{"var": "state.round"}, 2]}, "action": {"set": "count"}},
                {"condition": True, "action": "complete"}]}],
    "outputs": {"out": {"var": "steps.sq.output.results"}, "round": {"var": "state.round"}}}


def a_set_loop_around_a_map_runs_it_again_on_the_new_list(make: Make) -> None:
    def answer(job: DispatchJob) -> StepResult:
        if job.step == "count":
            n = job.inputs["n"] + 1
            return StepResult(job.execution_key, "count", job.run_id, output={"round": n,
                                                                                      "keys": list(range(n + 1))})
        return square(job)

    result, _ = drive(rfx.Workflow.from_dict(LOOPED, make()), answer)
    assert result == rfx.Complete({"out": [{"sq": 0}, {"sq": 1}, {"sq": 4}], "round": 2})


def a_branch_sees_the_map_output(make: Make) -> None:
    spec = failing(1)
    spec["steps"][0]["branch"] = [{"condition": {">": [{"var": "failed"}, 0]}, "action": "halt",
                                   "result": "some items failed"}]
    result, _ = drive(rfx.Workflow.from_dict(spec, make()))
    assert result == rfx.Halt("some items failed")


def big_results(job: DispatchJob) -> StepResult:
    """20 KB per item, so 12 items' results are more than one step output holds (196,608 bytes)."""
    if job.step == "after":  # its 20 KB input arrives by reference, as the worker harnesses would read it
        inputs = payloads.resolve(job.inputs)
        return StepResult(job.execution_key, job.step, job.run_id, output={"seen": inputs["fifth"][:3]})
    return StepResult(job.execution_key, job.step, job.run_id, item=job.item,
                      output={"i": job.inputs["x"], "pad": f"{job.inputs['x']:02d}:".ljust(20_000, "x")})


def results_over_one_step_output_go_by_reference_and_the_counts_stay_inline(make: Make) -> None:
    # Given a map of 12 items whose results add up to 240 KB, a step reading one result, and outputs
    spec = mapped(items=list(range(12)))
    spec["steps"].append({"id": "after", "fn": "after", "depends_on": ["sq"],
                          "input": {"fifth": {"var": "steps.sq.output.results.5.pad"}}})
    spec["outputs"] = {"n": {"var": "steps.sq.output.succeeded"}, "last": {"var": "steps.sq.output.results.11.i"},
                       "results": {"var": "steps.sq.output.results"}, "seen": {"var": "steps.after.output.seen"}}
    wf = rfx.Workflow.from_dict(spec, make())
    # When it runs
    result, _ = drive(wf, big_results)
    # Then it completes; paths read through the reference, and passing it on passes the reference
    assert isinstance(result, rfx.Complete), result
    out = result.outcome
    assert (out["n"], out["last"], out["seen"]) == (12, 11, "05:")
    assert payloads.is_ref(out["results"])
    assert payloads.resolve(out["results"]) == [{"i": i, "pad": f"{i:02d}:".ljust(20_000, "x")} for i in range(12)]
    # and the step's record keeps the counts inline beside the reference
    stored = wf.backend.load_steps(wf.id)["sq"].output
    assert payloads.is_ref(stored["results"]) and stored["results"]["bytes"] > payloads.MAX_PAYLOAD_BYTES
    assert {k: v for k, v in stored.items() if k != "results"} == {"succeeded": 12, "failed": 0, "errors": []}


def batch_outputs_sent_by_reference_count_like_inline_ones(make: Make) -> None:
    # Given a map of 20 items in batches of 10, each batch's outputs 70 KB: more than a worker keeps
    # inline, so it sends {"batch": <reference>} (as InProcessWorker and sqs_executor do)
    backend = make()

    def by_reference(job: DispatchJob) -> StepResult:
        outputs = [{"sq": i["x"] * i["x"], "pad": "p" * 7_000} for i in job.inputs["batch"]]
        output, _ = backend.codec.pack({"batch": outputs}, "a worker's output")
        assert payloads.is_ref(output["batch"])
        return StepResult(job.execution_key, job.step, job.run_id, item=job.item, output=output)

    wf = rfx.Workflow.from_dict(mapped(items=list(range(20)), batch=10), backend)
    # When it runs
    result, _ = drive(wf, by_reference)
    # Then every item counts, in order, and the results records keep each batch's reference, not 70 KB
    assert isinstance(result, rfx.Complete), result
    out = payloads.resolve(result.outcome["out"])
    assert (out["succeeded"], out["failed"]) == (20, 0)
    assert [r["sq"] for r in out["results"]] == [i * i for i in range(20)]
    kept = [entry for sid, r in backend.store.load_steps(wf.id, None).items() if ":results:" in sid
            for entry in r.output["results"]]
    assert len(kept) == 2 and all(payloads.is_ref(entry) for entry in kept)


def without_keep_results_only_the_counts_come_back(make: Make) -> None:
    result, _ = drive(rfx.Workflow.from_dict(mapped(items=list(range(30)), keep_results=False), make()))
    assert result == rfx.Complete({"out": {"succeeded": 30, "failed": 0, "errors": []}})


SCENARIOS = [results_come_back_in_item_order_whatever_the_order_of_answers,
             an_empty_list_completes_at_once_with_empty_results,
             max_concurrency_is_never_exceeded,
             tolerated_failures_at_and_under_the_threshold_complete_and_over_it_fail,
             a_duplicate_or_stale_answer_changes_nothing,
             a_set_loop_around_a_map_runs_it_again_on_the_new_list,
             a_branch_sees_the_map_output,
             results_over_one_step_output_go_by_reference_and_the_counts_stay_inline,
             batch_outputs_sent_by_reference_count_like_inline_ones,
             without_keep_results_only_the_counts_come_back]


# ---------------------------------------------------------------- items_from: each backend places the object

Place = Callable[[str, bytes], str]  # (name, bytes) -> the URI its backend reads them at


def from_object(fmt: str, x: Any = None, **block: Any) -> dict[str, Any]:
    """A spec mapping ``square`` over the items of the object at ``input.uri`` (``x``: the item's number)."""
    spec = mapped(items=[], **block)
    step = spec["steps"][0]
    del step["map"]["items"]
    step["map"]["items_from"] = {"uri": {"var": "input.uri"}, "format": fmt}
    if x is not None:
        step["map"]["input"]["x"] = x
    return spec


def run_from(make: Make, place: Place, fmt: str, data: bytes, x: Any = None, **block: Any) -> Any:
    uri = place(f"items.{fmt}", data)
    result, _ = drive(rfx.Workflow.from_dict(from_object(fmt, x, **block), make(), inputs={"uri": uri}))
    return result, uri


def squares(n: int) -> dict[str, Any]:
    return {"out": {"results": [{"sq": i * i} for i in range(n)], "succeeded": n, "failed": 0, "errors": []}}


def items_come_from_a_json_array_a_jsonl_object_or_a_csv_in_item_order(make: Make, place: Place) -> None:
    # Given the numbers 0..11 as a JSON array, as JSON lines (with a blank line and CRLF) and as a CSV
    json_array = json.dumps(list(range(12))).encode()
    json_lines = "".join(f"{i}\r\n" if i % 5 else f"{i}\n\n" for i in range(12)).encode()
    table = ("n,name\r\n" + "".join(f"{i},item {i}\r\n" for i in range(12))).encode()
    # When a map reads its items from each (in batches of 5, at most 2 jobs at once)
    for fmt, data, x in (("json", json_array, None), ("jsonl", json_lines, None),
                         ("csv", table, {"+": [{"var": "item.n"}]})):  # a CSV field is a string
        result, _ = run_from(make, place, fmt, data, x, batch=5, max_concurrency=2)
        # Then the results come in item order, as from an items expression
        assert result == rfx.Complete(squares(12)), fmt


def a_csv_row_is_an_object_of_strings_keyed_by_the_header(make: Make, place: Place) -> None:
    spec = from_object("csv")
    spec["steps"][0]["map"]["input"] = {"x": 0, "row": {"var": "item"}}
    uri = place("rows.csv", b'\xef\xbb\xbfid,text\n7,"a, b"\n\n8,"say ""hi"""\n')
    seen: list[Any] = []

    def noting(job: DispatchJob) -> StepResult:
        seen.append(job.inputs["row"])
        return square(job)

    drive(rfx.Workflow.from_dict(spec, make(), inputs={"uri": uri}), noting)
    assert sorted(seen, key=str) == [{"id": "7", "text": "a, b"}, {"id": "8", "text": 'say "hi"'}]


def an_empty_object_of_each_format_completes_with_empty_results(make: Make, place: Place) -> None:
    for fmt, data in (("json", b"[]"), ("jsonl", b"\n\n"), ("csv", b"n\n")):
        result, _ = run_from(make, place, fmt, data)
        assert result == rfx.Complete(squares(0)), fmt


def failed_from(make: Make, place: Place, fmt: str, data: bytes | None, uri: str | None = None,
                error: str = "InputError", field: str = "map.items_from: ") -> tuple[str, str]:
    """Run a map over an object that cannot give items; returns (the error message, the URI)."""
    uri = uri if uri is not None else place(f"bad.{fmt}", data or b"")
    result, _ = drive(rfx.Workflow.from_dict(from_object(fmt), make(), inputs={"uri": uri}))
    assert isinstance(result, rfx.Failed), result
    assert (result.error.step, result.error.type) == ("sq", error), result.error
    assert result.error.message.startswith(f"step 'sq', {field}"), result.error.message
    return result.error.message, uri


def an_object_that_cannot_give_items_fails_the_step_naming_the_uri_and_the_fault(make: Make, place: Place) -> None:
    # Given objects that are each wrong in one way, when a map reads them, then the step fails saying how
    message, uri = failed_from(make, place, "jsonl", b'1\n2\n{"a": \n4\n')
    assert f"{uri!r} line 3 is not JSON (" in message
    message, uri = failed_from(make, place, "json", b'{"keys": [1, 2]}')
    assert f"{uri!r} holds a JSON dict " in message and "not a list (format json needs one array)" in message
    message, uri = failed_from(make, place, "json", b"[1, 2")
    assert f"{uri!r} is not JSON (" in message
    message, uri = failed_from(make, place, "csv", b"\n\n")
    assert f"{uri!r} has no header row" in message
    message, uri = failed_from(make, place, "csv", b"a,b\n1,2\n3\n")
    assert f"{uri!r} line 3 has 1 fields; the header has 2" in message
    message, uri = failed_from(make, place, "csv", b"a,a\n1,2\n")
    assert "the header row needs distinct, non-empty column names" in message
    message, uri = failed_from(make, place, "jsonl", b"\xff\xfe1\n")
    assert f"{uri!r} is not UTF-8 text" in message
    # And a missing object is named as missing
    gone = place("gone.jsonl", b"1\n")[:-len("gone.jsonl")] + "never-written.jsonl"
    message, _ = failed_from(make, place, "jsonl", None, uri=gone)
    assert f"{gone!r} is missing" in message
    # And a URI the expression gave that is no URI at all
    message, _ = failed_from(make, place, "jsonl", None, uri="ftp://host/items")
    assert "uri gave no URI: 'ftp://host/items' is not a URI of a known scheme (s3://, file://)" in message


def an_item_over_the_item_limit_fails_the_step_naming_its_index(make: Make, place: Place) -> None:
    from runfox_core.engine.map import MAX_ITEM_BYTES

    data = ("1\n" + json.dumps("x" * MAX_ITEM_BYTES) + "\n").encode()
    message, uri = failed_from(make, place, "jsonl", data, error="PayloadError", field="map.items_from ")
    assert f"map.items_from {uri!r}: item 1 is {MAX_ITEM_BYTES + 2:,} bytes of JSON; an item may be at most" in message


def a_set_loop_around_a_map_reads_the_object_again_as_it_then_is(make: Make, place: Place) -> None:
    # Given the set loop above, its map reading the object the count step rewrites each round
    spec = copy.deepcopy(LOOPED)
    spec["steps"][1]["map"].pop("items")
    spec["steps"][1]["map"]["items_from"] = {"uri": {"var": "input.uri"}, "format": "jsonl"}
    uri = place("loop.jsonl", b"")

    def answer(job: DispatchJob) -> StepResult:
        if job.step == "count":
            n = job.inputs["n"] + 1
            assert place("loop.jsonl", "".join(f"{i}\n" for i in range(n + 1)).encode()) == uri
            return StepResult(job.execution_key, "count", job.run_id, output={"round": n})
        return square(job)

    # When it runs two rounds, then the last round squared the object's items as the second count wrote them
    result, _ = drive(rfx.Workflow.from_dict(spec, make(), inputs={"uri": uri}), answer)
    assert result == rfx.Complete({"out": [{"sq": 0}, {"sq": 1}, {"sq": 4}], "round": 2})


ITEMS_FROM_SCENARIOS = [a_set_loop_around_a_map_reads_the_object_again_as_it_then_is,
                        items_come_from_a_json_array_a_jsonl_object_or_a_csv_in_item_order,
                        a_csv_row_is_an_object_of_strings_keyed_by_the_header,
                        an_empty_object_of_each_format_completes_with_empty_results,
                        an_object_that_cannot_give_items_fails_the_step_naming_the_uri_and_the_fault,
                        an_item_over_the_item_limit_fails_the_step_naming_its_index]
