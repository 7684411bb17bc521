"""cli -- ``runfox``: validate, graph, run, start, status, watch, history, list, cancel, redrive, rerun, dlq,
and answer waits (send-event, callback).

Installed as the ``runfox`` console script (``pyproject.toml``
``[project.scripts]``); ``python -m runfox_core.cli`` is the same. Every
command is a thin shell over ``runfox_core.operations`` (the functions the
Lambdas use), so the CLI and the deployed system cannot disagree.

Exit codes: 0 ok; 1 the workflow failed, halted or was cancelled (or
``--timeout`` passed with it still running); 2 bad
usage, a bad spec or inputs, an unknown execution, a cancel of an ended one,
a redrive of a completed or running one (nothing changed). ``--json`` on every read command prints one JSON document
instead of text. ``--help`` on every command.

Targets: in process (``run``), ``--db FILE`` (SQLite: ``watch`` applies
results and, with ``--executors``, works the jobs), ``--local`` (the
embedded AWS that ``runfox local up`` keeps running: the start and advance
operations run here against it, its event sources run the router and the
executors, as deployed; see ``localdev.py``) and ``--stack NAME`` (the
deployed stack: start, cancel, redrive and rerun invoke its Lambdas, reads
(status, watch, graph, history, list) go to its table; see ``stack.py``).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple, TextIO

from .. import api, history, operations
from ..api import RequestError
from ..backend.base import Backend
from ..errors import (
    ExecutionExistsError,
    ExecutionNotFoundError,
    ExecutionStatusError,
    PayloadError,
    SpecError,
)
from ..events import EventRefusedError
from ..inspector import Description
from ..listing import MAX_LIST_LIMIT, ListQuery
from ..spec import compile_spec, load_yaml, validate
from ..status import WorkflowStatus
from . import localdev, targets, waits
from .follow import follow, timeline_table
from .graph import execution_graph, spec_graph
from .stack import StackError, StackTarget
from .usage import UsageError, json_object

OK, WORKFLOW_ENDED_BADLY, BAD_USAGE = 0, 1, 2
LIST_COLUMNS = ("EXECUTION", "NAME", "STATUS", "STARTED")
#: how an execution that ended this way exits (any other status: OK)
ENDED_BADLY = frozenset({WorkflowStatus.FAILED, WorkflowStatus.HALTED, WorkflowStatus.CANCELLED})
#: errors that mean the request was wrong (exit 2, nothing changed)
BAD_REQUEST = (SpecError, PayloadError, RequestError, ExecutionNotFoundError, ExecutionStatusError,
               ExecutionExistsError, targets.TargetError, localdev.LocalError, StackError, EventRefusedError)


class Target(NamedTuple):
    """Where executions live: a Backend to read them, and how to start and cancel one there."""

    backend: Backend
    drive: bool  # whether a follower applies results itself (SQLite), or a router does (AWS)
    start: Callable[[dict[str, Any]], dict[str, Any]]  # a start payload -> the start Lambda's answer
    act: Callable[[dict[str, Any]], dict[str, Any]]  # an advance payload ({"action": ...}) -> the advance Lambda's


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    """Run one command; return its exit code."""
    out = out or sys.stdout
    args = _parser().parse_args(argv)
    engine_log = logging.getLogger("runfox_core")
    level = engine_log.level
    if not args.verbose:  # an executor's exception is already in the progress line; its log warning is noise
        engine_log.setLevel(logging.ERROR)
    try:
        return int(args.command(args, out))
    except (UsageError, *BAD_REQUEST) as exc:
        print(f"runfox {args.command_name}: {_message(exc)}", file=sys.stderr)
        return BAD_USAGE
    except TimeoutError as exc:  # still running: not ok, not a bad request
        print(f"runfox {args.command_name}: {exc}", file=sys.stderr)
        return WORKFLOW_ENDED_BADLY
    finally:
        engine_log.setLevel(level)  # main() may run inside a longer-lived process (tests, notebooks)


# ---------------------------------------------------------------- commands


def cmd_validate(args: argparse.Namespace, out: TextIO) -> int:
    try:
        spec = _spec(args.spec)
    except SpecError as exc:  # YAML that does not parse: reported like any other problem
        problems, warnings = list(exc.problems), []
    else:
        found = validate(spec, _inputs(args.inputs))
        problems, warnings = list(found), list(found.warnings)
    if args.json:
        _json(out, {"valid": not problems, "errors": [p.to_dict() for p in problems],
                    "warnings": [w.to_dict() for w in warnings]})
    else:
        for p in problems:
            out.write(f"error: {p}\n")
        for w in warnings:
            out.write(f"warning: {w}\n")
        out.write(f"{args.spec}: {'invalid' if problems else 'valid'} "
                  f"({_count(len(problems), 'error')}, {_count(len(warnings), 'warning')})\n")
    return BAD_USAGE if problems else OK


def cmd_graph(args: argparse.Namespace, out: TextIO) -> int:
    if Path(args.subject).is_file():
        text = spec_graph(compile_spec(_spec(args.subject)))
        status = None
    else:
        if args.db is None and not args.local and not args.stack:
            raise UsageError(f"{args.subject!r} is not a spec file; to graph an execution, give its target "
                             "(--db, --local or --stack)")
        description = operations.describe(_target(args).backend, args.subject)
        text, status = execution_graph(description), description.status
    if args.json:
        _json(out, {"mermaid": text, "status": None if status is None else str(status)})
    else:
        out.write(text)
    return OK


def cmd_run(args: argparse.Namespace, out: TextIO) -> int:
    spec, inputs = _spec(args.spec), _inputs(args.inputs) or {}
    executor = targets.load_executor(args.executors)
    backend = targets.sqlite_backend(args.db, executor) if args.db else targets.memory_backend(executor)
    started = operations.start(backend, spec, inputs, args.name)
    log = _log(args, out)
    log.write(f"runfox run: {started.execution} ({'SQLite ' + args.db if args.db else 'in process'})\n")
    description = follow(backend, started.execution, log, drive=True, worker=backend.worker, timeout=args.timeout)
    return _ended(args, out, description)


def cmd_start(args: argparse.Namespace, out: TextIO) -> int:
    payload = {"spec": _spec(args.spec), "inputs": _inputs(args.inputs) or {}}
    if args.name is not None:
        payload["name"] = args.name
    started = _target(args).start(payload)
    if args.json:
        _json(out, started)
    else:
        jobs = ", ".join(job["step"] for job in started["dispatched"]) or "nothing"
        verb = "started" if started["created"] else "already started"
        out.write(f"{started['execution']}\n{verb}: {started['status']}, dispatched {jobs}\n")
    return OK


def cmd_status(args: argparse.Namespace, out: TextIO) -> int:
    description = operations.describe(_target(args).backend, args.execution)
    if args.json:
        _json(out, description.to_dict())
    else:
        _summary(out, description)
        out.write(timeline_table(description.timeline()))
    return WORKFLOW_ENDED_BADLY if description.status in ENDED_BADLY else OK


def cmd_watch(args: argparse.Namespace, out: TextIO) -> int:
    if args.executors and not args.db:
        raise UsageError("--executors is for --db: on --local and --stack the deployed executors run the jobs")
    target = _target(args, targets.load_executor(args.executors) if args.executors else None)
    log = _log(args, out)
    log.write(f"runfox watch: {args.execution}\n")
    description = follow(target.backend, args.execution, log, drive=target.drive, worker=target.backend.worker,
                         timeout=args.timeout)
    return _ended(args, out, description)


def cmd_send_event(args: argparse.Namespace, out: TextIO) -> int:
    return _answer(args, out, waits.send_event_payload(args))


def cmd_callback(args: argparse.Namespace, out: TextIO) -> int:
    return _answer(args, out, waits.callback_payload(args))


def _answer(args: argparse.Namespace, out: TextIO, payload: dict[str, Any]) -> int:
    answer = waits.run(args, out, payload, lambda a: _target(a).backend)
    if args.json:
        _json(out, answer)
    else:
        waits.report(out, answer)
    return OK


def cmd_cancel(args: argparse.Namespace, out: TextIO) -> int:
    payload = {"action": "cancel", "execution": args.execution}
    if args.reason is not None:
        payload["reason"] = args.reason
    cancelled = _target(args).act(payload)
    if args.json:
        _json(out, cancelled)
    else:
        out.write(f"{cancelled['execution']}: {cancelled['status']}\n")
    return OK


def cmd_history(args: argparse.Namespace, out: TextIO) -> int:
    backend = _target(args).backend
    try:
        page = operations.history(backend, args.execution, args.after, args.limit)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.json:
        _json(out, page.to_dict())
        return OK
    for event in page.events:
        out.write(f"{event['id']:>8}  {history.when(event)}  {history.describe_event(event)}\n")
    if page.next_after is not None:
        out.write(f"(more: --after {page.next_after})\n")
    return OK


def cmd_list(args: argparse.Namespace, out: TextIO) -> int:
    query = ListQuery(status=args.status, name_prefix=args.name_prefix, since=args.since, until=args.until,
                      limit=args.limit, cursor=args.cursor)
    try:
        page = operations.list_executions(_target(args).backend, query)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.json:
        _json(out, page.to_dict())
        return OK
    rows = [(e.execution, e.name or "-", str(e.status), e.created_at) for e in page.executions]
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(LIST_COLUMNS)]
    for row in [LIST_COLUMNS, *rows]:
        out.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() + "\n")
    if page.cursor is not None:
        out.write(f"(more: --cursor {page.cursor})\n")
    return OK


def cmd_redrive(args: argparse.Namespace, out: TextIO) -> int:
    payload: dict[str, Any] = {"action": "redrive", "execution": args.execution}
    _copy_options(args, payload)
    return _acted(args, out, _target(args).act(payload))


def cmd_rerun(args: argparse.Namespace, out: TextIO) -> int:
    payload: dict[str, Any] = {"action": "rerun", "execution": args.execution, "step": args.step}
    if args.new:
        payload["new"] = True
    _copy_options(args, payload)
    return _acted(args, out, _target(args).act(payload))


def cmd_dlq(args: argparse.Namespace, out: TextIO) -> int:
    if args.db is not None:
        raise UsageError("dlq is for --local and --stack: an execution on SQLite has no dead-letter queue")
    from ..aws import dead_letters  # only here: the other targets need no AWS SDK

    sqs, results_url = _results_queue(args)
    try:
        dlq = dead_letters.dead_letter_queue(sqs, results_url)
    except dead_letters.DeadLetterError as exc:
        raise UsageError(str(exc)) from None
    if args.action == "list":
        letters = dead_letters.list_dead_letters(sqs, dlq, args.limit)
    else:
        letters = dead_letters.redrive_dead_letters(sqs, dlq, results_url, args.limit)
    if args.json:
        _json(out, {"queue": dlq, args.action if args.action == "list" else "redriven": [
            letter.to_dict() for letter in letters]})
        return OK
    for letter in letters:
        run = "" if letter.run_id is None else f" run {letter.run_id}"
        out.write(f"{letter.message_id}  {letter.kind or '?'} {letter.step or ''}{run}  {letter.execution or '?'}  "
                  f"(received {letter.receive_count}x)\n")
    verb = "in" if args.action == "list" else "sent back to the router from"
    out.write(f"{_count(len(letters), 'message')} {verb} {dlq}\n")
    return OK


def _results_queue(args: argparse.Namespace) -> tuple[Any, str]:
    """An SQS client and the results queue URL of the target (the router's queue)."""
    import boto3

    if args.stack:
        return boto3.client("sqs"), StackTarget(args.stack).results_queue_url()
    factory = localdev.use_local()
    return boto3.client("sqs"), factory.get_settings().results_queue_url


def _copy_options(args: argparse.Namespace, payload: dict[str, Any]) -> None:
    inputs = _inputs(args.inputs)
    if inputs is not None:
        payload["inputs"] = inputs
    if args.name is not None:
        payload["name"] = args.name


def _acted(args: argparse.Namespace, out: TextIO, answer: dict[str, Any]) -> int:
    """Print what a redrive or rerun did: the execution that runs on, and what it dispatched."""
    if args.json:
        _json(out, answer)
    else:
        jobs = ", ".join(f"{job['step']} (run {job['run_id']})" for job in answer["dispatched"]) or "nothing"
        out.write(f"{answer['execution']}: {answer['status']}, dispatched {jobs}\n")
    return OK


# ----------------------------------------------------------------- helpers


def _ended(args: argparse.Namespace, out: TextIO, description: Description) -> int:
    """Print how a followed execution ended (text or JSON); its exit code."""
    if args.json:
        _json(out, description.to_dict())
    else:
        out.write("\n")
        _summary(out, description)
        out.write(timeline_table(description.timeline()))
    return WORKFLOW_ENDED_BADLY if description.status in ENDED_BADLY else OK


def _summary(out: TextIO, d: Description) -> None:
    out.write(f"{d.execution}: {d.status}" + (f" (name {d.name})" if d.name else "") + "\n")
    if d.error:
        out.write(f"error: step {d.error['step']!r} run {d.error['run_id']}: {d.error['type']}: "
                  f"{d.error['message']}\n")
    elif d.outcome is not None:
        out.write(f"outcome: {json.dumps(d.outcome, sort_keys=True)}\n")


def _log(args: argparse.Namespace, out: TextIO) -> TextIO:
    """Where progress lines go: ``out``, or stderr when ``out`` carries JSON."""
    return sys.stderr if args.json else out


def _target(args: argparse.Namespace, executor: Any = None) -> Target:
    if args.stack:
        deployed = StackTarget(args.stack)
        return Target(deployed.backend, False, deployed.start, deployed.act)
    if args.local:
        factory = localdev.use_local()
        return _engine_here(factory.get_backend(), factory.get_settings().queue_map, drive=False)
    return _engine_here(targets.sqlite_backend(args.db, executor), None, drive=True)


def _engine_here(backend: Backend, tokens: Any, drive: bool) -> Target:
    """A target whose operations run in this process (SQLite, the local AWS), as the Lambdas run them."""

    def start(payload: dict[str, Any]) -> dict[str, Any]:
        started = api.start(backend, api.parse_start(payload, tokens))
        return {**started.to_dict(), "created": started.created}

    def act(payload: dict[str, Any]) -> dict[str, Any]:
        result = api.run_advance(backend, api.parse_advance(payload))
        answer: dict[str, Any] = result.to_dict()
        return answer

    return Target(backend, drive, start, act)


def cmd_local(args: argparse.Namespace, out: TextIO) -> int:
    return localdev.up(args.config, out) if args.action == "up" else localdev.down(out)


def _spec(path: str) -> dict[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read spec {path!r}: {exc.strerror}") from None
    return load_yaml(text)


def _inputs(text: str | None) -> dict[str, Any] | None:
    return None if text is None else json_object(text, "--inputs")


def _json(out: TextIO, value: Any) -> None:
    out.write(json.dumps(value, indent=2, sort_keys=True, default=str) + "\n")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _message(exc: BaseException) -> str:
    return str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)


# ------------------------------------------------------------------ parser


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="runfox", description="Validate, graph, run and operate runfox workflow executions.",
        epilog="exit codes: 0 ok, 1 the workflow failed, halted or was cancelled, 2 bad usage or bad spec")
    parser.add_argument("-v", "--verbose", action="store_true", help="show the engine's log warnings")
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    def command(name: str, handler: Any, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(command=handler, command_name=name)
        return sub

    def read(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--json", action="store_true", help="print one JSON document instead of text")

    def target(sub: argparse.ArgumentParser, required: bool = True) -> None:
        where = sub.add_mutually_exclusive_group(required=required)
        where.add_argument("--db", metavar="FILE", help="the SQLite file holding the executions")
        where.add_argument("--local", action="store_true", help="the local AWS that `runfox local up` runs")
        where.add_argument("--stack", metavar="NAME", help="the deployed stack (found from its CloudFormation "
                                                           "outputs, with your AWS credentials)")

    def start_arguments(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("spec", metavar="SPEC", help="the workflow spec (a YAML file)")
        sub.add_argument("--inputs", metavar="JSON", help="the workflow inputs, a JSON object")
        sub.add_argument("--name", help="a unique name: starting the same request again finds the same execution")

    sub = command("validate", cmd_validate, "Check a spec (and inputs): every error and warning at once.")
    sub.add_argument("spec", metavar="SPEC", help="the workflow spec (a YAML file)")
    sub.add_argument("--inputs", metavar="JSON", help="also check these workflow inputs (a JSON object)")
    read(sub)

    sub = command("graph", cmd_graph, "Print a spec or an execution as a Mermaid flowchart "
                                      "(an execution's steps styled by status, with run and duration).")
    sub.add_argument("subject", metavar="SPEC|EXECUTION", help="a spec file, or an execution key (with --db)")
    target(sub, required=False)
    read(sub)

    sub = command("run", cmd_run, "Run a spec to its end with your executor, in process or on SQLite, "
                                  "printing each step as it lands and the timeline at the end.")
    start_arguments(sub)
    sub.add_argument("--executors", metavar="MODULE:FUNCTION", required=True,
                     help="your execute(op, inputs) -> dict function")
    target(sub, required=False)
    sub.add_argument("--timeout", type=float, default=None, metavar="SECONDS", help="give up after this long")
    read(sub)

    sub = command("start", cmd_start, "Start an execution on a target; print its key.")
    start_arguments(sub)
    target(sub)
    read(sub)

    sub = command("status", cmd_status, "Show an execution: status, outcome or error, and each step.")
    sub.add_argument("execution", metavar="EXECUTION", help="the execution key")
    target(sub)
    read(sub)

    sub = command("watch", cmd_watch, "Follow an execution to its end, a line per step change, then the timeline.")
    sub.add_argument("execution", metavar="EXECUTION", help="the execution key")
    target(sub)
    sub.add_argument("--executors", metavar="MODULE:FUNCTION",
                     help="with --db: also work its jobs with this execute(op, inputs) function")
    sub.add_argument("--timeout", type=float, default=None, metavar="SECONDS", help="give up after this long")
    read(sub)

    sub = command("cancel", cmd_cancel, "Cancel a running execution: nothing more is dispatched for it.")
    sub.add_argument("execution", metavar="EXECUTION", help="the execution key")
    target(sub)
    sub.add_argument("--reason", help="why (kept with the execution)")
    read(sub)

    sub = command("history", cmd_history, "Show an execution's events in order: dispatches, failures with their "
                                          "errors, retries, branches, completion, cancel, redrive.")
    sub.add_argument("execution", metavar="EXECUTION", help="the execution key")
    target(sub)
    sub.add_argument("--after", metavar="ID", help="start after this event id (the last one of the page before)")
    sub.add_argument("--limit", type=int, default=1000, metavar="N", help="events per page (default 1000)")
    read(sub)

    sub = command("list", cmd_list, "List executions, newest first (by name with --name-prefix), a page at a time.")
    target(sub)
    sub.add_argument("--status", choices=[str(s) for s in WorkflowStatus], help="only executions in this status")
    sub.add_argument("--name-prefix", metavar="PREFIX", help="only executions whose name starts so (in name order)")
    sub.add_argument("--since", metavar="TIME", help="only executions started at or after (ISO 8601)")
    sub.add_argument("--until", metavar="TIME", help="only executions started before (ISO 8601)")
    sub.add_argument("--limit", type=int, default=50, metavar="N", help=f"per page (1-{MAX_LIST_LIMIT}, default 50)")
    sub.add_argument("--cursor", help="the next page: the cursor the page before printed")
    read(sub)

    def copy_arguments(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--inputs", metavar="JSON", help="corrected workflow inputs: runs as a new execution "
                                                          "copying the complete steps")
        sub.add_argument("--name", help="the name of the new execution (with --inputs or --new)")

    sub = command("redrive", cmd_redrive, "Continue a failed or cancelled execution: what did not complete runs "
                                          "again (a new run, a fresh attempt budget); outputs are kept.")
    sub.add_argument("execution", metavar="EXECUTION", help="the execution key")
    target(sub)
    copy_arguments(sub)
    read(sub)

    sub = command("rerun", cmd_rerun, "Run a step and everything downstream of it again: in place, or with --new "
                                      "as a new execution that copies the outputs upstream of it.")
    sub.add_argument("execution", metavar="EXECUTION", help="the execution key")
    sub.add_argument("--step", required=True, help="the step to run again")
    sub.add_argument("--new", action="store_true", help="as a new execution (the original is left as it is)")
    target(sub)
    copy_arguments(sub)
    read(sub)

    sub = command("dlq", cmd_dlq, "List the messages in the result router's dead-letter queue, or send them back "
                                  "to the router (redrive): results and timers it failed on reach their executions.")
    sub.add_argument("action", choices=("list", "redrive"), help="list: show them (they stay); redrive: move them back")
    target(sub)
    sub.add_argument("--limit", type=int, default=100, metavar="N", help="at most this many messages (default 100)")
    read(sub)

    send = command("send-event", cmd_send_event, "Send an event to an execution: the step waiting for it "
                                                 "completes with its payload (or it is kept for a wait to come).")
    callback = command("callback", cmd_callback, "Complete a wait step's callback token: an output, an error "
                                                 "or a heartbeat.")
    waits.add_arguments(send, callback)
    for sub in (send, callback):
        target(sub)
        read(sub)

    sub = command("local", cmd_local, "Start or stop the local AWS (moto, the tables and queues, the real "
                                      "handlers) as a background dev server for --local.")
    sub.add_argument("action", choices=("up", "down"), help="up: start it (if not up); down: stop it")
    sub.add_argument("--config", metavar="FILE", help="executors config (default: $RUNFOX_EXECUTORS_CONFIG "
                                                      "or executors.json)")
    return parser


def run() -> None:
    """The console script's entry point."""
    sys.exit(main())
