"""graph.py -- a spec or an execution as a Mermaid ``flowchart`` (pure: no backend, no I/O).

``spec_graph(plan)`` draws the steps and their ``depends_on`` edges;
``execution_graph(description)`` draws the same from an execution and styles
each node by its reported status (one ``classDef`` per status), labelled with
its run and duration. Node ids are ``s0, s1, ...`` in spec order, so any step
id (dots, dashes) is safe; the step id is the label.

Known limits: only ``depends_on`` edges are drawn; ``set`` loops and
``halt``/``complete`` branches are not.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..inspector import Description
from ..spec import Plan
from ..status import StepStatus

#: fill / stroke per reported status (Mermaid classDef styles)
STYLES: Mapping[StepStatus, str] = {
    StepStatus.READY: "fill:#f5f5f5,stroke:#9e9e9e",
    StepStatus.IN_PROGRESS: "fill:#e3f2fd,stroke:#1e88e5",
    StepStatus.RETRY: "fill:#fff8e1,stroke:#f9a825",
    StepStatus.COMPLETE: "fill:#e8f5e9,stroke:#43a047",
    StepStatus.HALTED: "fill:#ede7f6,stroke:#5e35b1",
    StepStatus.FAILED: "fill:#ffebee,stroke:#e53935",
    StepStatus.CANCELLED: "fill:#eeeeee,stroke:#757575,stroke-dasharray:4",
}


def spec_graph(plan: Plan) -> str:
    """The steps of ``plan`` and their dependencies."""
    steps = [(sid, p.deps) for sid, p in plan.steps.items()]
    return _flowchart(steps, {sid: sid for sid, _ in steps}, {})


def execution_graph(description: Description) -> str:
    """The steps of an execution, each styled by status and labelled ``step / run N · 1.23s``."""
    steps = [(sid, view.depends_on) for sid, view in description.steps.items()]
    labels = {}
    for sid, view in description.steps.items():
        took = "" if view.seconds is None else f" · {view.seconds:.2f}s"
        labels[sid] = f"{sid}<br/>{view.status} · run {view.run_id}{took}"
    return _flowchart(steps, labels, {sid: view.status for sid, view in description.steps.items()})


def _flowchart(steps: Sequence[tuple[str, Sequence[str]]], labels: Mapping[str, str],
               statuses: Mapping[str, StepStatus]) -> str:
    ids = {sid: f"s{i}" for i, (sid, _) in enumerate(steps)}
    lines = ["flowchart TD"]
    lines += [f'  {ids[sid]}["{_quote(labels[sid])}"]' for sid, _ in steps]
    lines += [f"  {ids[dep]} --> {ids[sid]}" for sid, deps in steps for dep in deps]
    used = [s for s in StepStatus if s in set(statuses.values())]
    for status in used:
        lines.append(f"  classDef {status} {STYLES[status]}")
        lines.append(f"  class {','.join(ids[sid] for sid, st in statuses.items() if st == status)} {status}")
    return "\n".join(lines) + "\n"


def _quote(text: str) -> str:
    """A label safe inside Mermaid's ``["..."]`` (a double quote ends it)."""
    return text.replace('"', "#quot;")
