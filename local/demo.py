"""demo.py -- run a workflow on the local AWS emulation and show what happened.

``python -m local.demo [--spec events/start.json] [--config executors.json]``

Starts moto, creates the deployment the CDK stack would from ``--config``,
invokes the REAL start handler with the ``--spec`` payload (a start payload
JSON, or a YAML spec plus ``--inputs``), then plays the SQS event sources
until the execution ends, printing a line as each step finishes; then the
outcome and a per-step timeline. No network, no credentials, seconds.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from local.cloud import LocalCloud
from local.deployment import Consumer
from local.event_source import EventSourceDriver, Record
from local.events import event_path
from local.lambda_runtime import invoke
from runfox_core import messages
from runfox_core.aws import config
from runfox_core.results import StepResult
from runfox_core.status import TERMINAL_WORKFLOW_STATUSES
from runfox_core.workflow import Workflow
from runfox_deploy.executors import executors_config_path

RETRY_VISIBILITY_SECONDS = 2  # a failed batch reappears after 2 s here, not the queue's minutes


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    if not args.verbose:  # the engine's own warnings (a step's executor raised) are in the progress lines
        logging.getLogger("runfox_core").setLevel(logging.ERROR)
    spec = Path(args.spec) if args.spec else event_path("start")
    payload = _payload(spec, args.inputs)
    with LocalCloud(args.config, quiet=not args.verbose) as cloud:
        print(f"runfox demo: {args.spec or 'events/start.json'} on local AWS (moto at {cloud.endpoint})")
        print(f"  {len(cloud.tokens)} ops, {len(cloud.queues)} queues, {len(cloud.consumers)} event sources "
              f"from {args.config or executors_config_path()}")
        started = time.monotonic()
        response = invoke(config.START_HANDLER, payload)
        if "error" in response:
            print("start rejected:", json.dumps(response["error"], indent=2))
            return 1
        key = response["execution"]
        jobs = ", ".join(job["step"] for job in response["dispatched"]) or "nothing"
        print(f"start -> {key}: {response['status']}, dispatched {jobs}")
        from runfox_core.aws.factory import get_backend  # after LocalCloud set the environment

        workflow = Workflow(key, get_backend())
        driver = EventSourceDriver(cloud.consumers, cloud.client("sqs"), visibility_timeout_seconds=RETRY_VISIBILITY_SECONDS,
                                   on_delivery=_progress(workflow, started))
        try:
            stats = driver.run(lambda: workflow.status in TERMINAL_WORKFLOW_STATUSES, timeout=args.timeout)
        except TimeoutError as exc:
            print(f"gave up: {exc}")
            return 1
        _outcome(workflow)
        _timeline(workflow)
        print(f"\n{stats.invocations} Lambda invocations over {stats.rounds} rounds, {time.monotonic() - started:.2f}s")
    return 0


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m local.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--spec", default=None,
                        help="a start payload (.json) or a workflow spec (.yaml); default events/start.json")
    parser.add_argument("--config", default=None, help="executors config; default $RUNFOX_EXECUTORS_CONFIG or executors.json")
    parser.add_argument("--inputs", default=None, help="JSON object of workflow inputs (with a .yaml spec)")
    parser.add_argument("--timeout", type=float, default=50.0, help="seconds before giving up")
    parser.add_argument("--verbose", action="store_true", help="show the Lambdas' logs (INFO and up)")
    return parser.parse_args(argv)


def _payload(path: Path, inputs: str | None) -> dict[str, Any]:
    if path.suffix in (".yaml", ".yml"):
        return {"spec": path.read_text(encoding="utf-8"), "inputs": json.loads(inputs) if inputs else {}}
    payload = json.loads(path.read_text(encoding="utf-8"))
    if inputs:
        payload["inputs"] = json.loads(inputs)
    return payload


def _progress(workflow: Workflow, started: float) -> Any:
    """An ``on_delivery`` hook printing one line per result (or dead-lettered job) the router applied."""

    def on_delivery(consumer: Consumer, records: list[Record], failed: set[str], duplicate: bool) -> None:
        if duplicate or consumer.handler != config.RESULT_ROUTER_HANDLER:
            return
        statuses = None
        for record in records:
            if record["messageId"] in failed:
                continue
            message = messages.decode(record["body"])
            if isinstance(message, messages.WakeMessage):
                print(f"  {time.monotonic() - started:6.2f}s  wake timer fired")
                continue
            if isinstance(message, messages.DeadlineMessage):
                continue
            if isinstance(message, StepResult):
                what = f"error {message.error['type']}" if message.error else "ok"
            else:  # a job back from its op's dead-letter queue
                what = "dead-lettered"
            statuses = statuses or workflow.step_statuses
            print(f"  {time.monotonic() - started:6.2f}s  {message.op:<16} run {message.run_id:<3} {what:<24} "
                  f"-> {statuses[message.op]}")

    return on_delivery


def _outcome(workflow: Workflow) -> None:
    status = workflow.status
    print(f"\noutcome: {status}")
    if workflow.error:
        print(json.dumps(workflow.error, indent=2))
    else:
        print(json.dumps(workflow.outcome, indent=2))


def _timeline(workflow: Workflow) -> None:
    rows: list[tuple[str, ...]] = [("step", "run", "duration", "status")]
    for step in workflow.timeline():
        seconds = step["seconds"]
        rows.append((step["step"], str(step["run_id"]), "-" if seconds is None else f"{seconds:.3f}s", step["status"]))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    print()
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


if __name__ == "__main__":
    sys.exit(main())
