"""Wait steps (engine/wait.py): events, callbacks and times, on every store (memory, SQLite, DynamoDB on moto)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

import runfox_core as rfx
from runfox_core import Workflow, operations
from runfox_core.backend import InMemoryStore, InProcessRunner, SqliteStore
from runfox_core.engine.kinds import ran_record_id
from runfox_core.engine.records import Commit, StepRecord
from runfox_core.engine.wait import EventRefusedError, callback_token, parse_token, wait_record_id
from runfox_core.errors import SpecError
from runfox_core.history import position
from runfox_core.results import Complete, Pending
from runfox_core.spec import compile_spec
from runfox_core.status import StepStatus, WorkflowStatus
from tests.contract.test_store_contract import dynamodb_store
from tests.unit.conftest import FakeClock

DAY = 86400.0


def echo(token: str, inputs: dict[str, Any]) -> dict[str, Any]:
    return {"doc_id": inputs.get("doc_id", "d1"), "done": token}


@pytest.fixture(params=["memory", "sqlite", pytest.param("dynamodb", marks=pytest.mark.aws)])
def backend(request: pytest.FixtureRequest, tmp_path: Any, clock: FakeClock) -> Iterator[rfx.Backend]:
    """A backend on each store, with a clock the test moves by hand."""
    with contextlib.ExitStack() as stack:
        if request.param == "memory":
            store: Any = InMemoryStore()
        elif request.param == "sqlite":
            store = SqliteStore(str(tmp_path / "runfox.db"))
        else:
            store = stack.enter_context(dynamodb_store())
        yield rfx.Backend(executor=echo, store=store, runner=InProcessRunner(), clock=clock)


APPROVAL = {
    "steps": [
        {"id": "draft", "fn": "write"},
        {"id": "approval", "depends_on": ["draft"],
         "wait": {"event": "approved",
                  "match": {"==": [{"var": "event.doc_id"}, {"var": "steps.draft.output.doc_id"}]},
                  "timeout_seconds": 7 * DAY, "heartbeat_seconds": DAY}},
        {"id": "publish", "fn": "publish", "depends_on": ["approval"]},
    ],
    "outputs": {"by": {"var": "steps.approval.output.by"}},
}


def settle(backend: rfx.Backend, key: str) -> Any:
    """Advance and work every job until the execution ends or only waits; return how it stands."""
    wf = Workflow(key, backend)
    while True:
        advanced = operations.advance(backend, key)
        backend.worker.run(key)
        results = backend.gather(key)
        if not results:
            return advanced
        for r in results:
            wf.on_step_result(r.step, r.output, run_id=r.run_id, error=r.error)


def start(backend: rfx.Backend, spec: dict[str, Any] = APPROVAL) -> str:
    key = operations.start(backend, spec).execution
    settle(backend, key)
    return key


def send(backend: rfx.Backend, key: str, name: str, payload: Any, event_id: str) -> tuple[dict[str, Any], Any]:
    """send_event, then run what it made ready: (the event's receipt, how the execution stands)."""
    receipt = operations.send_event(backend, key, name, payload, event_id).event
    return receipt, settle(backend, key)


def answer(backend: rfx.Backend, token: str, **kwargs: Any) -> Any:
    operations.complete_callback(backend, token, **kwargs)
    return settle(backend, key_of(token))


def key_of(token: str) -> str:
    from runfox_core.engine.wait import parse_token
    return parse_token(token)[0]


def statuses(backend: rfx.Backend, key: str) -> dict[str, StepStatus]:
    return operations.describe(backend, key).step_statuses


# ------------------------------------------------------------------ events


def test_an_event_sent_while_the_step_waits_becomes_its_output_and_the_run_goes_on(backend):
    key = start(backend)
    assert statuses(backend, key)["approval"] == StepStatus.IN_PROGRESS
    receipt, after = send(backend, key, "approved", {"doc_id": "d1", "by": "ann"}, "evt-1")
    assert receipt == {"event_id": "evt-1", "event": "approved", "disposition": "delivered",
                       "step": "approval", "run_id": 0, "duplicate": False}
    assert after.status == WorkflowStatus.COMPLETE and after.result == Complete({"by": "ann"})


def test_an_event_sent_before_the_wait_begins_is_kept_and_consumed_when_it_does(backend):
    spec = {"steps": [{"id": "first", "wait": {"callback": True}},
                      {"id": "approval", "depends_on": ["first"], "wait": {"event": "approved"}}],
            "outputs": {"by": {"var": "steps.approval.output.by"}}}
    key = start(backend, spec)
    early, _ = send(backend, key, "approved", {"by": "bob"}, "evt-early")
    assert early["disposition"] == "kept" and statuses(backend, key)["approval"] == StepStatus.READY
    token = operations.describe(backend, key).waiting["first"]["token"]
    assert answer(backend, token, output={}).result == Complete({"by": "bob"})


def test_the_header_counts_the_events_kept_for_each_name_until_a_wait_consumes_them(backend):
    spec = {"steps": [{"id": "first", "wait": {"callback": True}},
                      {"id": "a", "depends_on": ["first"], "wait": {"event": "go"}},
                      {"id": "b", "depends_on": ["a"], "wait": {"event": "go"}}],
            "outputs": {"a": {"var": "steps.a.output.n"}, "b": {"var": "steps.b.output.n"}}}
    key = start(backend, spec)
    send(backend, key, "go", {"n": 1}, "evt-1")
    send(backend, key, "go", {"n": 2}, "evt-2")
    assert backend.load_header(key).kept == {"go": 2}
    token = operations.describe(backend, key).waiting["first"]["token"]
    assert answer(backend, token, output={}).result == Complete({"a": 1, "b": 2})  # oldest first
    assert backend.load_header(key).kept == {}


def test_a_wait_that_begins_with_no_event_kept_for_its_name_reads_no_mailbox(backend, monkeypatch):
    key = operations.start(backend, APPROVAL).execution
    asked: list[str] = []
    load_steps = backend.store.load_steps

    def spy(execution: str, step_ids: Any = None) -> Any:
        asked.extend(step_ids or ["<all>"])
        return load_steps(execution, step_ids)

    monkeypatch.setattr(backend.store, "load_steps", spy)
    settle(backend, key)
    assert statuses(backend, key)["approval"] == StepStatus.IN_PROGRESS
    assert not [rid for rid in asked if rid.startswith("~")], asked


def test_a_send_to_a_wait_that_never_ran_before_reads_no_reserved_record(backend, monkeypatch):
    # Given an execution whose one wait for its event waits at run 0
    key = start(backend)
    asked: list[str] = []
    load_steps = backend.store.load_steps
    after = getattr(backend.store, "load_steps_after", None)  # (DynamoDB: records its header holds need no call)

    def spy(execution: str, step_ids: Any = None) -> Any:
        asked.extend(step_ids or ["<all>"])
        return load_steps(execution, step_ids)

    def spy_after(execution: str, version: int, step_ids: Any) -> Any:
        asked.extend(step_ids)
        return after(execution, version, step_ids)

    monkeypatch.setattr(backend.store, "load_steps", spy)
    if after is not None:
        monkeypatch.setattr(backend.store, "load_steps_after", spy_after)
    # When the event comes
    receipt = operations.send_event(backend, key, "approved", {"doc_id": "d1", "by": "ann"}, "evt-1").event
    # Then it is delivered, having asked for the step records and no record of the event's own
    assert receipt["disposition"] == "delivered" and "approval" in asked
    assert not [rid for rid in asked if rid.startswith("~")], asked


def test_a_delivered_event_writes_no_record_of_its_own_and_its_wait_keeps_its_id(backend):
    key = start(backend)
    send(backend, key, "approved", {"doc_id": "d1", "by": "ann"}, "evt-1")
    stored = backend.store.load_steps(key, None)
    assert not [rid for rid in stored if rid.startswith("~event~")] and stored["approval"].event_id == "evt-1"


def test_describe_names_the_event_that_completed_a_wait(backend):
    key = start(backend)
    send(backend, key, "approved", {"doc_id": "d1", "by": "ann"}, "evt-1")
    view = operations.describe(backend, key)
    steps = {row["step"]: row for row in view.to_dict()["steps"]}
    assert view.steps["approval"].event_id == "evt-1" and steps["approval"]["event_id"] == "evt-1"
    assert "event_id" not in steps["draft"]  # (a task has none)


def test_the_same_event_twice_changes_nothing_the_second_time(backend):
    key = start(backend, {"steps": [{"id": "a", "wait": {"event": "go"}},
                                    {"id": "b", "depends_on": ["a"], "wait": {"event": "go"}}]})
    first, _ = send(backend, key, "go", {"n": 1}, "evt-1")
    again, _ = send(backend, key, "go", {"n": 1}, "evt-1")
    assert first["step"] == "a" and again == {**first, "duplicate": True}
    assert statuses(backend, key)["b"] == StepStatus.IN_PROGRESS  # the duplicate did not complete b


def test_a_duplicate_of_a_kept_event_changes_nothing_before_or_after_a_wait_consumes_it(backend):
    # Given a wait for an event behind a callback, and the event sent before the wait begins
    spec = {"steps": [{"id": "first", "wait": {"callback": True}},
                      {"id": "approval", "depends_on": ["first"], "wait": {"event": "approved"}},
                      {"id": "second", "depends_on": ["approval"], "wait": {"event": "approved"}}],
            "outputs": {"by": {"var": "steps.approval.output.by"}}}
    key = start(backend, spec)
    send(backend, key, "approved", {"by": "bob"}, "evt-early")
    # When it comes again while kept
    version = backend.load_header(key).version
    kept, _ = send(backend, key, "approved", {"by": "bob"}, "evt-early")
    # Then it is a duplicate of the kept event, and the mailbox holds it once
    assert (kept["disposition"], kept["duplicate"], kept["step"]) == ("kept", True, None)
    assert backend.load_header(key).version == version and backend.load_header(key).kept == {"approved": 1}
    # And once the wait begins and consumes it, a duplicate answers the step that took it
    token = operations.describe(backend, key).waiting["first"]["token"]
    answer(backend, token, output={})
    later, _ = send(backend, key, "approved", {"by": "bob"}, "evt-early")
    assert later == {"event_id": "evt-early", "event": "approved", "disposition": "delivered",
                     "step": "approval", "run_id": 0, "duplicate": True}
    assert statuses(backend, key)["second"] == StepStatus.IN_PROGRESS  # the duplicate did not complete it


def test_an_event_after_its_wait_ended_is_refused_and_changes_nothing(backend):
    key = start(backend, {"steps": [{"id": "a", "wait": {"event": "go"}}, {"id": "b", "fn": "x", "depends_on": ["a"]},
                                    {"id": "c", "wait": {"event": "stop"}, "depends_on": ["b"]}]})
    send(backend, key, "go", {}, "evt-1")
    version = backend.load_header(key).version
    with pytest.raises(EventRefusedError, match="every step that waits for it \\(a\\) has finished"):
        operations.send_event(backend, key, "go", {}, "evt-2")
    assert backend.load_header(key).version == version


def test_an_event_nobody_waits_for_is_refused_naming_the_events_waited_for(backend):
    key = start(backend)
    with pytest.raises(EventRefusedError, match="no step .* waits for event 'aproved' .*events waited for: approved"):
        operations.send_event(backend, key, "aproved", {}, "evt-1")


def test_a_waiting_step_names_what_it_waits_for_in_the_history_with_the_same_token_describe_shows(backend):
    key = start(backend)
    waiting = [e for e in operations.history(backend, key).events if e["type"] == "waiting"]
    token = operations.describe(backend, key).waiting["approval"]["token"]
    assert [(e["step"], e["run_id"], e["event"], e["token"]) for e in waiting] == [("approval", 0, "approved", token)]


def test_a_waits_own_events_are_kept_on_its_record_not_in_the_log_and_read_in_their_place_with_the_token(backend):
    # Given a wait that hands out a token, begun and then completed by its event
    key = start(backend)
    token = operations.describe(backend, key).waiting["approval"]["token"]
    send(backend, key, "approved", {"doc_id": "d1", "by": "ann"}, "evt-1")
    # Then the log holds neither its waiting nor its step_completed event
    logged = backend.store.load_history(key, None, 100)
    assert [e for e in logged if e.get("step") == "approval"] == []
    # And history reads both in their place among the others, the waiting one with the whole token
    events = operations.history(backend, key).events
    assert [position(e) for e in events] == sorted(position(e) for e in events)
    assert [(e["type"], e.get("step")) for e in events] == [
        ("started", None), ("dispatched", "draft"), ("step_completed", "draft"), ("waiting", "approval"),
        ("step_completed", "approval"), ("dispatched", "publish"), ("step_completed", "publish"), ("completed", None)]
    (waiting,) = [e for e in events if e["type"] == "waiting"]
    assert waiting["token"] == token and "nonce" not in waiting
    assert (waiting["run_id"], waiting["attempt"], waiting["event"]) == (0, 0, "approved")


def own(events: list[dict[str, Any]], step: str) -> list[tuple[str, int]]:
    """(type, run_id) of the events a wait keeps on its record (``waiting``, ``step_completed``), in order."""
    return [(e["type"], e["run_id"]) for e in events if e.get("step") == step
            and e["type"] in ("waiting", "step_completed")]


LOOP = {"steps": [{"id": "vote", "wait": {"event": "vote"},
                   "branch": [{"condition": {"<": [{"var": "n"}, 3]}, "action": {"set": "vote"}},
                              {"condition": True, "action": "complete"}]}],
        "outputs": {"votes": {"var": "state.n"}}}


def test_a_wait_in_a_loop_keeps_every_rounds_events_under_their_ids_when_the_next_round_replaces_its_record(
        backend):
    # Given a loop that waits for three votes, all in
    key = start(backend, LOOP)
    for n in (1, 2, 3):
        send(backend, key, "vote", {"n": n}, f"v{n}")
    # Then the history reads each round's waiting event in its place (a round its set branch sent round
    # again did not complete), and the last round's step_completed, none of them in the log
    events = operations.history(backend, key).events
    assert own(events, "vote") == [("waiting", 0), ("waiting", 1), ("waiting", 2), ("step_completed", 2)]
    assert [e["type"] for e in events if e.get("step") == "vote"] == [
        "waiting", "branch_fired", "reset", "waiting", "branch_fired", "reset", "waiting", "branch_fired",
        "step_completed"]
    assert [position(e) for e in events] == sorted({position(e) for e in events})  # in order, each once
    assert own(backend.store.load_history(key, None, 100), "vote") == []
    # And each replaced round's went, ids and all, to a record of its own
    ran = backend.store.load_steps(key, [ran_record_id("vote", r) for r in (0, 1)])
    assert [ran[ran_record_id("vote", r)].output["events"] for r in (0, 1)] == \
        [[e for e in events if e["type"] == "waiting" and e["run_id"] == r] for r in (0, 1)]


def test_a_retried_callbacks_history_shows_each_attempts_waiting_event_with_the_token_it_handed_out(backend, clock):
    key = start(backend, {"steps": [{"id": "a", "max_attempts": 2, "retry": {"backoff_seconds": 0},
                                     "wait": {"callback": True}}]})
    first = operations.describe(backend, key).waiting["a"]["token"]
    operations.complete_callback(backend, first, error={"type": "Rejected", "message": "no"})
    settle(backend, key)
    second = operations.describe(backend, key).waiting["a"]["token"]
    answer(backend, second, output={"ok": True})
    waiting = [e for e in operations.history(backend, key).events if e["type"] == "waiting"]
    assert [(e["run_id"], e["token"]) for e in waiting] == [(0, first), (1, second)]


def test_history_pages_through_the_events_records_keep_without_loss_or_repeat(backend):
    key = start(backend, LOOP)
    for n in (1, 2, 3):
        send(backend, key, "vote", {"n": n}, f"v{n}")
    whole = operations.history(backend, key).events
    for size in (1, 2, 3):
        got, after = [], None
        while True:
            page = operations.history(backend, key, after, size)
            got += page.events
            if page.next_after is None:
                break
            after = page.next_after
        assert got == whole


def test_a_history_page_holds_the_events_of_the_commits_before_it_began_never_half_of_one_after(
        backend, monkeypatch):
    # Given a wait, and a commit (its event: the wait completes, the next step is dispatched) landing while
    # the history is being read, after the header but before the log
    key = start(backend)
    load = backend.store.load_history
    landed: list[int] = []

    def racing(*args: Any, **kwargs: Any) -> Any:
        if not landed:
            operations.send_event(backend, key, "approved", {"doc_id": "d1"}, "evt-1")
            landed.append(backend.load_header(key).version)
        return load(*args, **kwargs)

    monkeypatch.setattr(backend.store, "load_history", racing)
    page = operations.history(backend, key)
    # Then the page has none of that commit's events, kept on a record or logged
    assert landed and own(page.events, "approval") == [("waiting", 0)]
    assert [e for e in page.events if e.get("step") == "publish"] == []
    # And the next read, from the page's last event, has all of them
    rest = operations.history(backend, key, page.events[-1]["id"]).events
    assert ("step_completed", 0) in own(rest, "approval") and any(e.get("step") == "publish" for e in rest)


def test_a_copy_of_an_execution_shows_none_of_the_events_its_sources_records_keep(backend):
    key = start(backend, {"steps": [{"id": "approval", "wait": {"event": "approved"}},
                                    {"id": "publish", "fn": "publish", "depends_on": ["approval"]}]})
    send(backend, key, "approved", {"by": "ann"}, "evt-1")
    copy = operations.rerun(backend, key, "publish", new=True).execution
    settle(backend, copy)
    assert own(operations.history(backend, copy).events, "approval") == []
    assert backend.store.load_steps(copy, ["approval"])["approval"].own_events is None


def test_an_event_that_does_not_match_is_refused_and_the_step_keeps_waiting(backend):
    key = start(backend)
    version = backend.load_header(key).version
    with pytest.raises(EventRefusedError, match="step 'approval' waits for it but its match does not hold") as info:
        operations.send_event(backend, key, "approved", {"doc_id": "other"}, "evt-1")
    assert info.value.field == "payload" and backend.load_header(key).version == version
    assert send(backend, key, "approved", {"doc_id": "d1", "by": "x"}, "evt-2")[1].status == "complete"


@pytest.mark.parametrize(("name", "payload", "event_id", "field"), [
    ("bad name", {}, "e1", "name"), ("approved", [1], "e1", "payload"), ("approved", {}, "", "event_id"),
    ("approved", {}, "x" * 200, "event_id")])
def test_a_malformed_event_is_refused_naming_the_field(backend, name, payload, event_id, field):
    key = start(backend)
    with pytest.raises(EventRefusedError) as info:
        operations.send_event(backend, key, name, payload, event_id)
    assert info.value.field == field


def test_an_event_id_is_scoped_by_its_name_the_same_id_for_another_name_is_another_event(backend):
    key = start(backend, {"steps": [{"id": "a", "wait": {"event": "go"}}, {"id": "b", "wait": {"event": "stop"}}]})
    go, _ = send(backend, key, "go", {"n": 1}, "evt-1")
    stop, after = send(backend, key, "stop", {"n": 2}, "evt-1")
    assert (go["step"], go["duplicate"], stop["step"], stop["duplicate"]) == ("a", False, "b", False)
    assert after.status == WorkflowStatus.COMPLETE


def test_an_event_for_an_ended_execution_is_refused(backend):
    key = start(backend)
    operations.cancel(backend, key)
    with pytest.raises(EventRefusedError, match="has ended \\(cancelled\\)"):
        operations.send_event(backend, key, "approved", {"doc_id": "d1"}, "evt-1")


# -------------------------------------------------------- timeouts, heartbeats


def test_no_event_within_timeout_seconds_is_a_failed_attempt(backend, clock):
    key = start(backend, {"steps": [{"id": "a", "wait": {"event": "go", "timeout_seconds": 60}}]})
    clock.advance(61)
    result = operations.advance(backend, key)
    assert result.status == WorkflowStatus.FAILED
    assert result.result.error.type == "TimeoutError" and "no event 'go' within timeout_seconds=60" in \
        result.result.error.message


def test_a_missed_heartbeat_is_a_failed_attempt_and_a_heartbeat_pushes_it_on(backend, clock):
    key = start(backend, {"steps": [{"id": "a", "wait": {"callback": True, "heartbeat_seconds": 60,
                                                         "timeout_seconds": 3600}}]})
    token = operations.describe(backend, key).waiting["a"]["token"]
    clock.advance(50)
    operations.complete_callback(backend, token, heartbeat=True)
    clock.advance(50)  # 100 s after the start, 50 after the heartbeat
    assert operations.advance(backend, key).status == WorkflowStatus.IN_PROGRESS
    clock.advance(11)
    failed = operations.advance(backend, key)
    assert failed.result.error.type == "HeartbeatTimeoutError"
    assert "no heartbeat within heartbeat_seconds=60" in failed.result.error.message


def test_a_callback_failure_is_retried_under_max_attempts_with_a_new_token(backend, clock):
    key = start(backend, {"steps": [{"id": "a", "max_attempts": 2, "retry": {"backoff_seconds": 0},
                                     "wait": {"callback": True}}]})
    first = operations.describe(backend, key).waiting["a"]["token"]
    operations.complete_callback(backend, first, error={"type": "Rejected", "message": "no"})
    second = operations.describe(backend, key).waiting["a"]
    assert second["run_id"] == 1 and second["token"] != first
    with pytest.raises(EventRefusedError, match="not waiting any more"):
        operations.complete_callback(backend, first, output={"ok": True})  # the old token is stale
    assert answer(backend, second["token"], output={"ok": True}).status == "complete"


def test_a_forged_or_garbled_token_is_refused(backend):
    key = start(backend, {"steps": [{"id": "a", "wait": {"callback": True}}]})
    token = operations.describe(backend, key).waiting["a"]["token"]
    from runfox_core.engine.wait import callback_token, parse_token
    execution, step, run_id, _ = parse_token(token)
    for bad in ("garbage!", callback_token(execution, step, run_id, "guessed"), callback_token("nope#1", step, 0, "x")):
        with pytest.raises(EventRefusedError) as info:
            operations.complete_callback(backend, bad, output={})
        assert info.value.field == "token"
    assert statuses(backend, key)["a"] == StepStatus.IN_PROGRESS


def test_a_callback_waits_token_lives_on_its_steps_record_and_no_wait_record_is_written(backend):
    key = start(backend, {"steps": [{"id": "a", "wait": {"callback": True, "timeout_seconds": 60}}]})
    token = operations.describe(backend, key).waiting["a"]["token"]
    records = backend.store.load_steps(key)
    assert list(records) == ["a"]  # no reserved record beside it
    assert records["a"].callback == {"nonce": parse_token(token)[3]}  # its timers: from its start_time and spec
    started = datetime.fromisoformat(records["a"].start_time)
    assert datetime.fromisoformat(operations.describe(backend, key).waiting["a"]["timeout_at"]) == \
        started + timedelta(seconds=60)
    # and once the wait is over its record keeps the nonce alone, for the waiting event it keeps
    answer(backend, token, output={"ok": True})
    assert backend.store.load_steps(key)["a"].callback == {"nonce": parse_token(token)[3]}


def test_a_heartbeat_rewrites_only_the_steps_record(backend, clock, monkeypatch):
    key = start(backend, {"steps": [{"id": "a", "wait": {"callback": True, "heartbeat_seconds": 60}}]})
    token = operations.describe(backend, key).waiting["a"]["token"]
    written: list[list[str]] = []
    commit = backend.store.commit

    def spy(execution: str, c: Commit) -> None:
        written.append(sorted(c.steps))
        commit(execution, c)

    monkeypatch.setattr(backend.store, "commit", spy)
    clock.advance(50)
    operations.complete_callback(backend, token, heartbeat=True)
    assert written == [["a"]]
    assert backend.store.load_steps(key, ["a"])["a"].callback["heartbeat_at"] == clock.now + 60


def test_a_wait_begun_by_the_previous_release_still_completes_by_its_token(backend, clock):
    # Given a wait whose token the previous release kept in a ~wait~ record, not on the step's record
    key = start(backend, {"steps": [{"id": "a", "wait": {"callback": True, "heartbeat_seconds": 60}}]})
    header = backend.store.load_header(key)
    rec = backend.store.load_steps(key, ["a"])["a"]
    since = datetime.fromisoformat(rec.start_time).timestamp()
    legacy = StepRecord(step_id=wait_record_id("a"), token="", status=StepStatus.IN_PROGRESS, run_id=rec.run_id,
                        output={"nonce": "before", "since": since, "timeout_at": None, "heartbeat_at": since + 60})
    new = header.copy()
    new.version += 1
    backend.store.commit(key, Commit(expected_version=header.version, header=new,
                                     steps={"a": rec.evolve(callback=None), legacy.step_id: legacy}))
    token = callback_token(key, "a", rec.run_id, "before")
    # Then describe shows its token, a forged one is refused, and a heartbeat pushes its deadline on
    assert operations.describe(backend, key).waiting["a"]["token"] == token
    with pytest.raises(EventRefusedError, match="not waiting any more"):
        operations.complete_callback(backend, callback_token(key, "a", rec.run_id, "guessed"), output={})
    clock.advance(50)
    operations.complete_callback(backend, token, heartbeat=True)
    clock.advance(50)  # 100 s after the start, 50 after the heartbeat
    assert operations.advance(backend, key).status == WorkflowStatus.IN_PROGRESS
    # And its token completes it
    assert answer(backend, token, output={"ok": True}).status == "complete"


def test_a_claim_the_previous_release_wrote_ahead_and_never_committed_is_not_begun(backend):
    # Given a wait for an event with heartbeats, ready, and the previous release's claim of it written ahead
    # (no token data on it) by a commit that never landed: the header still lists it ready
    wf = Workflow.from_dict({"steps": [{"id": "w", "wait": {"event": "go", "heartbeat_seconds": 60}}]}, backend)
    header = backend.store.load_header(wf.id)
    new = header.copy()
    new.version += 1
    orphan = StepRecord(step_id="w", token=backend.plan(wf.id).steps["w"].token, status=StepStatus.IN_PROGRESS,
                        inputs={}, start_time="2026-01-01T00:00:00+00:00")
    backend.store.commit(wf.id, Commit(expected_version=header.version, header=new, steps={"w": orphan}))
    assert statuses(backend, wf.id)["w"] == StepStatus.READY  # describe shows it not begun
    # When the event comes / Then it is kept for the wait to come, and the claim that commits (the send's
    # own, claiming what is ready) takes it
    assert operations.send_event(backend, wf.id, "go", {"x": 1}, "go-1").event["disposition"] == "kept"
    done = backend.store.load_steps(wf.id, ["w"])["w"]
    assert (done.status, done.output, done.event_id) == (StepStatus.COMPLETE, {"x": 1}, "go-1")


def test_a_callback_carries_exactly_one_of_output_error_or_heartbeat(backend):
    key = start(backend, {"steps": [{"id": "a", "wait": {"callback": True}}]})
    token = operations.describe(backend, key).waiting["a"]["token"]
    with pytest.raises(EventRefusedError, match="exactly one of output, error or heartbeat; got output, error"):
        operations.complete_callback(backend, token, output={}, error={"type": "x", "message": "y"})


# ------------------------------------------------------------------- time


def test_a_one_year_wait_ends_in_virtual_time_and_nothing_runs_while_it_waits(backend, clock):
    key = start(backend, {"steps": [{"id": "cool_off", "wait": {"seconds": 365 * DAY}},
                                    {"id": "after", "fn": "x", "depends_on": ["cool_off"]}]})
    waiting = Workflow(key, backend).advance()
    assert waiting == Pending(wake_at=clock.now + 365 * DAY)  # the one timer: nothing polls
    clock.advance(364 * DAY)
    assert operations.advance(backend, key).status == WorkflowStatus.IN_PROGRESS
    assert statuses(backend, key)["after"] == StepStatus.READY
    clock.advance(DAY)
    assert settle(backend, key).result == Complete({})


def test_a_wait_until_a_time_read_from_the_inputs(backend, clock):
    spec = {"inputs": {"at": {"type": "string"}},
            "steps": [{"id": "later", "wait": {"until": {"var": "input.at"}}}]}
    key = operations.start(backend, spec, {"at": "2027-01-16T08:00:00+00:00"}).execution
    assert clock.now == 1_800_000_000  # 2027-01-15T08:00:00Z
    assert Workflow(key, backend).advance() == Pending(wake_at=clock.now + DAY)
    clock.advance(DAY)
    assert settle(backend, key).result == Complete({})


def test_a_wait_until_a_time_that_is_not_one_fails_the_attempt_naming_it(backend):
    spec = {"inputs": {"at": {"type": "string"}}, "steps": [{"id": "later", "wait": {"until": {"var": "input.at"}}}]}
    failed = operations.start(backend, spec, {"at": "next tuesday"})
    assert failed.status == WorkflowStatus.FAILED and failed.result.error.type == "InputError"
    assert "wait.until 'next tuesday' is not an ISO 8601 time" in failed.result.error.message


def test_a_wait_until_a_time_past_is_over_at_once(backend):
    key = start(backend, {"steps": [{"id": "a", "wait": {"until": "2001-01-01T00:00:00Z"}}]})
    assert Workflow(key, backend).status == WorkflowStatus.COMPLETE


def test_a_wait_longer_than_a_year_is_refused(backend):
    with pytest.raises(SpecError, match="step 'a'.*wait.seconds.*a year"):
        start(backend, {"steps": [{"id": "a", "wait": {"seconds": 400 * DAY}}]})


# ----------------------------------------------------------------- the spec


@pytest.mark.parametrize(("block", "message"), [
    ({}, "needs exactly one of event, callback, seconds or until; got none"),
    ({"event": "a", "seconds": 3}, "needs exactly one of event, callback, seconds or until; got event, seconds"),
    ({"seconds": 3, "match": True}, "unknown key 'match' for a wait on seconds"),
    ({"event": "a b"}, "event 'a b' must be a name"),
    ({"event": "a", "match": {"==": [{"var": "evnt.x"}, 1]}}, "reads 'evnt': paths must start with event."),
    ({"event": "a", "match": {"==": [{"var": "steps.nope.output"}, 1]}}, "references unknown step 'nope'"),
    ({"until": "soon"}, "'soon' is not an ISO 8601 time"),
    ({"callback": "yes"}, "callback must be true"),
    ({"event": "a", "timeout_seconds": -1}, "wait.timeout_seconds.*must be a number of seconds"),
])
def test_a_bad_wait_block_is_refused_naming_the_step_and_field(block, message):
    with pytest.raises(SpecError, match=message) as info:
        compile_spec({"steps": [{"id": "w", "wait": block}]})
    assert info.value.first.step == "w"


def test_a_wait_in_a_loop_takes_a_new_event_each_time_round(backend):
    # Given a loop that waits for a vote until three have come
    key = start(backend, {"steps": [{"id": "vote", "wait": {"event": "vote"},
                                     "branch": [{"condition": {"<": [{"var": "n"}, 3]}, "action": {"set": "vote"}},
                                                {"condition": True, "action": "complete"}]}],
                          "outputs": {"votes": {"var": "state.n"}}})
    # When the votes come, the same event_id twice among them
    first, _ = send(backend, key, "vote", {"n": 1}, "v1")
    again, _ = send(backend, key, "vote", {"n": 1}, "v1")
    second, _ = send(backend, key, "vote", {"n": 2}, "v2")
    # Then each is delivered to a new run of the step, the duplicate to none
    assert (first["run_id"], again["duplicate"], second["run_id"]) == (0, True, 1)
    _, after = send(backend, key, "vote", {"n": 3}, "v3")
    assert after.result == Complete({"votes": 3})


def test_a_duplicate_of_a_loops_first_event_after_two_more_rounds_changes_nothing(backend):
    # Given a loop that waits for a vote until four have come, with three votes in
    key = start(backend, {"steps": [{"id": "vote", "wait": {"event": "vote"},
                                     "branch": [{"condition": {"<": [{"var": "n"}, 4]}, "action": {"set": "vote"}},
                                                {"condition": True, "action": "complete"}]}],
                          "outputs": {"votes": {"var": "state.n"}}})
    for n in (1, 2, 3):
        send(backend, key, "vote", {"n": n}, f"v{n}")
    assert statuses(backend, key)["vote"] == StepStatus.IN_PROGRESS
    # When the first round's vote comes again
    version = backend.load_header(key).version
    again, _ = send(backend, key, "vote", {"n": 1}, "v1")
    # Then it answers the round that took it, and the round now waiting still waits
    assert again == {"event_id": "v1", "event": "vote", "disposition": "delivered", "step": "vote", "run_id": 0,
                     "duplicate": True}
    assert backend.load_header(key).version == version
    assert statuses(backend, key)["vote"] == StepStatus.IN_PROGRESS
    _, after = send(backend, key, "vote", {"n": 4}, "v4")
    assert after.result == Complete({"votes": 4})


def test_a_duplicate_of_the_event_a_rerun_wait_took_before_changes_nothing(backend):
    # Given a wait that took an event, and the execution complete
    key = start(backend, {"steps": [{"id": "approval", "wait": {"event": "approved"}},
                                    {"id": "publish", "fn": "publish", "depends_on": ["approval"]}],
                          "outputs": {"by": {"var": "steps.approval.output.by"}}})
    assert send(backend, key, "approved", {"by": "ann"}, "evt-1")[1].status == WorkflowStatus.COMPLETE
    # When the execution is rerun from the wait, and the old event comes again
    operations.rerun(backend, key, "approval")
    settle(backend, key)
    again, _ = send(backend, key, "approved", {"by": "ann"}, "evt-1")
    # Then it answers the run that took it, and the rerun still waits, then takes a new event
    assert (again["disposition"], again["step"], again["run_id"], again["duplicate"]) == \
        ("delivered", "approval", 0, True)
    assert statuses(backend, key)["approval"] == StepStatus.IN_PROGRESS
    fresh, after = send(backend, key, "approved", {"by": "bob"}, "evt-2")
    assert (fresh["run_id"], fresh["duplicate"], after.result) == (1, False, Complete({"by": "bob"}))


def test_a_timeout_expires_on_the_very_second_it_is_due(backend, clock):
    clock.now += 0.123456789  # a start time that ISO 8601 text rounds
    key = start(backend, {"steps": [{"id": "a", "wait": {"event": "go", "timeout_seconds": 60}}]})
    clock.advance(60)
    assert "no event 'go' within timeout_seconds=60" in operations.advance(backend, key).result.error.message


def test_a_copy_that_runs_a_wait_afresh_takes_the_events_its_source_took_anew(backend):
    # Given a loop that waits for four votes, two of them in
    spec = {"steps": [{"id": "vote", "wait": {"event": "vote"},
                       "branch": [{"condition": {"<": [{"var": "n"}, 4]}, "action": {"set": "vote"}},
                                  {"condition": True, "action": "complete"}]}],
            "outputs": {"votes": {"var": "state.n"}}}
    key = start(backend, spec)
    for n in (1, 2):
        send(backend, key, "vote", {"n": n}, f"v{n}")
    # When a copy runs the loop afresh, and the same votes come to it
    copy = operations.rerun(backend, key, "vote", new=True).execution
    settle(backend, copy)
    first, _ = send(backend, copy, "vote", {"n": 1}, "v1")
    second, _ = send(backend, copy, "vote", {"n": 2}, "v2")
    # Then each is a new event of the copy, taken by a new round
    assert [(r["run_id"], r["duplicate"]) for r in (first, second)] == [(0, False), (1, False)]
    # while the source still knows them
    assert send(backend, key, "vote", {"n": 1}, "v1")[0]["duplicate"] is True
