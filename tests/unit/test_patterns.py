"""The documented workflow patterns, run to completion on each local backend."""

from __future__ import annotations

from typing import Any

import runfox_core as rfx


def run(make_backend: Any, spec: dict[str, Any] | str, execute: Any, inputs: dict[str, Any] | None = None) -> Any:
    backend = make_backend(executor=execute)
    if isinstance(spec, str):
        wf = rfx.Workflow.from_yaml(spec, backend, inputs=inputs)
    else:
        wf = rfx.Workflow.from_dict(spec, backend, inputs=inputs)
    return wf, wf.run(timeout=30)


GREETING = """
name: greeting
steps:
  - op: make_greeting
    input:
      name: {"var": "input.name"}
  - op: shout
    depends_on: [make_greeting]
    input:
      text: {"var": "steps.make_greeting.output.text"}
outputs:
  message: {"var": "steps.shout.output.text"}
"""


def greet(op: str, inputs: dict[str, Any]) -> dict[str, Any]:
    if op == "make_greeting":
        return {"text": f"hello, {inputs['name']}"}
    return {"text": inputs["text"].upper()}


def test_single_step_completes_with_its_output(make_backend: Any) -> None:
    spec = {"steps": [{"op": "double", "input": {"x": {"var": "input.x"}}}],
            "outputs": {"y": {"var": "steps.double.output.y"}}}
    wf, result = run(make_backend, spec, lambda op, i: {"y": i["x"] * 2}, {"x": 21})
    assert result == rfx.Complete({"y": 42})
    assert wf.status == rfx.WorkflowStatus.COMPLETE
    assert wf.step_statuses == {"double": rfx.StepStatus.COMPLETE}


def test_greeting_chain_passes_outputs_downstream(make_backend: Any) -> None:
    _, result = run(make_backend, GREETING, greet, {"name": "world"})
    assert result == rfx.Complete({"message": "HELLO, WORLD"})


def test_chain_of_ten_accumulates_in_order(make_backend: Any) -> None:
    steps: list[dict[str, Any]] = [{"id": "s0", "fn": "inc", "input": {"x": 0}}]
    steps += [{"id": f"s{i}", "fn": "inc", "depends_on": [f"s{i - 1}"],
               "input": {"x": {"var": f"steps.s{i - 1}.output.x"}}} for i in range(1, 10)]
    spec = {"steps": steps, "outputs": {"x": {"var": "steps.s9.output.x"}}}
    _, result = run(make_backend, spec, lambda op, i: {"x": i["x"] + 1})
    assert result.outcome == {"x": 10}


def test_fan_out_dispatches_all_branches_in_one_advance(make_backend: Any) -> None:
    spec = {"steps": [{"op": "seed"}] + [
        {"id": f"w{i}", "fn": "work", "depends_on": ["seed"], "input": {"i": i}} for i in range(5)]}
    backend = make_backend()
    wf = rfx.Workflow.from_dict(spec, backend)
    first = wf.advance()
    assert [j.step for j in first.jobs] == ["seed"]
    wf.on_step_result("seed", {}, run_id=0)
    second = wf.advance()
    assert isinstance(second, rfx.Dispatch)
    assert sorted(j.step for j in second.jobs) == [f"w{i}" for i in range(5)]
    assert {j.token for j in second.jobs} == {"work"}


def test_fan_in_collects_every_branch_with_vars(make_backend: Any) -> None:
    spec = {
        "steps": [{"id": f"score{i}", "fn": "score", "input": {"i": i}} for i in range(4)] + [
            {"op": "total", "depends_on": [f"score{i}" for i in range(4)],
             "input": {"scores": {"vars": "steps[*].output.score"}}}],
        "outputs": {"total": {"var": "steps.total.output.total"}},
    }

    def execute(op: str, inputs: dict[str, Any]) -> dict[str, Any]:
        if op == "score":
            return {"score": inputs["i"] * 10}
        return {"total": sum(inputs["scores"])}

    _, result = run(make_backend, spec, execute)
    assert result.outcome == {"total": 60}


def test_diamond_joins_both_sides(make_backend: Any) -> None:
    spec = {
        "steps": [
            {"op": "a", "input": {"x": 1}},
            {"op": "b", "depends_on": ["a"], "input": {"x": {"var": "steps.a.output.x"}}},
            {"op": "c", "depends_on": ["a"], "input": {"x": {"var": "steps.a.output.x"}}},
            {"op": "d", "depends_on": ["b", "c"],
             "input": {"l": {"var": "steps.b.output.x"}, "r": {"var": "steps.c.output.x"}}},
        ],
        "outputs": {"d": {"var": "steps.d.output.x"}},
    }

    def execute(op: str, i: dict[str, Any]) -> dict[str, Any]:
        return {"a": {"x": 1}, "b": {"x": i.get("x", 0) + 10}, "c": {"x": i.get("x", 0) + 100},
                "d": {"x": i.get("l", 0) + i.get("r", 0)}}[op]

    _, result = run(make_backend, spec, execute)
    assert result.outcome == {"d": 112}


def test_state_accumulates_latest_wins_across_steps(make_backend: Any) -> None:
    spec = {"steps": [{"op": "a"}, {"op": "b", "depends_on": ["a"], "input": {"seen": {"var": "state.count"}}}],
            "outputs": {"count": {"var": "state.count"}, "first": {"var": "state.first"}}}

    def execute(op: str, i: dict[str, Any]) -> dict[str, Any]:
        return {"count": 1, "first": "a"} if op == "a" else {"count": i["seen"] + 1}

    wf, result = run(make_backend, spec, execute)
    assert result.outcome == {"count": 2, "first": "a"}
    assert wf.state == {"count": 2, "first": "a"}


def test_halt_branch_ends_with_the_branch_result(make_backend: Any) -> None:
    spec = {"steps": [
        {"op": "check", "branch": [{"condition": {">=": [{"var": "unsafe"}, 0.7]}, "action": "halt",
                                    "result": {"status": "rejected"}}]},
        {"op": "publish", "depends_on": ["check"]}]}
    wf, result = run(make_backend, spec, lambda op, i: {"unsafe": 0.9})
    assert result == rfx.Halt({"status": "rejected"})
    assert wf.status == rfx.WorkflowStatus.HALTED
    assert wf.step_statuses == {"check": rfx.StepStatus.HALTED, "publish": rfx.StepStatus.CANCELLED}


def test_no_branch_fired_reruns_until_attempts_are_spent(make_backend: Any) -> None:
    calls: list[int] = []
    spec = {"steps": [{"op": "poll", "max_attempts": 3,
                       "branch": [{"condition": {"==": [{"var": "done"}, True]}, "action": "complete"}]}]}

    def execute(op: str, i: dict[str, Any]) -> dict[str, Any]:
        calls.append(1)
        return {"done": False}

    wf, result = run(make_backend, spec, execute)
    assert isinstance(result, rfx.Complete)
    assert len(calls) == 3


FIB = """
steps:
  - op: seed
  - op: iterate
    depends_on: [seed]
    input:
      a: {"var": "state.fib_n"}
      b: {"var": "state.fib_n1"}
    branch:
      - condition: {"<": [{"var": "state.fib_n"}, 100]}
        action: {set: "steps.iterate.status", value: ready}
      - condition: {">=": [{"var": "state.fib_n"}, 100]}
        action: complete
outputs:
  fib: {"var": "state.fib_n"}
"""


def fib(op: str, i: dict[str, Any]) -> dict[str, Any]:
    if op == "seed":
        return {"fib_n": 0, "fib_n1": 1}
    return {"fib_n": i["b"], "fib_n1": i["a"] + i["b"]}


def test_fibonacci_loop_runs_until_its_exit_condition(make_backend: Any) -> None:
    wf, result = run(make_backend, FIB, fib)
    assert result.outcome == {"fib": 144}
    assert wf.backend.load_steps(wf.id)["iterate"].run_id == 11  # 12 iterations: runs 0..11


def test_stack_machine_loop_with_a_dispatch_table(make_backend: Any) -> None:
    # A tiny stack machine: each loop iteration executes one instruction at state.pc.
    program = [["push", 2], ["push", 3], ["add"], ["push", 4], ["mul"], ["halt"]]
    spec = {
        "steps": [{"op": "load", "input": {"program": {"var": "input.program"}}},
                  {"op": "step", "depends_on": ["load"],
                   "input": {"pc": {"var": "state.pc"}, "stack": {"var": "state.stack"},
                             "program": {"var": "input.program"}},
                   "branch": [{"condition": {"var": "halted"}, "action": "complete"},
                              {"condition": {"!": {"var": "halted"}}, "action": {"set": "step"}}]}],
        "outputs": {"top": {"var": "state.top"}},
    }

    def execute(op: str, i: dict[str, Any]) -> dict[str, Any]:
        if op == "load":
            return {"pc": 0, "stack": [], "halted": False}
        instr, stack = i["program"][i["pc"]], list(i["stack"])
        if instr[0] == "push":
            stack.append(instr[1])
        elif instr[0] == "add":
            stack.append(stack.pop() + stack.pop())
        elif instr[0] == "mul":
            stack.append(stack.pop() * stack.pop())
        return {"pc": i["pc"] + 1, "stack": stack, "top": stack[-1], "halted": instr[0] == "halt"}

    _, result = run(make_backend, spec, execute, {"program": program})
    assert result.outcome == {"top": 20}


def test_game_of_life_blinker_loops_cell_steps_per_generation(make_backend: Any) -> None:
    # A 3x3 board: one step per cell computes its next value from state.board;
    # a "tick" step joins them, writes the new board, and loops until 4 generations ran.
    cells = [(r, c) for r in range(3) for c in range(3)]
    cell_steps = [{"id": f"c{r}{c}", "fn": "cell", "depends_on": ["gen"],
                   "input": {"r": r, "c": c, "board": {"var": "state.board"}}} for r, c in cells]
    spec = {
        "steps": [{"op": "gen", "input": {"board": {"var": ["state.board", None]}, "start": {"var": "input.board"}}},
                  *cell_steps,
                  {"op": "tick", "depends_on": [s["id"] for s in cell_steps],
                   "input": {"cells": {"vars": "steps[*].output.cell"}, "generation": {"var": ["state.generation", None]}},
                   "branch": [{"condition": {"<": [{"var": "state.generation"}, 4]}, "action": {"set": "gen"}},
                              {"condition": {">=": [{"var": "state.generation"}, 4]}, "action": "complete"}]}],
        "outputs": {"board": {"var": "state.board"}, "generation": {"var": "state.generation"}},
    }

    def execute(op: str, i: dict[str, Any]) -> dict[str, Any]:
        if op == "gen":
            return {"board": i["board"] or i["start"]}
        if op == "cell":
            b, r, c = i["board"], i["r"], i["c"]
            n = sum(b[r + dr][c + dc] for dr in (-1, 0, 1) for dc in (-1, 0, 1)
                    if (dr, dc) != (0, 0) and 0 <= r + dr < 3 and 0 <= c + dc < 3)
            alive = 1 if (b[r][c] and n in (2, 3)) or (not b[r][c] and n == 3) else 0
            return {"cell": [r, c, alive]}
        board = [[0] * 3 for _ in range(3)]
        for r, c, v in i["cells"]:
            board[r][c] = v
        return {"board": board, "generation": (i["generation"] or 0) + 1}

    blinker = [[0, 1, 0], [0, 1, 0], [0, 1, 0]]
    _, result = run(make_backend, spec, execute, {"board": blinker})
    # a blinker has period 2: after 4 generations it is back where it started
    assert result.outcome == {"board": blinker, "generation": 4}


def test_id_and_fn_let_several_steps_call_one_function(make_backend: Any) -> None:
    seen: list[tuple[str, dict[str, Any]]] = []
    spec = {"steps": [{"id": "first", "fn": "echo", "input": {"v": 1}},
                      {"id": "second", "fn": "echo", "input": {"v": 2}, "depends_on": ["first"]}]}

    def execute(op: str, i: dict[str, Any]) -> dict[str, Any]:
        seen.append((op, i))
        return {"v": i["v"]}

    run(make_backend, spec, execute)
    assert seen == [("echo", {"v": 1}), ("echo", {"v": 2})]


def test_an_execution_created_in_one_handle_is_finished_by_another(make_backend: Any) -> None:
    backend = make_backend(executor=greet)
    wf = rfx.Workflow.from_yaml(GREETING, backend, inputs={"name": "x"})
    other = rfx.Workflow.resume(wf.id, backend)
    assert other.run().outcome == {"message": "HELLO, X"}
    assert wf.status == rfx.WorkflowStatus.COMPLETE


def test_input_and_output_names_that_are_also_operator_names_stay_names(make_backend: Any) -> None:
    # "count", "max" and "in" are JSON Logic operators; as input/output names they are just names
    spec = {"steps": [{"op": "a", "input": {"count": {"var": "input.n"}, "max": 3, "in": [1]}}],
            "outputs": {"count": {"var": "state.count"}}}
    seen: list[dict[str, Any]] = []

    def execute(op: str, i: dict[str, Any]) -> dict[str, Any]:
        seen.append(i)
        return {"count": i["count"] + 1}

    _, result = run(make_backend, spec, execute, {"n": 9})
    assert seen == [{"count": 9, "max": 3, "in": [1]}]
    assert result.outcome == {"count": 10}
