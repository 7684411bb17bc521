"""The README's "Operate executions" commands run, and print what the README shows.

Its ``console`` blocks are ``$ runfox ...`` lines each followed by its output.
Each command runs through ``runfox_core.cli.main`` from the repository root
(``runs.db`` becomes a fresh temporary file; ``<execution>`` is the execution
the last ``start`` or ``run`` printed), and its output must match the README's
once execution keys and numbers (durations) are masked. ``--local`` lines
need the dev server and ``--stack`` lines a deployed stack: here they must
parse; tests/functional/test_cli_local.py runs the ``--local`` block and
test_cli_stack.py the same commands against a stand-in stack. ``python -m tests.unit.test_readme_operate`` prints the real output
of every block, to paste when the commands change.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import sys
from pathlib import Path

from runfox_core import cli

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
CONSOLE = re.compile(r"^```console\n(.*?)^```", re.S | re.M)
MERMAID = re.compile(r"^```mermaid\n(.*?)^```", re.S | re.M)
KEY = re.compile(r"[0-9a-f]{32}#\d{8}T\d{6}\.\d{6}Z-[0-9a-f]+")
NUMBER = re.compile(r"\d+\.\d+")
TIME = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?Z?")
CURSOR = re.compile(r"--cursor \S+")


def section() -> str:
    text = README.read_text()
    start = text.index("\n## Operate executions")
    return text[start: text.index("\n## ", start + 1)]


def commands(block: str) -> list[tuple[str, list[str]]]:
    """(command, its output lines) for each ``$ `` line of a console block."""
    out: list[tuple[str, list[str]]] = []
    for line in block.splitlines():
        if line.startswith("$ "):
            out.append((line[2:], []))
        elif out:
            out[-1][1].append(line)
    return out


def masked(lines: list[str]) -> list[str]:
    return [" ".join(NUMBER.sub("N", TIME.sub("<time>", KEY.sub("<execution>", CURSOR.sub("--cursor <c>", line))))
                     .split()) for line in lines if line.strip()]


def local(command: str) -> bool:
    """A command for the local dev server or a deployed stack: not run by this tier."""
    return "--local" in command or "--stack" in command or command.startswith("runfox local")


def run_documented(command: str, db: Path, execution: str | None) -> tuple[int, list[str]]:
    argv = shlex.split(command)
    assert argv[0] == "runfox", command
    argv = [str(db) if a == "runs.db" else (execution or "<execution>") if a == "<execution>" else a
            for a in argv[1:]]
    out, err = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        with contextlib.redirect_stderr(err):
            code = cli.main(argv, out)
    finally:
        os.chdir(cwd)
    return code, (out.getvalue() + err.getvalue()).replace(str(db), "runs.db").splitlines()


def replay(db: Path) -> list[tuple[str, int, list[str], list[str]]]:
    """Every documented (non-local) command: (command, exit code, real output, documented output)."""
    flaky = sys.modules.get("lambdas.executors.examples")
    if flaky is not None:
        flaky.reset()  # its call counts are per process: each replay starts from zero
    execution = None
    done = []
    for block in CONSOLE.findall(section()):
        for command, documented in commands(block):
            if local(command):
                continue
            code, lines = run_documented(command, db, execution)
            if shlex.split(command)[1] in ("start", "run") or "--new" in command:
                found = KEY.search("\n".join(lines))
                execution = found.group(0) if found else execution
            done.append((command, code, lines, documented))
    return done


def test_the_operate_section_documents_each_command() -> None:
    documented = [c for block in CONSOLE.findall(section()) for c, _ in commands(block)]
    for name in ("validate", "graph", "run", "start", "status", "watch", "cancel", "history", "list", "redrive",
                 "rerun", "dlq", "local up", "local down"):
        assert any(c.startswith(f"runfox {name}") for c in documented), name


def test_every_documented_command_prints_what_the_readme_shows(tmp_path: Path) -> None:
    for command, _, lines, documented in replay(tmp_path / "runs.db"):
        if command.split()[1] in ("run", "watch") and "" in lines:  # progress lines depend on timing: the end
            lines, documented = [lines[0], *lines[lines.index(""):]], [documented[0], *documented[documented.index(""):]]
        assert masked(lines) == masked(documented), command


def test_the_mermaid_in_the_readme_is_what_graph_printed(tmp_path: Path) -> None:
    graphs = [lines for command, _, lines, _ in replay(tmp_path / "runs.db")
              if command.startswith("runfox graph <execution>")]
    assert graphs and masked(MERMAID.findall(section())[0].splitlines()) == masked(graphs[0])


def test_the_local_commands_parse() -> None:
    parser = cli._parser()
    for block in CONSOLE.findall(section()):
        for command, _ in commands(block):
            if local(command):
                parser.parse_args(shlex.split(command)[1:])


if __name__ == "__main__":  # print the real output of every documented command
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        for command, code, lines, _ in replay(Path(folder) / "runs.db"):
            sys.stdout.write(f"$ {command}\n" + "".join(f"{line}\n" for line in lines) + f"[exit {code}]\n")
