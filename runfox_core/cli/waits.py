"""waits.py -- ``runfox send-event`` and ``runfox callback``: answer a waiting step from the command line.

Both build the advance Lambda's payload (``events.parse_action``) and hand it
to the target: ``--stack`` invokes the deployed advance Lambda; ``--db`` and
``--local`` run the same operation here (``api.run_advance``), as the
Lambda would. What they print is the advance answer: the execution's status,
the jobs sent, and for an event what became of it (delivered or kept,
duplicate or not).

Known limit: without ``--event-id`` a fresh id is made, so retrying the same
command sends a second event; pass ``--event-id`` to make a retry harmless.
"""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Callable
from typing import Any, TextIO

from .. import api
from ..backend.base import Backend
from .usage import json_object


def send_event_payload(args: argparse.Namespace) -> dict[str, Any]:
    return {"execution": args.execution, "action": "send_event", "event": args.event,
            "payload": json_object(args.payload, "--payload"), "event_id": args.event_id or uuid.uuid4().hex}


def callback_payload(args: argparse.Namespace) -> dict[str, Any]:
    payload: dict[str, Any] = {"action": "callback", "token": args.token}
    if args.heartbeat:
        payload["heartbeat"] = True
    if args.output is not None:
        payload["output"] = json_object(args.output, "--output")
    if args.error is not None:
        kind, _, message = args.error.partition(":")
        payload["error"] = {"type": kind.strip() or "Error", "message": message.strip()}
    return payload


def run(args: argparse.Namespace, out: TextIO, payload: dict[str, Any],
        backend_of: Callable[[argparse.Namespace], Backend]) -> dict[str, Any]:
    """The advance answer to ``payload`` on the command's target; raises what the operation raised."""
    if args.stack:
        from .stack import OUTPUT_ADVANCE_FUNCTION, StackTarget

        deployed = StackTarget(args.stack)
        return deployed.invoke(deployed.outputs[OUTPUT_ADVANCE_FUNCTION], payload)
    return api.run_advance(backend_of(args), api.parse_advance(payload)).to_dict()


def report(out: TextIO, answer: dict[str, Any]) -> None:
    event = answer.get("event")
    if event is not None:
        where = f"to step {event['step']!r} run {event['run_id']}" if event["step"] else "for a wait to come"
        again = " (a duplicate: nothing changed)" if event["duplicate"] else ""
        out.write(f"event {event['event']!r} ({event['event_id']}) {event['disposition']} {where}{again}\n")
    jobs = ", ".join(job["step"] for job in answer["dispatched"]) or "nothing"
    out.write(f"{answer['execution']}: {answer['status']}, dispatched {jobs}\n")


def add_arguments(send: argparse.ArgumentParser, callback: argparse.ArgumentParser) -> None:
    send.add_argument("execution", metavar="EXECUTION", help="the execution key")
    send.add_argument("event", metavar="NAME", help="the event's name (a wait step's wait.event)")
    send.add_argument("--payload", metavar="JSON", default="{}", help="the event's payload, a JSON object "
                                                                      "(the waiting step's output)")
    send.add_argument("--event-id", metavar="ID", help="makes the send idempotent: the same id again changes "
                                                       "nothing (default: a fresh id)")
    callback.add_argument("token", metavar="TOKEN", help="the wait's callback token (runfox status --json)")
    answer = callback.add_mutually_exclusive_group(required=True)
    answer.add_argument("--output", metavar="JSON", help="complete the step with this output (a JSON object)")
    answer.add_argument("--error", metavar="TYPE:MESSAGE", help="fail the step's attempt")
    answer.add_argument("--heartbeat", action="store_true", help="the work goes on: push the heartbeat deadline")

