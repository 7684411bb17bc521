"""map.py -- MapKind: one step that runs a job per item (or per batch) of a list known at run time.

```yaml
- id: embed_all
  depends_on: [list_docs]
  map:
    items: {"var": "steps.list_docs.output.keys"}   # JSON Logic (or a literal) yielding a list
    # or, instead of items, the object to read them from (items_from.py):
    # items_from: {uri: s3://bucket/key | file:///abs/path | JSON Logic, format: json|jsonl|csv}
    # items_from: {s3: {bucket: ..., key: ..., format: ...}}
    fn: embed                                        # the dispatch token of every job
    input: {doc: {"var": "item"}, n: {"var": "index"}, model: {"var": "input.model"}}
    max_concurrency: 50           # jobs in flight at once (default 100, at most 1000)
    batch: 1                      # items per job; with more, the executor gets a list
    tolerated_failure_percent: 5  # more failed items than this fails the step
    keep_results: true            # false: the output keeps only the counts and errors
  max_attempts: 3                 # per job
  timeout_seconds: 120            # per job
```

The step's output is ``{"results": [...], "succeeded": n, "failed": n,
"errors": [...]}``: ``results`` in item order (null for an item that failed;
absent with ``keep_results: false``), ``errors`` the first ``MAX_ERRORS``
failed jobs (``index`` of their first item, ``items``, ``type``,
``message``). Branches, ``set`` loops and dependents see it like any step's.
Results of any size: past the inline threshold ``results`` is a reference
to the blob store (``payloads.py``) and the counts stay inline; expressions
read through it like any referenced value.

Items come from ``items`` (resolved against input, steps and state) or
from ``items_from``: an object read once, when the step is claimed, by the
backend's blob store (``items_from.py``: ``file://`` on memory and SQLite,
``s3://`` on DynamoDB + SQS; a JSON array, JSON lines or a CSV with a
header). Either way a value that gives no list (a missing object, a bad
line, a scheme the backend cannot read) fails the attempt naming the step,
the field and what it got, and the items are stored alike (below).

What this module owns: the records a map keeps beside its step. Nothing
about items is in the execution header; the engine's one deadline and one
unsent entry of the step stand for the whole map. Every record is a
``StepRecord`` whose id holds a ``:``, which no step id can:

- ``{step}:map`` -- the window (``output``): item and job totals, the next job
  to send, the jobs in flight (at most ``max_concurrency``: ``open`` lists
  those on their first attempt with no deadline, the common case, as bare
  indices; ``flight`` has job -> [its run, attempt, sent at, due] for the
  rest), counts, the first errors, the size of the results so far.
  Rewritten by every transition of the map, so it is kept small.
- ``{step}:{run}:items:{n}`` -- the resolved items, in chunks of at most
  ``CHUNK_BYTES`` (written once, when the step is claimed).
- ``{step}:{run}:results:{n}`` -- results (with ``keep_results``): the
  outputs of the jobs whose results one commit applied, ``{"jobs": [j...],
  "results": [[their items' results]...], "bytes": n}``, at most
  ``RESULTS_BYTES`` (a job whose results are larger has a record alone).
  A batch whose outputs came by reference (a worker sends ``{"batch":
  <reference>}`` past its inline threshold) is read once to count it, and
  its entry keeps the reference when the outputs are over
  ``MAX_ITEM_BYTES``.
  The window counts them (``records``); ``_finish`` reads records 0 to
  ``records - 1`` by key and puts the results in item order.

Results: why one record per commit, and what it costs. A commit that
applies k job results (the result-router applies a batch of an execution's
results in one commit: ``Workflow.on_step_results``) writes one results
record, never rewritten, instead of k. DynamoDB bills a write per started
KB of the item, twice inside a transaction, and a record past 1 KB of
JSON is stored compressed (``aws/_items.py``): ten results of 100 bytes (a
1.2 KB record, about 0.6 KB compressed even when they are random hex) cost
2 write units instead of 10 x 2 = 20. The item chunks (32 KB of JSON) are
compressed the same way. A record rewritten result by result (a fixed
chunk of jobs) would be billed at its whole size at every rewrite; a
record per (job, run) written outside the transaction would be idempotent
but one call per job. The invariants hold as
before: the record and the window that counts it (and that takes each job
out of flight) are in the same version-checked commit, so a record exists
exactly for the commits that happened, each job's results are in exactly
one record of its map run (the window's fence applies a job once), and a
crash before the commit leaves nothing a reader finds (at most a record
written ahead at a slot no window counts: "Results slots" below).

Results slots: the record a commit opens sits at slot n, the window's
``records`` before the commit, and ``_keep`` marks it (``Commit.slots``).
Two facts make such a record safe to write *ahead* of the commit, outside
its transaction: no reader reads slot n until a committed window counts it
(``_gathered`` reads 0 to ``records - 1``, by key), and the commit that
makes the window count n writes record n itself, whatever an earlier
attempt left there. So a record written ahead by a commit that then loses
(or whose process dies) is an orphan no one reads, overwritten by whichever
commit takes the slot. What a store must never do ahead is write over a
record a commit wrote: a writer with a stale window (another process, or
this one after a lost reply) computes a slot already taken. DynamoDB
(``aws/dynamodb_store.py``, "Results slots ahead") writes a record of two
write units or more by one conditional PutItem before its transaction
(billed once instead of twice) and falls back to the transaction whenever
the slot is not free or a known orphan of its own; the in-memory and SQLite
stores write it in their one transaction. With ``batch: 10`` and results of
100 bytes of hex (a record of 100 results, about 6 KB compressed) that is
$0.19 to $0.21 per million items instead of $0.23 to $0.25; with results of
1 KB, $1.27 to $1.29 instead of $1.64 to $1.66; with ``batch: 1`` the record
of a commit is under 1 KB compressed and stays in the transaction: a put
would save one write unit ($0.06 per million items) for 0.1 more AWS call
per item, past the target of one (``bench/aws_calls.py --no-steps
--map-sizes 1000,10000``, 2026-12-01).

Fences and exactly once: a job's result carries ``item`` (``results.ItemRef``:
the job's index and its own run, bumped at each retry) and the map step's
run_id. The engine checks the step is in progress at that run; the window
checks that job is in flight at that run. Both are changed by the same
version-checked commit that writes the job's record, so a duplicate, a
late answer after a retry, or an answer for an earlier run of the map (a
``set`` loop) changes nothing, and the join (done == total) fires once.

Retries and deadlines are per job: ``max_attempts``, ``retry`` and
``timeout_seconds`` of the step apply to each job; the step itself runs one
attempt with no deadline of its own. The header's deadline entry of the step
is the earliest job deadline or retry time; when it passes the engine calls
``expire``.

Known limits:

- ``results`` is gathered whole, in memory, when the last job is done, and
  goes by reference as one value once the output passes the inline
  threshold (``payloads.INLINE_BYTES``): a path into it
  (``steps.<map>.output.results.5``) reads all of it, once per process.
  Without a blob store (a Backend on a store that has none, and no
  ``blobs``) the results must fit in one step output
  (``payloads.MAX_PAYLOAD_BYTES``); past it the step fails naming the size,
  before any job record is read. A batch over ``MAX_ITEM_BYTES`` that came
  by reference is read twice: to count it, and to gather the results.
- a job re-sent after a crash between a claim and its send
  (``reemit``) has its inputs resolved again, so a ``state`` read may see a
  newer value; and the unsent entry is one per step, so a send confirmed for
  one set of jobs can clear the entry of a set claimed just after it: a
  crash in between is then caught only by ``timeout_seconds``.
- every transition of a map rewrites the window (about 1 KB at 100 jobs in
  flight: two write units in DynamoDB's transaction) and re-reads the item
  chunk it sends from (kept in memory per process after the first read):
  a batch of results in one commit (``Workflow.run`` in
  process, the result router on AWS) pays for it once.
"""

from __future__ import annotations

import bisect
import json
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from .. import expressions
from ..errors import PayloadError, Problem
from ..expressions import References
from ..payloads import MAX_PAYLOAD_BYTES, check_payload, decode, encode, is_ref, load
from ..results import DispatchJob, ItemRef
from ..status import StepStatus
from . import items_from, kinds, transitions
from .records import StepRecord, bounded_error
from .txn import Txn, encode_inputs

log = logging.getLogger("runfox_core")

MAP_KEYS = ("items", "items_from", "fn", "input", "max_concurrency", "batch", "tolerated_failure_percent", "keep_results")
ITEM_ROOTS = ("item", "index")  # what ``map.input`` may read besides input, steps and state
DEFAULT_MAX_CONCURRENCY = 100  # jobs in flight at once
MAX_CONCURRENCY = 1000  # the window record holds one entry per job in flight: ~50 bytes each
MAX_BATCH = 1000  # items per job
CHUNK_BYTES = 32 * 1024  # items per stored chunk, in bytes of JSON
MAX_ITEM_BYTES = 60 * 1024  # one item, so every record a map writes stays under 64 KB
RESULTS_BYTES = 32 * 1024  # job results per results record, in bytes of JSON (a larger job's are alone)
MAX_ERRORS = 10  # failed jobs listed in the output
MAX_CACHED_CHUNKS = 128  # item chunks kept in memory per process (at most 4 MiB)

# (execution, chunk record id) -> its items, least recently used first; only committed chunks,
# which never change (a chunk's id holds the map's run, and a run claims once)
_CHUNKS: OrderedDict[tuple[str, str], list[Any]] = OrderedDict()

# the fields of a window's in-flight entry, and the entry of a job listed in ``open``
RUN, ATTEMPT, SENT_AT, DUE = 0, 1, 2, 3
OPEN = (0, 0, 1, 0)


@dataclass(frozen=True)
class MapConfig:
    """A map step's compiled block, with the per-job limits taken from the step (``refine``)."""

    items: Any
    fn: str
    input: dict[str, Any]
    item_refs: References  # what ``input`` reads of input, steps and state
    items_from: items_from.ItemsFrom | None = None  # the object the items are read from, instead of ``items``
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    batch: int = 1
    tolerated_failure_percent: float = 0.0
    keep_results: bool = True
    max_attempts: int = 1  # per job
    timeout_seconds: float | None = None  # per job


def window_id(sid: str) -> str:
    return f"{sid}:map"


def chunk_id(sid: str, run: int, n: int) -> str:
    return f"{sid}:{run}:items:{n}"


def results_id(sid: str, run: int, n: int) -> str:
    return f"{sid}:{run}:results:{n}"


class MapKind(kinds.StepKind):
    """``map``: a job per item or batch of a run-time list; see the module docstring."""

    name = "map"
    key = "map"
    # its claim stays in the transaction: the commit that claims a map writes its chunks and window
    # (several items) anyway, and its readers of an in-progress record are not fenced by ``as_claimed``
    begins_alike = False

    # ------------------------------------------------------------ compile

    def compile(self, sid: str, block: Any, ctx: kinds.CompileContext,
                problems: list[Problem]) -> tuple[Any, References]:
        if not isinstance(block, dict):
            problems.append(Problem(f"map must be a mapping with {', '.join(MAP_KEYS)}", step=sid, field="map"))
            return None, References()
        for k in block:
            if k not in MAP_KEYS:
                problems.append(Problem(f"unknown key (allowed: {', '.join(MAP_KEYS)})", step=sid, field=f"map.{k}"))
        refs = References()
        source = None
        if ("items" in block) == ("items_from" in block):
            problems.append(Problem("map needs exactly one of 'items' (an expression, or a list, giving the items) "
                                    "and 'items_from' (an object to read them from)", step=sid, field="map.items"))
        elif "items" in block:
            refs.merge(_reads(sid, "map.items", {"items": block["items"]}, (), ctx, problems))
        else:
            source, where, fields = items_from.compile_block(sid, block["items_from"], problems)
            if fields:
                refs.merge(_reads(sid, where, fields, (), ctx, problems))
        fn = block.get("fn")
        if not expressions.is_identifier(fn):
            problems.append(Problem(f"map needs 'fn', the dispatch token of its jobs (1-64 letters, digits, '_' "
                                    f"or '-'), got {fn!r}", step=sid, field="map.fn"))
        item_input = block.get("input", {})
        item_refs = References()
        if not isinstance(item_input, dict):
            problems.append(Problem("map.input must be a mapping (each value resolved per item)",
                                    step=sid, field="map.input"))
            item_input = {}
        else:
            item_refs = _reads(sid, "map.input", item_input, ITEM_ROOTS, ctx, problems)
            refs.merge(item_refs)
        numbers = {name: _integer(sid, block, name, default, low, high, problems)
                   for name, default, low, high in (("max_concurrency", DEFAULT_MAX_CONCURRENCY, 1, MAX_CONCURRENCY),
                                                    ("batch", 1, 1, MAX_BATCH))}
        tolerated = block.get("tolerated_failure_percent", 0)
        if isinstance(tolerated, bool) or not isinstance(tolerated, (int, float)) or not 0 <= tolerated <= 100:
            problems.append(Problem(f"tolerated_failure_percent must be a number from 0 to 100, got {tolerated!r}",
                                    step=sid, field="map.tolerated_failure_percent"))
            tolerated = 0
        keep = block.get("keep_results", True)
        if not isinstance(keep, bool):
            problems.append(Problem(f"keep_results must be true or false, got {keep!r}",
                                    step=sid, field="map.keep_results"))
        config = MapConfig(items=block.get("items"), items_from=source, fn=str(fn), input=item_input,
                           item_refs=item_refs, max_concurrency=numbers["max_concurrency"], batch=numbers["batch"],
                           tolerated_failure_percent=float(tolerated), keep_results=keep is not False)
        return config, refs

    def token(self, sid: str, fn: str | None, config: Any) -> str | None:
        return config.fn if isinstance(config, MapConfig) else None

    def refine(self, plan: Any, problems: list[Problem]) -> Any:
        """Attempts and the deadline are per job: the step itself runs once, with no deadline."""
        if plan.input:
            problems.append(Problem("a map step's per-item input goes under map.input (it may read item and "
                                    "index)", step=plan.id, field="input"))
        config = replace(plan.config, max_attempts=plan.max_attempts, timeout_seconds=plan.timeout_seconds)
        return replace(plan, config=config, max_attempts=1, timeout_seconds=None)

    def default_timeout(self, plan: Any, seconds: float) -> Any:
        """The deployment's timeout for the token is per job, like the step's own."""
        if plan.config.timeout_seconds is not None:
            return plan
        return replace(plan, config=replace(plan.config, timeout_seconds=seconds))

    # ------------------------------------------------------------ lifecycle

    def begin(self, txn: Txn, p: Any, record: StepRecord, now: float) -> list[DispatchJob]:
        """Resolve the items, store them in chunks, open the window and send the first jobs."""
        cfg: MapConfig = p.config
        source = cfg.items_from
        try:
            if source is None:
                items = expressions.resolve_fields({"items": cfg.items}, txn.context(p.kind_refs), "map")["items"]
            else:
                uri = expressions.resolve_fields({"uri": source.uri}, txn.context(p.kind_refs),
                                                 items_from.FIELD)["uri"]
                items = items_from.read_items(txn.codec.blobs, source, uri)
        except expressions.ExpressionError as exc:
            return _fail(txn, p.id, "InputError", f"step {p.id!r}, "
                         f"{expressions.describe_failure(exc.field, exc.expression, exc.cause)}", now)
        except items_from.ItemsFromError as exc:
            return _fail(txn, p.id, "InputError", f"step {p.id!r}, {items_from.FIELD}: {exc}", now)
        if not isinstance(items, list):
            shown = json.dumps(items, default=str)
            shown = shown if len(shown) <= 80 else f"{shown[:80]}..."
            return _fail(txn, p.id, "InputError", f"step {p.id!r}, map.items must resolve to a list; "
                         f"it gave {type(items).__name__} {shown}", now)
        if not items:
            transitions.finish_attempt(txn, p.id, _output(cfg, [], 0, 0, []), None, now)
            return []
        starts, error = _store_items(txn, p.id, record.run_id, items, _items_label if source is None
                                     else lambda i: f"{items_from.FIELD} {uri!r}: item {i}")
        if error:
            return _fail(txn, p.id, "PayloadError", error, now)
        jobs = -(-len(items) // cfg.batch)
        window = {"total": len(items), "jobs": jobs, "starts": starts, "next": 0, "open": [], "flight": {},
                  "succeeded": 0, "failed": 0, "errors": [], "bytes": 0, "records": 0}
        return _step(txn, p, record, window, now, send=True)

    def on_result(self, txn: Txn, p: Any, record: StepRecord, item: ItemRef | None, output: Any,
                  error: dict[str, Any] | None, now: float) -> tuple[bool, Any]:
        if item is None:
            log.info("result without an item for a map step ignored",
                     extra={"execution": txn.key, "step": p.id, "run_id": record.run_id})
            return False, None
        txn.keep.add(p.id)  # the next result of this map, through this handle, reads the step again
        window = _window(txn, p.id, record)
        entry = _entry(window, item.index)
        if entry is None or entry[RUN] != item.run_id or not entry[SENT_AT]:
            log.info("stale or duplicate map job result ignored",
                     extra={"execution": txn.key, "step": p.id, "run_id": record.run_id, "job": item.index,
                            "job_run": item.run_id})
            return False, None
        cfg: MapConfig = p.config
        if error is None and entry[DUE] and entry[DUE] < now:
            error = _timeout(cfg)
        count = _job_size(window, cfg, item.index)
        results: list[Any] = []
        ref = None
        if error is None:
            results, ref, error = _job_results(p.id, output, count, cfg.batch > 1)
        if error is not None:
            _job_failed(txn, p, window, item.index, bounded_error(error), now)
        else:
            _forget(window, item.index)
            window["succeeded"] += count
            if cfg.keep_results:
                _keep(txn, p, record, window, item.index, results, ref)
        return True, _step(txn, p, record, window, now, send=True, result=True)

    def expire(self, txn: Txn, p: Any, record: StepRecord, now: float, send: bool) -> list[DispatchJob]:
        """Jobs past their deadline fail an attempt; retries whose backoff is over are sent (``send``)."""
        window = _window(txn, p.id, record)
        for key, entry in list(window["flight"].items()):
            if entry[SENT_AT] and entry[DUE] and entry[DUE] <= now:
                _job_failed(txn, p, window, int(key), _timeout(p.config), now)
        jobs = _step(txn, p, record, window, now, send=send)
        return jobs if isinstance(jobs, list) else []

    def reemit(self, txn: Txn, p: Any, record: StepRecord, now: float) -> list[DispatchJob]:
        """Every job in flight again, at its own run (a duplicate result is fenced off)."""
        window = _window(txn, p.id, record)
        sent = {int(k): e for k, e in window["flight"].items() if e[SENT_AT]}
        sent.update((j, OPEN) for j in window["open"])
        jobs, failed = _jobs(txn, p, record.run_id, window, sent)
        if failed:  # its inputs no longer resolve (a state key changed): that job has failed for good
            for j, error in failed.items():
                _job_failed(txn, p, window, j, error, now, final=True)
            _step(txn, p, record, window, now, send=False)  # which may end the map
            if txn.step(p.id).status != StepStatus.IN_PROGRESS:
                return []
        if jobs:
            txn.unsent_add[p.id] = [record.run_id, now]
        return jobs


# ---------------------------------------------------------------- compile helpers


def _reads(sid: str, where: str, fields: dict[str, Any], roots: tuple[str, ...], ctx: kinds.CompileContext,
           problems: list[Problem]) -> References:
    """What ``fields`` read, checked like a step's input: known, upstream steps and allowed roots."""
    from ..spec import _is_upstream  # spec imports kinds, which loads this module

    refs = References()
    for msg in expressions.check_fields(fields, where.split(".")[0]):
        problems.append(Problem(msg, step=sid, field=where))
    for name, value in fields.items():
        one = expressions.references(value)
        refs.merge(one)
        ctx.readers.append((one, sid, where, where if where == "map.items" else f"{where}.{name}"))
    for ref in sorted(refs.steps - ctx.known):
        problems.append(Problem(f"references unknown step {ref!r}", step=sid, field=where))
    for ref in sorted(refs.steps & ctx.known):
        if ctx.acyclic and not _is_upstream(ref, sid, ctx.deps):
            problems.append(Problem(f"reads steps.{ref} but {ref!r} is not upstream: add it to depends_on",
                                    step=sid, field=where))
    for root in sorted(refs.unknown_roots - set(roots)):
        allowed = ", ".join(f"{r}." for r in ("input", "steps", "state")) + "".join(f", {r}" for r in roots)
        problems.append(Problem(f"reads {root!r}: paths must start with {allowed}", step=sid, field=where))
    return refs


def _integer(sid: str, block: dict[str, Any], name: str, default: int, low: int, high: int,
             problems: list[Problem]) -> int:
    value = block.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        problems.append(Problem(f"{name} must be an integer from {low} to {high:,}, got {value!r}",
                                step=sid, field=f"map.{name}"))
        return default
    return value


# ---------------------------------------------------------------- records


def _items_label(index: int) -> str:
    return f"map.items[{index}]"


def _store_items(txn: Txn, sid: str, run: int, items: list[Any],
                 named: Callable[[int], str] = _items_label) -> tuple[list[int], str | None]:
    """Write ``items`` in chunks; returns the first index of each chunk, or an error naming a bad item
    (``named(index)``)."""
    starts: list[int] = []
    chunk: list[str] = []
    size = 0
    for index, value in enumerate(items):
        try:
            text = encode(value)
        except (TypeError, ValueError) as exc:
            return [], f"step {sid!r}, {named(index)} is not JSON: {exc}"
        if len(text) > MAX_ITEM_BYTES:
            return [], (f"step {sid!r}, {named(index)} is {len(text):,} bytes of JSON; an item may be at "
                        f"most {MAX_ITEM_BYTES:,} (pass a reference to larger data)")
        if chunk and size + len(text) + 1 > CHUNK_BYTES:
            _put_chunk(txn, sid, run, len(starts) - 1, chunk)
            chunk, size = [], 0
        if not chunk:
            starts.append(index)
        chunk.append(text)
        size += len(text) + 1
    _put_chunk(txn, sid, run, len(starts) - 1, chunk)
    return starts, None


def _put_chunk(txn: Txn, sid: str, run: int, n: int, texts: list[str]) -> None:
    txn.put_step(StepRecord(step_id=chunk_id(sid, run, n), token="", status=StepStatus.COMPLETE, run_id=run,
                            inputs={"items": decode(f"[{','.join(texts)}]")}))


def _window(txn: Txn, sid: str, record: StepRecord) -> dict[str, Any]:
    """The window of the map's current run, to change; written by the claim that began it.

    A window this transaction wrote already is its own (``_step`` writes the copy made here, or
    ``begin``'s new one), so a batch of results changes one window instead of copying it per result.
    """
    wid = window_id(sid)
    rec = txn.step(wid)
    if rec.run_id != record.run_id or not rec.output:
        raise LookupError(f"step {sid!r} run {record.run_id}: its map window is missing (found run {rec.run_id})")
    if txn.changed_steps.get(wid) is rec:
        return rec.output
    window = dict(rec.output)
    window["flight"] = dict(window["flight"])
    window["open"] = list(window["open"])
    window["errors"] = list(window["errors"])
    return window


def _window_record(txn: Txn, p: Any, record: StepRecord, window: dict[str, Any]) -> StepRecord:
    return StepRecord(step_id=window_id(p.id), token=p.token, status=StepStatus.IN_PROGRESS, run_id=record.run_id,
                      output=window)


def _keep(txn: Txn, p: Any, record: StepRecord, window: dict[str, Any], j: int, results: list[Any],
          ref: Any = None) -> None:
    """File the results of job ``j`` in this commit's results record (see "Results" above); ``ref``:
    the reference its batch came as, kept instead of the results when they are over MAX_ITEM_BYTES."""
    size = sum(len(encode(r)) + 1 for r in results)
    window["bytes"] += size
    entry: Any = results
    if ref is not None and size > MAX_ITEM_BYTES:  # the record stays small
        entry, size = ref, len(encode(ref)) + 1
    n = window["records"]
    current = txn.changed_steps.get(results_id(p.id, record.run_id, n - 1)) if n else None
    if current is None or current.output is None or current.output["bytes"] + size > RESULTS_BYTES:
        jobs, kept, used = [j], [entry], size  # this commit's first record, or the last one is full
        window["records"] = n = n + 1
        # a new slot: read by no one until this commit's window counts it (``Commit.slots``)
        txn.slots.add(results_id(p.id, record.run_id, n - 1))
    else:
        out = current.output
        jobs, kept, used = [*out["jobs"], j], [*out["results"], entry], out["bytes"] + size
    txn.put_step(StepRecord(step_id=results_id(p.id, record.run_id, n - 1), token=p.token, status=StepStatus.COMPLETE,
                            run_id=record.run_id, output={"jobs": jobs, "results": kept, "bytes": used}))


def _gathered(txn: Txn, p: Any, record: StepRecord, window: dict[str, Any]) -> list[Any]:
    """Every item's result in item order (null for a failed job's items), from the results records;
    PayloadError (naming the job) when a large batch's reference cannot be read."""
    ids = [results_id(p.id, record.run_id, n) for n in range(window["records"])]
    txn.prefetch(ids, [])
    by_job: dict[int, list[Any]] = {}
    for rid in ids:
        out = txn.step(rid).output
        if out is None:
            raise LookupError(f"step {p.id!r} run {record.run_id}: results record {rid!r} is missing")
        by_job.update(zip(out["jobs"], out["results"], strict=True))
    results: list[Any] = []
    for j in range(window["jobs"]):
        entry = by_job.get(j)
        if is_ref(entry):  # a large batch's reference (see _keep)
            try:
                entry = load(entry)
            except PayloadError as exc:
                raise type(exc)(f"job {j}: {exc}") from exc
        results += entry or [None] * _job_size(window, p.config, j)
    return results


# ---------------------------------------------------------------- jobs


def _entry(window: dict[str, Any], j: int) -> Any:
    """Job ``j``'s in-flight entry, or None when it is not in flight."""
    opened = window["open"]
    at = bisect.bisect_left(opened, j)
    if at < len(opened) and opened[at] == j:
        return OPEN
    return window["flight"].get(str(j))


def _forget(window: dict[str, Any], j: int) -> None:
    """Job ``j`` is no longer in flight."""
    if window["flight"].pop(str(j), None) is None:
        window["open"].pop(bisect.bisect_left(window["open"], j))


def _in_flight(window: dict[str, Any]) -> int:
    return len(window["open"]) + len(window["flight"])


def _job_size(window: dict[str, Any], cfg: MapConfig, j: int) -> int:
    return min(cfg.batch, window["total"] - j * cfg.batch)


def _chunk(txn: Txn, sid: str, run: int, n: int) -> list[Any]:
    """The items of chunk ``n``: written by the claim that began this run and never again, so a
    committed chunk is kept in this process (``_CHUNKS``) and read from the store once."""
    cid = chunk_id(sid, run, n)
    written = txn.changed_steps.get(cid)
    if written is not None:
        return (written.inputs or {})["items"]
    cached = _CHUNKS.get((txn.key, cid))
    if cached is not None:
        _CHUNKS.move_to_end((txn.key, cid))
        return cached
    stored = txn.store.load_steps(txn.key, [cid]).get(cid)
    if stored is None or not stored.inputs or "items" not in stored.inputs:
        raise LookupError(f"step {sid!r} run {run}: item chunk {n} is missing")
    _CHUNKS[(txn.key, cid)] = items = stored.inputs["items"]
    while len(_CHUNKS) > MAX_CACHED_CHUNKS:
        _CHUNKS.popitem(last=False)
    return items


def _items(txn: Txn, sid: str, run: int, window: dict[str, Any], first: int, count: int) -> list[Any]:
    starts = window["starts"]
    out: list[Any] = []
    index = first
    while len(out) < count:
        n = bisect.bisect_right(starts, index) - 1
        stored = _chunk(txn, sid, run, n)
        take = stored[index - starts[n]: index - starts[n] + count - len(out)]
        out += take
        index += len(take)
    return out


def _jobs(txn: Txn, p: Any, run: int, window: dict[str, Any],
          which: dict[int, list[float]]) -> tuple[list[DispatchJob], dict[int, dict[str, str]]]:
    """The jobs ``which`` (job -> its in-flight entry), and the errors of those whose inputs cannot be built."""
    cfg: MapConfig = p.config
    jobs: list[DispatchJob] = []
    failed: dict[int, dict[str, str]] = {}
    if not which:
        return jobs, failed
    base = txn.context(cfg.item_refs)
    for j, entry in sorted(which.items()):
        first = j * cfg.batch
        items = _items(txn, p.id, run, window, first, _job_size(window, cfg, j))
        try:
            resolved = [expressions.resolve_fields(cfg.input, {**base, "item": value, "index": first + k},
                                                   "map.input") for k, value in enumerate(items)]
            inputs, _ = encode_inputs({"batch": resolved} if cfg.batch > 1 else resolved[0], p.id)
        except expressions.ExpressionError as exc:
            failed[j] = {"type": "InputError", "message": f"step {p.id!r}, item {first}: "
                         f"{expressions.describe_failure(exc.field, exc.expression, exc.cause)}"}
            continue
        except PayloadError as exc:
            failed[j] = {"type": "PayloadError", "message": f"{exc} (job {j}, items from {first})"}
            continue
        jobs.append(DispatchJob(execution_key=txn.key, step=p.id, inputs=inputs, run_id=run, token=p.token,
                                item=ItemRef(j, int(entry[RUN]), cfg.batch > 1)))
    return jobs, failed


def _job_results(sid: str, output: Any, count: int,
                 batch: bool) -> tuple[list[Any], dict[str, Any] | None, dict[str, str] | None]:
    """The item results of a job's output, the reference they came by (a batch over a worker's
    inline threshold), or the error that makes it a failed attempt. A batch by reference is read
    here, once, to count it; a store that cannot be read raises ``BlobStoreError`` (a retry)."""
    try:
        check_payload(output, f"step {sid!r} output")
    except PayloadError as exc:
        return [], None, {"type": "PayloadError", "message": str(exc)}
    if not batch:
        return [output], None, None
    results = ref = output.get("batch")
    if is_ref(ref):
        try:
            results = load(ref)
        except PayloadError as exc:  # BadReferenceError: missing, or not what the reference says
            return [], None, {"type": type(exc).__name__, "message": f"step {sid!r} output: {exc}"}
    else:
        ref = None
    if not isinstance(results, list) or len(results) != count:
        got = f"a list of {len(results)}" if isinstance(results, list) else type(results).__name__
        return [], None, {"type": "PayloadError", "message": f"step {sid!r}: a batch of {count} items needs "
                          f"{{\"batch\": [{count} outputs]}}; got {got}"}
    return results, ref, None


def _timeout(cfg: MapConfig) -> dict[str, str]:
    return {"type": "TimeoutError", "message": f"no result within timeout_seconds={cfg.timeout_seconds or 0:g}"}


def _job_failed(txn: Txn, p: Any, window: dict[str, Any], j: int, error: dict[str, str], now: float,
                final: bool = False) -> None:
    """An attempt of job ``j`` failed: it waits for a retry in its place, or its items count as failed."""
    cfg: MapConfig = p.config
    key = str(j)
    entry = _entry(window, j)
    assert entry is not None
    _forget(window, j)
    attempt = int(entry[ATTEMPT]) + 1
    if not final and attempt < cfg.max_attempts:
        delay = transitions.retry_delay(p, attempt)
        window["flight"][key] = [int(entry[RUN]) + 1, attempt, 0, now + delay]
        return
    count = _job_size(window, cfg, j)
    window["failed"] += count
    window["bytes"] += 5 * count  # each failed item is a null in the results
    if len(window["errors"]) < MAX_ERRORS:
        window["errors"].append({"index": j * cfg.batch, "items": count, **error})
    log.info("map job failed", extra={"execution": txn.key, "step": p.id, "job": j, "error": error})


def _step(txn: Txn, p: Any, record: StepRecord, window: dict[str, Any], now: float, send: bool,
          result: bool = False) -> Any:
    """After any change to the window: fail past the tolerance, send what fits, finish when all are done.

    Returns the jobs to send (``begin``, ``expire``), or what the result's
    transition answers when ``result`` (the jobs then go in ``txn.jobs``).
    """
    cfg: MapConfig = p.config
    jobs: list[DispatchJob] = []
    for _ in range(2):  # a second pass when jobs that could not be built freed their places
        if _over_tolerance(cfg, window):
            return _fail_map(txn, p, window, now, result)
        if not send:
            break
        flight = window["flight"]
        # due retries (in flight, not sent, their backoff over), then new jobs while there is room
        due = {int(k): e for k, e in flight.items() if not e[SENT_AT] and e[DUE] <= now} if flight else {}
        fresh = range(window["next"], min(window["next"] + cfg.max_concurrency - _in_flight(window),
                                          window["jobs"]))
        for j in fresh:
            due[j] = [0, 0, 0, 0]
        window["next"] += len(fresh)
        if not due:
            break
        deadline = now + cfg.timeout_seconds if cfg.timeout_seconds else 0
        built, failed = _jobs(txn, p, record.run_id, window, due)
        for job in built:
            assert job.item is not None
            j = job.item.index
            if j in fresh and not deadline:  # a first attempt with no deadline: an index is enough
                window["open"].append(j)  # new jobs go in index order, so the list stays sorted
            else:
                flight[str(j)] = [job.item.run_id, due[j][ATTEMPT], now, deadline]
        for j, error in failed.items():  # a deterministic failure: no attempt could do better
            if j in fresh:
                flight[str(j)] = due[j]  # in flight, for _job_failed to take out
            _job_failed(txn, p, window, j, error, now, final=True)
        jobs += built
        if not failed:
            break
    if window["succeeded"] + window["failed"] >= window["total"]:
        return _finish(txn, p, record, window, now, result)
    written = txn.changed_steps.get(window_id(p.id))
    if written is None or written.output is not window or written.status != StepStatus.IN_PROGRESS:
        txn.put_step(_window_record(txn, p, record, window))  # (else this transaction wrote it already)
    timers = [e[DUE] for e in window["flight"].values() if e[DUE]] if window["flight"] else []
    if timers:
        txn.header.deadlines[p.id] = [record.run_id, min(timers)]
    else:
        txn.header.deadlines.pop(p.id, None)
    if jobs:
        txn.unsent_add[p.id] = [record.run_id, now]  # until the runner confirms the send
    if result:
        txn.jobs.extend(jobs)
        return None
    return jobs


def _over_tolerance(cfg: MapConfig, window: dict[str, Any]) -> bool:
    return window["failed"] * 100 > cfg.tolerated_failure_percent * window["total"]


def _fail_map(txn: Txn, p: Any, window: dict[str, Any], now: float, result: bool) -> Any:
    cfg: MapConfig = p.config
    first = window["errors"][0] if window["errors"] else {}
    percent = 100 * window["failed"] / window["total"]
    message = (f"{window['failed']:,} of {window['total']:,} items failed ({percent:.4g}%), more than "
               f"tolerated_failure_percent={cfg.tolerated_failure_percent:g}; first: item {first.get('index')}: "
               f"{first.get('type')}: {first.get('message')}")
    outcome = _fail(txn, p.id, "MapError", message, now, answer=True)
    return outcome if result else []


def _fail(txn: Txn, sid: str, kind: str, message: str, now: float, answer: bool = False) -> Any:
    outcome = transitions.fail_attempt(txn, sid, bounded_error({"type": kind, "message": message}), now)
    return outcome if answer else []


def _output(cfg: MapConfig, results: list[Any], succeeded: int, failed: int, errors: list[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"succeeded": succeeded, "failed": failed, "errors": errors}
    if cfg.keep_results:
        out["results"] = results
    return out


def _finish(txn: Txn, p: Any, record: StepRecord, window: dict[str, Any], now: float, result: bool) -> Any:
    """Every item is done: gather the results in item order and end the attempt.

    The output is packed like any step's (``transitions.finish_attempt``,
    ``payloads.Codec``): over the inline threshold ``results``, its largest
    field, goes to the blob store as one value and is replaced by a
    reference, while the counts and errors stay inline. Without a blob store
    nothing can go by reference, so results over one step output fail the
    step here, before any results record is read.
    """
    cfg: MapConfig = p.config
    results: list[Any] = []
    if cfg.keep_results:
        if window["bytes"] > MAX_PAYLOAD_BYTES and txn.codec.blobs is None:
            return _fail(txn, p.id, "PayloadError",
                         f"step {p.id!r}: the results of its {window['total']:,} items are about "
                         f"{window['bytes']:,} bytes of JSON; with no blob store to pass them by reference, a "
                         f"step output holds at most {MAX_PAYLOAD_BYTES:,} (keep_results: false keeps only the "
                         f"counts and errors)", now, answer=result)
        try:
            results = _gathered(txn, p, record, window)
        except PayloadError as exc:  # BadReferenceError: a large batch's object is gone or changed
            return _fail(txn, p.id, type(exc).__name__, f"step {p.id!r}, the results of {exc}", now, answer=result)
    txn.put_step(_window_record(txn, p, record, window).evolve(status=StepStatus.COMPLETE))
    answer = transitions.finish_attempt(
        txn, p.id, _output(cfg, results, window["succeeded"], window["failed"], window["errors"]), None, now)
    return answer if result else []


kinds.register(MapKind())
