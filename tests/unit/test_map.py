"""Map steps (engine/map.py) on memory and SQLite: the shared scenarios, validation, timeouts, crash re-emission."""

from __future__ import annotations

from typing import Any

import map_kit
import pytest

import runfox_core as rfx
from runfox_core.errors import SpecError
from runfox_core.results import Dispatch


@pytest.mark.parametrize("scenario", map_kit.SCENARIOS, ids=lambda s: s.__name__)
def test_every_map_scenario(make_backend: Any, scenario: Any) -> None:
    scenario(make_backend)


def square_executor(token: str, inputs: Any) -> Any:
    if token == "list":
        return {"keys": list(range(inputs["n"]))}
    if isinstance(inputs, list):  # a batch: a list in, a list out
        return [{"sq": i["x"] * i["x"]} for i in inputs]
    return {"sq": inputs["x"] * inputs["x"]}


@pytest.mark.parametrize("batch", [1, 7])
def test_run_with_the_backends_own_worker_completes_a_map(make_backend: Any, batch: int) -> None:
    wf = rfx.Workflow.from_dict(map_kit.mapped(50, batch=batch, max_concurrency=4), make_backend(square_executor))
    result = wf.run(timeout=60)
    assert result.outcome["out"]["results"] == [{"sq": i * i} for i in range(50)]
    assert wf.step_statuses == {"list": "complete", "sq": "complete"}


def test_the_step_after_an_empty_map_is_sent_by_the_same_advance(make_backend: Any) -> None:
    # Given an empty map, then a task that depends on it
    spec = map_kit.mapped(items=[])
    spec["steps"].append({"id": "after", "fn": "square", "depends_on": ["sq"], "input": {"x": 3}})
    wf = rfx.Workflow.from_dict(spec, make_backend(square_executor))
    # When the execution first advances, the map completes without a job
    dispatched = wf.advance()
    # Then the same advance claims the step it made ready (no wait for a wake)
    assert isinstance(dispatched, Dispatch) and [job.step for job in dispatched.jobs] == ["after"]


def test_items_that_are_not_a_list_fail_the_step_saying_what_they_were(make_backend: Any) -> None:
    spec = map_kit.mapped(items={"var": "input.docs"})
    result = rfx.Workflow.from_dict(spec, make_backend(square_executor), inputs={"docs": {"a": 1}}).run(timeout=30)
    assert isinstance(result, rfx.Failed) and result.error.step == "sq" and result.error.type == "InputError"
    assert result.error.message == "step 'sq', map.items must resolve to a list; it gave dict {\"a\": 1}"


def test_an_item_input_that_cannot_resolve_fails_that_item_only(make_backend: Any) -> None:
    spec = map_kit.mapped(items=[{"x": 1}, {"y": 2}, {"x": 3}], tolerated_failure_percent=50)
    spec["steps"][0]["map"]["input"] = {"x": {"var": "item.x"}}
    result = rfx.Workflow.from_dict(spec, make_backend(square_executor)).run(timeout=30)
    out = result.outcome["out"]
    assert out["results"] == [{"sq": 1}, None, {"sq": 9}] and out["failed"] == 1
    assert out["errors"][0]["type"] == "InputError" and "item 1" in out["errors"][0]["message"]


@pytest.mark.parametrize(("block", "message"), [
    ({"fn": "f"}, "map needs exactly one of 'items'"),
    ({"items": [1]}, "map needs 'fn'"),
    ({"items": [1], "fn": "f", "max_concurrency": 0}, "max_concurrency must be an integer from 1 to 1,000, got 0"),
    ({"items": [1], "fn": "f", "batch": 1001}, "batch must be an integer from 1 to 1,000"),
    ({"items": [1], "fn": "f", "tolerated_failure_percent": 101}, "tolerated_failure_percent must be a number from 0"),
    ({"items": [1], "fn": "f", "keep_results": "yes"}, "keep_results must be true or false"),
    ({"items": [1], "fn": "f", "parallel": 3}, "field 'map.parallel': unknown key"),
    ({"items": {"var": "item"}, "fn": "f"}, "map.items': reads 'item': paths must start with input., steps., state."),
    ({"items": {"var": "steps.nope.output"}, "fn": "f"}, "map.items': references unknown step 'nope'"),
    ({"items": [1], "fn": "f", "input": {"x": {"var": "items"}}}, "reads 'items': paths must start with"),
    ({"items": [1], "fn": "f", "input": 3}, "map.input must be a mapping"),
])
def test_every_map_key_is_checked_before_anything_is_written(block: dict[str, Any], message: str) -> None:
    backend = rfx.Backend()
    with pytest.raises(SpecError, match=message.replace("(", "\\(").replace(".", "\\.")):
        rfx.Workflow.from_dict({"steps": [{"id": "m", "map": block}]}, backend)
    assert backend.store.find_by_name("x") is None


def test_a_step_level_input_on_a_map_is_refused_pointing_at_map_input() -> None:
    with pytest.raises(SpecError, match="per-item input goes under map.input"):
        rfx.Workflow.from_dict({"steps": [{"id": "m", "input": {"a": 1}, "map": {"items": [1], "fn": "f"}}]},
                               rfx.Backend())


def test_max_attempts_and_timeout_are_per_job_and_the_token_default_applies_to_jobs() -> None:
    from runfox_core.spec import compile_spec

    step = {"id": "m", "map": {"items": [1], "fn": "f"}, "max_attempts": 3}
    plan = compile_spec({"steps": [step]}, op_defaults={"f": {"timeout_seconds": 9}}).steps["m"]
    assert (plan.max_attempts, plan.timeout_seconds) == (1, None)
    assert (plan.config.max_attempts, plan.config.timeout_seconds) == (3, 9.0)
    own = compile_spec({"steps": [{**step, "timeout_seconds": 2}]}, op_defaults={"f": {"timeout_seconds": 9}})
    assert own.steps["m"].config.timeout_seconds == 2.0
    assert not [w for w in compile_spec({"steps": [step]}).warnings if w.field == "max_attempts"]


def test_a_job_without_an_answer_in_time_is_retried_and_its_late_answer_ignored(clock: Any) -> None:
    backend = rfx.Backend(clock=clock)
    spec = map_kit.mapped(items=[5], timeout_seconds=10, max_attempts=2, retry={"backoff_seconds": 0})
    wf = rfx.Workflow.from_dict(spec, backend)
    first = wf.advance().jobs[0]
    wf.dispatch([first])
    assert wf.advance() == rfx.Pending(wake_at=clock.now + 10)
    clock.advance(11)
    again = wf.advance().jobs
    assert [(j.item.index, j.item.run_id) for j in again] == [(0, 1)]
    wf.dispatch(again)
    assert wf.on_step_result("sq", {"sq": 0}, run_id=first.run_id, item=first.item) is None  # the late answer
    done = wf.on_step_result("sq", {"sq": 25}, run_id=again[0].run_id, item=again[0].item)
    assert done == rfx.Complete({"out": {"results": [{"sq": 25}], "succeeded": 1, "failed": 0, "errors": []}})


def test_a_deadline_timer_fails_the_late_job_and_the_next_advance_sends_its_retry(clock: Any) -> None:
    backend = rfx.Backend(clock=clock)
    spec = map_kit.mapped(items=[5, 6], timeout_seconds=10, max_attempts=2, retry={"backoff_seconds": 0})
    wf = rfx.Workflow.from_dict(spec, backend)
    jobs = wf.advance().jobs
    wf.dispatch(jobs)
    clock.advance(11)
    assert wf.on_step_timeout("sq", jobs[0].run_id) is None
    retried = wf.advance().jobs
    assert sorted((j.item.index, j.item.run_id) for j in retried) == [(0, 1), (1, 1)]


def test_a_job_out_of_attempts_on_timeouts_counts_its_items_failed(clock: Any) -> None:
    backend = rfx.Backend(clock=clock)
    wf = rfx.Workflow.from_dict(map_kit.mapped(items=[5], timeout_seconds=10), backend)
    wf.dispatch(wf.advance().jobs)
    clock.advance(11)
    result = wf.advance()
    assert isinstance(result, rfx.Failed) and result.error.type == "MapError"
    assert "item 0: TimeoutError: no result within timeout_seconds=10" in result.error.message


def test_jobs_claimed_but_never_sent_are_sent_again_after_the_grace(clock: Any) -> None:
    backend = rfx.Backend(clock=clock, unsent_grace_seconds=60)
    wf = rfx.Workflow.from_dict(map_kit.mapped(items=[1, 2, 3], max_concurrency=2), backend)
    lost = wf.advance().jobs  # the process dies here: never dispatched
    assert isinstance(rfx.Workflow.resume(wf.id, backend).advance(), rfx.Pending)
    clock.advance(61)
    again = rfx.Workflow.resume(wf.id, backend).advance()
    assert isinstance(again, Dispatch)
    assert [(j.item, j.inputs) for j in again.jobs] == [(j.item, j.inputs) for j in lost]


def test_sent_jobs_are_not_sent_again(clock: Any) -> None:
    backend = rfx.Backend(clock=clock, unsent_grace_seconds=60)
    wf = rfx.Workflow.from_dict(map_kit.mapped(items=[1, 2, 3], max_concurrency=2), backend)
    wf.dispatch(wf.advance().jobs)
    clock.advance(3600)
    assert isinstance(rfx.Workflow.resume(wf.id, backend).advance(), rfx.Pending)


def test_items_and_results_live_in_records_of_their_own_never_in_the_header(clock: Any) -> None:
    backend = rfx.Backend(clock=clock)
    wf = rfx.Workflow.from_dict(map_kit.mapped(items=[{"pad": "x" * 100}] * 300, max_concurrency=50,
                                               batch=2), backend)
    sizes = []

    def header_size() -> None:
        header = backend.load_header(wf.id)
        if header.status == "in_progress":  # the outcome, once complete, is the map's output
            sizes.append(len(str(header.to_dict())))

    result = wf.advance()
    while isinstance(result, Dispatch):
        wf.dispatch(result.jobs)
        header_size()
        for job in result.jobs:
            wf.on_step_result("sq", {"batch": [{"ok": 1}] * len(job.inputs["batch"])}, run_id=job.run_id,
                              item=job.item)
            header_size()
        result = wf.advance()
    assert result.outcome["out"]["succeeded"] == 300
    assert len(sizes) > 150 and max(sizes) < 400  # the same few hundred bytes from the first job to the last
    stored = backend.store.load_steps(wf.id, None)
    assert len([k for k in stored if ":items:" in k]) == 2  # 300 items of 112 bytes: two chunks of 32 KiB at most
    assert len([k for k in stored if ":results:" in k]) == 150  # a results record per commit: here, per result


def test_a_map_job_and_its_result_carry_the_item_through_the_message_contract() -> None:
    from runfox_core import messages
    from runfox_core.results import DispatchJob, ItemRef, StepResult

    job = DispatchJob("wf#1", "sq", {"batch": [{"x": 1}]}, 2, token="square", item=ItemRef(4, 1, True))
    body = messages.job_message(job)
    assert body["item"] == {"index": 4, "run_id": 1, "batch": True}
    assert messages.decode(messages.encode(body)) == job
    result = StepResult("wf#1", "sq", 2, output={"batch": [{"sq": 1}]}, item=ItemRef(4, 1, True))
    assert messages.decode(messages.encode(messages.result_message(result))) == result


def test_messages_without_an_item_mean_what_they_always_did() -> None:
    from runfox_core import messages

    old = {"kind": "result", "execution": "wf#1", "step": "a", "run_id": 0, "output": {"v": 1}}
    assert messages.decode(old).item is None
    assert "item" not in messages.result_message(messages.decode(old))


@pytest.mark.parametrize(("item", "message"), [
    ({"index": -1, "run_id": 0}, "'item.index' must be an integer from 0"),
    ({"index": 1, "run_id": "0"}, "'item.run_id' must be an integer from 0"),
    ({"index": 1, "run_id": 0, "batch": 1}, "'item.batch' must be true or false"),
    ([1, 0], "'item' must be dict"),
])
def test_a_bad_item_in_a_message_is_refused_naming_the_field(item: Any, message: str) -> None:
    from runfox_core import messages
    from runfox_core.errors import MessageError

    body = {"kind": "result", "execution": "wf#1", "step": "a", "run_id": 0, "output": {}, "item": item}
    with pytest.raises(MessageError, match=message):
        messages.decode(body)


def test_the_executor_gets_a_list_for_a_batch_and_a_wrong_answer_is_a_failed_attempt() -> None:
    from runfox_core.executor import call_executor
    from runfox_core.results import DispatchJob, ItemRef

    job = DispatchJob("wf#1", "sq", {"batch": [{"x": 2}, {"x": 3}]}, 0, token="square", item=ItemRef(0, 0, True))
    assert call_executor(square_executor, job).output == {"batch": [{"sq": 4}, {"sq": 9}]}
    short = call_executor(lambda token, inputs: inputs[:1], job)
    assert short.error == {"type": "BatchOutputError",
                           "message": "a batch of 2 inputs needs a list of 2 outputs, in order; got a list of 1"}
    assert short.item == job.item


def test_a_sqlite_task_file_from_before_map_steps_gains_the_item_column(tmp_path: Any) -> None:
    import sqlite3

    from runfox_core.backend import SqliteRunner
    from runfox_core.backend.sqlite_runner import SCHEMA
    from runfox_core.results import DispatchJob, ItemRef

    db = str(tmp_path / "old.db")
    with sqlite3.connect(db) as conn:
        conn.executescript(SCHEMA.replace(" item TEXT,", ""))
    runner = SqliteRunner(db)
    job = DispatchJob("wf#1", "sq", {"batch": [{"x": 1}]}, 3, token="square", item=ItemRef(2, 1, True))
    runner.dispatch("wf#1", [job, DispatchJob("wf#1", "sq", {"x": 2}, 3, token="square", item=ItemRef(3))])
    assert sorted(j.item.index for j in runner.take_pending_jobs()) == [2, 3]
    runner.submit_work_result(map_kit.StepResult("wf#1", "sq", 3, output={"batch": [{"sq": 1}]}, item=job.item))
    assert [(r.item, r.output) for r in runner.gather("wf#1")] == [(job.item, {"batch": [{"sq": 1}]})]


def test_a_resend_whose_inputs_no_longer_resolve_fails_that_job_and_the_map_past_its_tolerance(clock: Any) -> None:
    backend = rfx.Backend(clock=clock, unsent_grace_seconds=60)
    spec = {"steps": [
        {"id": "setup", "fn": "set", "input": {}},
        {"id": "sq", "depends_on": ["setup"],
         "map": {"items": [1, 2], "fn": "square", "input": {"x": {"/": [{"var": "item"}, {"var": "state.d"}]}}}},
        {"id": "setter", "fn": "set", "depends_on": ["setup"], "input": {}}]}
    wf = rfx.Workflow.from_dict(spec, backend)
    (setup,) = wf.advance().jobs
    wf.dispatch([setup])
    wf.on_step_result("setup", {"d": 1}, run_id=setup.run_id)
    claimed = wf.advance().jobs  # the map's jobs are lost (never sent); the setter's is sent
    setter = next(j for j in claimed if j.step == "setter")
    wf.dispatch([setter])
    wf.on_step_result("setter", {"d": 0}, run_id=setter.run_id)  # state.d is now 0
    clock.advance(61)
    result = rfx.Workflow.resume(wf.id, backend).advance()
    assert isinstance(result, rfx.Failed) and result.error.type == "MapError"
    assert "InputError" in result.error.message and "ZeroDivisionError" in result.error.message


# ---------------------------------------------------------------- items_from (engine/items_from.py)


def place_file(tmp_path: Any) -> map_kit.Place:
    """Objects for the local backends: files, named by file:// URIs."""
    def place(name: str, data: bytes) -> str:
        path = tmp_path / "objects" / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
        return str(path.as_uri())
    return place


@pytest.mark.parametrize("scenario", map_kit.ITEMS_FROM_SCENARIOS, ids=lambda s: s.__name__)
def test_every_items_from_scenario(make_backend: Any, tmp_path: Any, scenario: Any) -> None:
    scenario(make_backend, place_file(tmp_path))


def test_a_local_backend_cannot_read_an_s3_uri_and_says_which_schemes_it_reads(make_backend: Any,
                                                                               tmp_path: Any) -> None:
    # Given a map whose items are in S3, on a backend that keeps its values in memory or a folder
    message, _ = map_kit.failed_from(make_backend, place_file(tmp_path), "jsonl", None, uri="s3://bucket/items.jsonl")
    # Then the step fails naming the URI and what the backend reads
    assert message == ("step 'sq', map.items_from: this backend reads only file:// URIs; it cannot read "
                       "'s3://bucket/items.jsonl'")


def test_a_backend_without_a_blob_store_reads_no_objects() -> None:
    from runfox_core.engine import items_from

    # Given no blob store (a DynamoDB backend built without a values bucket), then no URI can be read
    with pytest.raises(items_from.ItemsFromError, match="this backend reads no objects; it cannot read 'file:///x'"):
        items_from.read_items(None, items_from.ItemsFrom("file:///x", "json"), "file:///x")


def test_the_s3_form_names_bucket_and_key_and_a_literal_uri_is_read_as_given() -> None:
    # Given the s3 form, literal and with an expression, and a literal file URI
    from runfox_core.engine import items_from
    from runfox_core.spec import compile_spec

    def source(block: dict[str, Any]) -> Any:
        plan = compile_spec({"steps": [{"id": "m", "map": {"items_from": block, "fn": "f"}}]})
        return plan.steps["m"].config.items_from

    # Then each compiles to a URI (or an expression giving one) and its format
    assert source({"s3": {"bucket": "b", "key": "k/x.csv", "format": "csv"}}) == items_from.ItemsFrom("s3://b/k/x.csv", "csv")
    expr = source({"s3": {"bucket": "b", "key": {"var": "input.key"}}, "format": "jsonl"})
    assert expr.uri == {"cat": ["s3://", "b", "/", {"var": "input.key"}]} and expr.format == "jsonl"
    assert source({"uri": "file:///data/x.json", "format": "json"}) == items_from.ItemsFrom("file:///data/x.json", "json")


@pytest.mark.parametrize(("block", "message"), [
    ({"items": [1], "items_from": {"uri": "s3://b/k", "format": "json"}}, "map needs exactly one of 'items'"),
    ({"items_from": "s3://b/k"}, "field 'map.items_from': items_from must be a mapping"),
    ({"items_from": {"uri": "s3://b/k"}}, "field 'map.items_from.format': format must be one of json, jsonl, csv, "
                                          "got None"),
    ({"items_from": {"uri": "s3://b/k", "format": "xml"}}, "format must be one of json, jsonl, csv, got 'xml'"),
    ({"items_from": {"uri": "s3://b/k", "s3": {}, "format": "json"}}, "needs exactly one of 'uri'"),
    ({"items_from": {"format": "json"}}, "needs exactly one of 'uri'"),
    ({"items_from": {"uri": 3, "format": "json"}}, "field 'map.items_from.uri': uri must be a string"),
    ({"items_from": {"uri": "http://x/y", "format": "json"}}, "'http://x/y' is not a URI of a known scheme"),
    ({"items_from": {"uri": "s3://bucket-only", "format": "json"}}, "'s3://bucket-only' is not an S3 URI s3://"),
    ({"items_from": {"uri": "file://host/x", "format": "json"}}, "is not a file URI of an absolute path"),
    ({"items_from": {"uri": {"var": "steps.nope.output"}, "format": "json"}},
     "field 'map.items_from.uri': references unknown step 'nope'"),
    ({"items_from": {"uri": {"var": "item"}, "format": "json"}}, "map.items_from.uri': reads 'item': paths must"),
    ({"items_from": {"uri": "s3://b/k", "format": "json", "path": "x"}}, "field 'map.items_from.path': unknown key"),
    ({"items_from": {"s3": {"bucket": "b"}, "format": "json"}},
     "field 'map.items_from.s3.key': key must be a non-empty string or an expression"),
    ({"items_from": {"s3": {"bucket": "b", "key": "k", "region": "x"}, "format": "json"}},
     "field 'map.items_from.s3.region': unknown key"),
    ({"items_from": {"s3": {"bucket": "b", "key": "k", "format": "csv"}, "format": "json"}}, "format is given twice"),
    ({"items_from": {"s3": {"bucket": "b", "key": {"var": "steps.nope.output.key"}}, "format": "json"}},
     "field 'map.items_from.s3': references unknown step 'nope'"),
])
def test_every_items_from_key_is_checked_before_anything_is_written(block: dict[str, Any], message: str) -> None:
    backend = rfx.Backend()
    with pytest.raises(SpecError, match=message.replace("(", "\\(").replace(".", "\\.")):
        rfx.Workflow.from_dict({"steps": [{"id": "m", "map": {**block, "fn": "f"}}]}, backend, name="x")
    assert backend.store.find_by_name("x") is None
