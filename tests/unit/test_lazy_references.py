"""Large values on every local backend: executors never see a reference, and JSON Logic reads inside
one only when a path reaches into it."""

from __future__ import annotations

import threading
from typing import Any

import pytest

import runfox_core as rfx
from runfox_core import expressions
from runfox_core.backend import InMemoryStore, InProcessRunner, InProcessWorker, SqliteRunner, SqliteStore
from runfox_core.blobs import MemoryBlobStore
from runfox_core.payloads import Codec, clear_cache, is_ref, resolve

DOC = {"title": "report", "body": "x" * 50_000}


class CountingStore(MemoryBlobStore):
    """A memory blob store that counts its reads and writes."""

    def __init__(self) -> None:
        super().__init__()
        self.gets = self.puts = 0
        self._count = threading.Lock()

    def put(self, key: str, data: bytes) -> str:
        with self._count:
            self.puts += 1
        return super().put(key, data)

    def get(self, uri: str) -> bytes:
        with self._count:
            self.gets += 1
        return super().get(uri)


def seen_by_executor(calls: list[tuple[str, dict[str, Any]]]) -> Any:
    def execute(op: str, inputs: dict[str, Any]) -> dict[str, Any]:
        calls.append((op, inputs))
        if op == "write":
            return {"doc": DOC, "n": 1}
        if op == "read":
            return {"length": len(inputs["doc"]["body"]), "title": inputs["doc"]["title"]}
        return {}
    return execute


CHAIN = {
    "steps": [
        {"op": "write"},
        {"op": "read", "depends_on": ["write"], "input": {"doc": {"var": "steps.write.output.doc"}}},
    ],
    "outputs": {"title": {"var": "steps.write.output.doc.title"}, "length": {"var": "steps.read.output.length"},
                "doc": {"var": "steps.write.output.doc"}},
}


def test_a_large_output_reaches_the_next_executor_whole_and_the_outcome_reads_inside_it(make_backend: Any) -> None:
    # Given a step returning a 50 KB document and a step reading it
    calls: list[tuple[str, dict[str, Any]]] = []
    wf = rfx.Workflow.from_dict(CHAIN, make_backend(executor=seen_by_executor(calls)))
    # When it runs
    result = wf.run(timeout=10)
    # Then the reader got the document itself, never a reference
    assert isinstance(result, rfx.Complete)
    assert calls[1] == ("read", {"doc": DOC})
    # and the outcome read the title inside the reference, and passed the document on as a reference
    assert (wf.outcome["title"], wf.outcome["length"]) == ("report", 50_000)
    assert is_ref(wf.outcome["doc"]) and resolve(wf.outcome["doc"]) == DOC
    # and the step records and state hold the reference, not the document
    assert is_ref(wf.state["doc"]) and is_ref(wf.backend.load_steps(wf.id)["read"].inputs["doc"])


def test_passing_a_reference_on_reads_nothing_and_a_path_into_it_reads_it_once() -> None:
    # Given a blob store that counts calls, and nothing cached from writing
    blobs = CountingStore()
    codec = Codec(blobs)
    packed, _ = codec.pack({"doc": DOC}, "step 'write' output")
    clear_cache()
    context = {"steps": {"write": {"output": packed}}, "input": {}, "state": {}}
    # When an input passes the value on
    passed = expressions.resolve_fields({"doc": {"var": "steps.write.output.doc"}}, context, "input")
    # Then it is the reference, and nothing was read
    assert passed == {"doc": packed["doc"]} and blobs.gets == 0
    # When paths reach into it, and an operator computes on it
    title = expressions.resolve({"var": "steps.write.output.doc.title"}, context)
    shout = expressions.resolve({"cat": [{"var": "steps.write.output.doc.title"}, "!"]}, context)
    length = expressions.resolve({"var": ["steps.write.output.doc.missing", "none"]}, context)
    # Then each reads the value (once: the rest come from the process's cache of verified bytes)
    assert (title, shout, length) == ("report", "report!", "none")
    assert blobs.gets == 1


def test_a_branch_condition_reads_inside_a_reference_in_the_output_it_judges(make_backend: Any) -> None:
    spec = {"steps": [{"op": "write", "branch": [
        {"condition": {"==": [{"var": "doc.title"}, "report"]}, "action": "halt", "result": {"seen": True}}]}]}
    wf = rfx.Workflow.from_dict(spec, make_backend(executor=seen_by_executor([])))
    assert wf.run(timeout=10) == rfx.Halt({"seen": True})


def test_workflow_inputs_over_the_inline_limit_are_stored_by_reference_and_read_whole_by_the_step(
        make_backend: Any) -> None:
    calls: list[tuple[str, dict[str, Any]]] = []
    spec = {"steps": [{"op": "read", "input": {"doc": {"var": "input.doc"}}}],
            "outputs": {"title": {"var": "input.doc.title"}}}
    wf = rfx.Workflow.from_dict(spec, make_backend(executor=seen_by_executor(calls)), inputs={"doc": DOC})
    assert wf.run(timeout=10) == rfx.Complete({"title": "report"})
    assert calls == [("read", {"doc": DOC})]
    assert is_ref(wf.backend.load_definition(wf.id).inputs["doc"])


def test_a_reference_that_cannot_be_read_fails_the_attempt_without_calling_the_executor() -> None:
    # Given inputs naming a value in the backend's store that was never written
    calls: list[tuple[str, dict[str, Any]]] = []
    backend = rfx.Backend(executor=seen_by_executor(calls))
    assert backend.codec.blobs is not None
    sha = "a" * 64
    missing = {"$ref": f"{backend.codec.blobs.location}blobs/{sha}", "sha256": sha, "bytes": 10}
    spec = {"steps": [{"op": "read", "max_attempts": 2, "input": {"doc": {"var": "input.doc"}}}]}
    wf = rfx.Workflow.from_dict(spec, backend, inputs={"doc": missing})
    # When it runs
    result = wf.run(timeout=10)
    # Then each attempt failed on the reference, the executor never ran, and the step names it
    assert isinstance(result, rfx.Failed) and calls == []
    assert (result.error.step, result.error.type) == ("read", "BadReferenceError")
    assert f"step 'read' inputs: reference '{missing['$ref']}'" in result.error.message


@pytest.mark.parametrize("inline_bytes", [1024, 64 * 1024])
def test_the_inline_threshold_is_set_per_backend(inline_bytes: int) -> None:
    backend = rfx.Backend(executor=lambda op, i: {"v": "y" * 10_000}, inline_bytes=inline_bytes)
    wf = rfx.Workflow.from_dict({"steps": [{"op": "a"}]}, backend)
    wf.run(timeout=10)
    assert is_ref(wf.state["v"]) == (inline_bytes < 10_000)


def test_a_sqlite_worker_built_on_the_runner_alone_shares_the_folder_beside_the_file(tmp_path: Any) -> None:
    # Given a SQLite backend and, as in another process, a worker that knows only the file
    db = str(tmp_path / "runfox.db")
    calls: list[tuple[str, dict[str, Any]]] = []
    backend = rfx.Backend(store=SqliteStore(db), runner=SqliteRunner(db, poll_interval=0.001))
    worker = InProcessWorker(SqliteRunner(db), seen_by_executor(calls), max_concurrency=1)
    wf = rfx.Workflow.from_dict(CHAIN, backend)
    # When it runs
    assert isinstance(wf.run(worker=worker, timeout=10), rfx.Complete)
    # Then the worker wrote the document beside the file and the reader got it whole
    assert calls[1] == ("read", {"doc": DOC})
    assert len(list((tmp_path / "runfox.db.blobs" / "blobs").iterdir())) == 1


def test_in_memory_backends_on_one_store_share_its_values() -> None:
    store = InMemoryStore()
    first = rfx.Backend(store=store, runner=InProcessRunner())
    second = rfx.Backend(store=store, runner=InProcessRunner())
    assert first.codec.blobs is second.codec.blobs
