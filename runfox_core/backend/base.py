"""base.py -- Backend: a Store (long-term) composed with a Runner (short-term).

The Backend creates executions (validating first, so a bad spec writes
nothing), caches what never changes (definitions and compiled plans), and
passes dispatch and results through to the runner. All state transitions
live in the engine; the Backend only wires parts together.

``load_steps``/``load`` report steps as readers should see them: once an
execution has ended, a step still open reads ``cancelled`` (derived here,
never stored; see ``status.py``), and a claim written ahead of a commit
that has not landed reads as not begun (``transitions.as_claimed``).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..blobs import BlobStore
from ..engine.records import ExecutionDefinition, ExecutionHeader, StepRecord
from ..engine.transitions import all_as_claimed, iso
from ..errors import PayloadError
from ..executor import Executor
from ..ids import execution_key, new_execution_id, step_key, step_run_key
from ..payloads import Codec
from ..results import DispatchJob, StateChangeEvent, StepResult
from ..spec import Plan, compile_spec, compile_start, workflow_id
from ..status import WorkflowStatus, step_status
from .blob_homes import blob_store_for
from .inmemory_store import InMemoryStore
from .inprocess_runner import InProcessRunner
from .inprocess_worker import InProcessWorker
from .runner import Runner, Worker
from .store import Store

#: ``on_state_change(workflow_execution_id, previous_state, new_state, event)``
StateChangeCallback = Callable[[str, dict[str, Any], dict[str, Any], StateChangeEvent], None]

DEFINITION_CACHE_SIZE = 1024  # definitions kept per process (they never change)
UNSENT_GRACE_SECONDS = 60.0  # a claimed job unconfirmed this long is re-emitted by advance()


@dataclass
class ExecutionView:
    """Everything stored about one execution, assembled for inspection (O(steps))."""

    workflow_id: str
    execution_id: str
    spec: dict[str, Any]
    inputs: dict[str, Any]
    state: dict[str, Any]
    steps: dict[str, StepRecord]
    status: WorkflowStatus
    outcome: Any
    error: dict[str, Any] | None


class Backend:
    def __init__(
        self,
        executor: Executor | None = None,
        store: Store | None = None,
        runner: Runner | None = None,
        poll_interval: float | None = None,
        on_state_change: StateChangeCallback | None = None,
        clock: Callable[[], float] = time.time,
        unsent_grace_seconds: float = UNSENT_GRACE_SECONDS,
        op_defaults: dict[str, dict[str, Any]] | None = None,
        blobs: BlobStore | None = None,
        inline_bytes: int | None = None,
    ):
        """``on_state_change(workflow_execution_id, previous_state, new_state, event)`` fires after
        each state merge is committed; it must not call back into the backend.
        ``op_defaults``: per dispatch token, settings its steps inherit (``timeout_seconds``).
        ``blobs``: where values over ``inline_bytes`` go by reference (default: the store's own,
        ``blob_store_for``; None for a store without one, which keeps every value inline)."""
        self.store = store if store is not None else InMemoryStore()
        self.runner = runner if runner is not None else InProcessRunner()
        self.codec = Codec(blobs if blobs is not None else blob_store_for(self.store), inline_bytes)
        self.worker: Worker | None = InProcessWorker(self.runner, executor, codec=self.codec) \
            if executor is not None else None
        self.poll_interval = poll_interval if poll_interval is not None else self.runner.poll_interval
        self.on_state_change = on_state_change
        self.clock = clock
        self.unsent_grace_seconds = unsent_grace_seconds
        self.op_defaults = op_defaults or {}
        self._definitions: OrderedDict[str, ExecutionDefinition] = OrderedDict()
        self._plans: OrderedDict[str, Plan] = OrderedDict()  # by workflow id: same spec, same plan
        self._lock = threading.Lock()
        self.conflict_retries = 0  # optimistic-concurrency retries seen by this process

    # ------------------------------------------------------------- creation

    def create(self, spec: dict[str, Any], inputs: dict[str, Any] | None = None, name: str | None = None) -> str:
        """Validate, then store a new execution; return its key. Raises SpecError, PayloadError,
        ExecutionExistsError; writes nothing when it raises."""
        plan, inputs = compile_start(spec, inputs, self.op_defaults)  # declared defaults applied
        try:
            inputs, _ = self.codec.pack(inputs, "workflow inputs")
        except PayloadError as exc:
            exc.field = "inputs"  # type: ignore[attr-defined]  # read by api.error_body
            raise
        now = self.clock()
        definition = ExecutionDefinition(
            workflow_id=workflow_id(spec), execution_id=new_execution_id(now), spec=spec,
            inputs=inputs, created_at=iso(now), name=name,
        )
        header = ExecutionHeader(
            status=WorkflowStatus.PENDING, version=0, remaining=len(plan.steps),
            ready={sid: 0.0 for sid in plan.roots},
            joins={s.id: len(s.deps) for s in plan.steps.values() if len(s.deps) >= 2},
            updated_at=iso(now),
        )
        self.store.create(definition, header)
        with self._lock:
            self._plans[definition.workflow_id] = plan
        return definition.key

    # -------------------------------------------------------------- reading

    def load_definition(self, key: str) -> ExecutionDefinition:
        with self._lock:
            cached = self._definitions.get(key)
            if cached is not None:
                self._definitions.move_to_end(key)
                return cached
        definition = self.store.load_definition(key)
        with self._lock:
            self._definitions[key] = definition
            while len(self._definitions) > DEFINITION_CACHE_SIZE:
                self._definitions.popitem(last=False)
        return definition

    def plan(self, key: str) -> Plan:
        """The compiled spec of an execution, compiled once per process per workflow id."""
        definition = self.load_definition(key)
        with self._lock:
            plan = self._plans.get(definition.workflow_id)
            if plan is not None:
                self._plans.move_to_end(definition.workflow_id)
                return plan
        plan = compile_spec(definition.spec, op_defaults=self.op_defaults)
        with self._lock:
            self._plans[definition.workflow_id] = plan
            while len(self._plans) > DEFINITION_CACHE_SIZE:
                self._plans.popitem(last=False)
        return plan

    def load_header(self, key: str) -> ExecutionHeader:
        return self.store.load_header(key)

    def load_steps(self, key: str) -> dict[str, StepRecord]:
        """Every step's record in spec order (defaults for steps never touched), as readers see it:
        once the execution has ended, a step still open is reported CANCELLED (see ``status.py``);
        a claim written ahead of a commit that has not landed, as not begun (``as_claimed``)."""
        plan = self.plan(key)
        stored = self.store.load_steps(key, None)
        header = self.store.load_header(key)
        stored = all_as_claimed(header, stored, plan)
        ended = header.status
        out = {}
        for sid, p in plan.steps.items():
            rec = stored.get(sid) or StepRecord(step_id=sid, token=p.token)
            shown = step_status(rec.status, ended)
            out[sid] = rec if shown == rec.status else rec.evolve(status=shown)
        return out

    def load(self, key: str) -> ExecutionView:
        definition = self.load_definition(key)
        header = self.store.load_header(key)
        return ExecutionView(
            workflow_id=definition.workflow_id, execution_id=definition.execution_id, spec=definition.spec,
            inputs=definition.inputs, state=self.store.load_state(key, None), steps=self.load_steps(key),
            status=header.status, outcome=header.outcome, error=header.error,
        )

    def record_conflict(self) -> None:
        with self._lock:
            self.conflict_retries += 1

    # ------------------------------------------------------ composite keys

    def execution_key(self, record: Any) -> str:
        """The execution key of a loaded execution (``workflow_execution_id``: the runfox name)."""
        return execution_key(record.workflow_id, record.execution_id)

    workflow_execution_id = execution_key

    def step_key(self, execution_key: str, step: str) -> str:
        return step_key(execution_key, step)

    def step_run_key(self, execution_key: str, step: str, run_id: int) -> str:
        return step_run_key(execution_key, step, run_id)

    # ------------------------------------------------------------- runner

    def dispatch(self, workflow_execution_id: str, jobs: list[DispatchJob]) -> list[StepResult]:
        """Hand jobs to the runner, then confirm them sent. Returns results run locally, if any:
        apply them with ``on_step_result`` before the next ``advance()``."""
        if not jobs:
            return []
        results = self.runner.dispatch(workflow_execution_id, jobs)
        self.store.mark_sent(workflow_execution_id, {job.step: job.run_id for job in jobs})
        return results

    def gather(self, workflow_execution_id: str) -> list[StepResult]:
        return self.runner.gather(workflow_execution_id)

    def pending_tasks(self) -> list[DispatchJob]:
        return self.runner.list_pending_jobs()

    def take_tasks(self) -> list[DispatchJob]:
        return self.runner.take_pending_jobs()

    def submit_result(self, workflow_execution_id: str, op: str, output: Any = None, run_id: int | None = None,
                      error: dict[str, str] | None = None) -> None:
        """File a worker's result (an output, or an error {type, message}) for the job's execution."""
        self.runner.submit_work_result(StepResult(workflow_execution_id, op, run_id, output=output, error=error))
