"""demo.py -- run a workflow on the local AWS emulation and show what happened.

``python -m local.demo [--spec events/start.json] [--config executors.json] [--inputs '{"n": 10}']``

Starts moto, creates the deployment the CDK stack would from ``--config``,
invokes the REAL start handler with the ``--spec`` payload (a start payload
JSON, or a YAML spec), then plays the SQS event sources and the executors'
asynchronous Invokes of the result router until the execution ends, printing a line as each step finishes; then the outcome and a per-step
timeline. No network, no credentials, seconds.

Inputs: a start payload carries its own; a spec from ``examples/`` takes the
inputs of the start payload in ``events/`` that carries it (the one home of
each example's sample inputs, see ``local.events``); ``--inputs`` replaces
them key by key.

Exit codes: 0 the execution ran (whatever its outcome), 1 the start handler
rejected the payload or the run timed out, 2 a mistake on the command line
(a missing file, inputs that are not a JSON object, a bad executors config),
each reported in one line.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from local.async_invoke import AsyncEvent
from local.cloud import LocalCloud
from local.deployment import Consumer
from local.event_source import DeliveryHook, EventHook, EventSourceDriver, Record
from local.events import EXAMPLES_DIR, SPEC_SOURCES, event_path, load_event
from local.lambda_runtime import invoke
from runfox_core import messages
from runfox_core.aws import answers, config
from runfox_core.aws.config import ConfigError
from runfox_core.cli.follow import timeline_table
from runfox_core.results import StepResult
from runfox_core.status import TERMINAL_WORKFLOW_STATUSES
from runfox_core.workflow import Workflow
from runfox_deploy.executors import ExecutorsConfig, executors_config_path, load_executors_config

RETRY_VISIBILITY_SECONDS = 2  # a failed batch reappears after 2 s here, not the queue's minutes


class UsageError(Exception):
    """Raised when the command line names a missing file or carries bad inputs (exit code 2)."""


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    try:
        spec = Path(args.spec) if args.spec else event_path("start")
        payload = _payload(spec, args.inputs)
        config_path = args.config or _default_config(spec)
        executors = _executors(config_path)
    except UsageError as exc:
        print(f"python -m local.demo: {exc}", file=sys.stderr)
        return 2
    if args.verbose:
        logging.basicConfig(level=logging.INFO, format="%(name)s %(levelname)s %(message)s")
    else:  # the engine's and the event sources' warnings (an executor raised, a batch failed) are progress lines
        for name in ("runfox_core", "local"):
            logging.getLogger(name).setLevel(logging.ERROR)
    with LocalCloud(executors, quiet=not args.verbose) as cloud:
        print(f"runfox demo: {args.spec or 'events/start.json'} on local AWS (moto at {cloud.endpoint})")
        print(f"  {len(cloud.tokens)} ops, {len(cloud.queues)} queues, {len(cloud.consumers)} event sources "
              f"from {config_path or executors_config_path()}")
        print(f"  inputs: {json.dumps(payload.get('inputs', {}))}")
        started = time.monotonic()
        response = invoke(config.START_HANDLER, payload)
        if "error" in response:
            print("start rejected:", _one_line(response["error"]))
            return 1
        execution_key = response["execution"]
        jobs = ", ".join(job["step"] for job in response["dispatched"]) or "nothing"
        print(f"start -> {execution_key}: {response['status']}, dispatched {jobs}")
        from runfox_core.aws.factory import get_backend  # after LocalCloud set the environment

        workflow = Workflow(execution_key, get_backend())
        on_delivery, on_event = _progress(workflow, started)
        driver = EventSourceDriver(cloud.consumers, cloud.client("sqs"), visibility_timeout_seconds=RETRY_VISIBILITY_SECONDS,
                                   on_delivery=on_delivery, on_event=on_event)
        try:
            stats = driver.run(lambda: workflow.status in TERMINAL_WORKFLOW_STATUSES, timeout=args.timeout)
        except TimeoutError as exc:
            print(f"gave up: {exc}")
            return 1
        _outcome(workflow)
        _timeline(workflow)
        print(f"\n{stats.invocations} Lambda invocations over {stats.rounds} rounds, {time.monotonic() - started:.2f}s")
    return 0


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line, not argparse's usage block
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = _Parser(prog="python -m local.demo", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--spec", default=None,
                        help="a start payload (.json) or a workflow spec (.yaml); default events/start.json")
    parser.add_argument("--config", default=None, help="executors config; default $RUNFOX_EXECUTORS_CONFIG or executors.json")
    parser.add_argument("--inputs", default=None,
                        help="JSON object of workflow inputs, replacing the payload's or example's key by key")
    parser.add_argument("--timeout", type=float, default=50.0, help="seconds before giving up")
    parser.add_argument("--verbose", action="store_true", help="show the Lambdas' logs (INFO and up)")
    return parser.parse_args(argv)


def _payload(path: Path, inputs: str | None) -> dict[str, Any]:
    """The start payload for ``--spec`` and ``--inputs`` (raises ``UsageError``)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--spec {path}: {exc.strerror}") from None
    if path.suffix in (".yaml", ".yml"):
        payload = {"spec": text, "inputs": example_inputs(path)}
    else:
        payload = _json_object(text, f"--spec {path}", "a start payload, a JSON object like events/start.json "
                                                       "(a .yaml file is read as a spec)")
    if inputs is not None:
        given = _json_object(inputs, "--inputs", """a JSON object like '{"n": 10}'""")
        current = payload.get("inputs")
        payload["inputs"] = {**(current if isinstance(current, dict) else {}), **given}
    return payload


def _json_object(text: str, what: str, expected: str) -> dict[str, Any]:
    """``text`` parsed as a JSON object, or a ``UsageError`` naming ``what`` and what was expected."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{what} is not valid JSON ({exc}); expected {expected}") from None
    if not isinstance(value, dict):
        raise UsageError(f"{what} must be {expected}, not a JSON {type(value).__name__}")
    return value


def example_inputs(spec: Path) -> dict[str, Any]:
    """The sample inputs of an ``examples/`` spec: those of the ``events/`` payload carrying it ({} if none)."""
    if spec.resolve().parent != EXAMPLES_DIR.resolve():
        return {}
    for event, example in SPEC_SOURCES.items():
        if example == spec.stem:
            inputs = load_event(event).get("inputs", {})
            return dict(inputs) if isinstance(inputs, dict) else {}
    return {}


def _default_config(spec: Path) -> str | None:
    """A spec from ``examples/`` runs with ``examples/executors.json`` (its ops) unless told otherwise."""
    if config.ENV_EXECUTORS_CONFIG in os.environ or spec.resolve().parent != EXAMPLES_DIR.resolve():
        return None
    return str(spec.parent / "executors.json")  # as the user spelled the spec's folder


def _executors(path: str | None) -> ExecutorsConfig:
    """The ``--config`` file, read and checked (raises ``UsageError`` naming the file and the problem)."""
    try:
        return load_executors_config(path)
    except ConfigError as exc:
        raise UsageError(f"--config: {exc}" if path else str(exc)) from None


def _one_line(error: dict[str, Any]) -> str:
    """The start handler's error body in one line (its message names the step and field)."""
    return f"{error.get('type')}: {error.get('message')}"


def _progress(workflow: Workflow, started: float) -> tuple[DeliveryHook, EventHook]:
    """``on_delivery`` and ``on_event`` hooks printing one line per result (or dead-lettered job) the router
    applied, from the results queue or an executor's answers event."""

    def on_delivery(consumer: Consumer, records: list[Record], failed: set[str], duplicate: bool) -> None:
        if duplicate:
            return
        if consumer.handler != config.RESULT_ROUTER_HANDLER:
            if failed:  # an executor Lambda failed its batch: SQS redelivers it, then dead-letters it
                print(f"  {time.monotonic() - started:6.2f}s  {consumer.name:<16} {len(failed)} job(s) failed their "
                      f"batch: SQS redelivers them, dead-letters after the queue's max receives")
            return
        applied([body for record in records if record["messageId"] not in failed
                 for body in answers.unwrap(record["body"])])

    def on_event(event: AsyncEvent, error: BaseException | None, duplicate: bool) -> None:
        if duplicate:
            return
        if error is not None:
            print(f"  {time.monotonic() - started:6.2f}s  {'answers event':<16} the router failed it (attempt "
                  f"{event.attempts + 1}): Lambda retries it, then sends it to the results queue")
            return
        applied(answers.bodies_of(event.payload) or [])

    def applied(bodies: list[str]) -> None:
        statuses = None
        for body in bodies:
            message = messages.decode(body)
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
            print(f"  {time.monotonic() - started:6.2f}s  {message.step:<16} run {message.run_id:<3} {what:<24} "
                  f"-> {statuses[message.step]}")

    return on_delivery, on_event


def _outcome(workflow: Workflow) -> None:
    status = workflow.status
    print(f"\noutcome: {status}")
    if workflow.error:
        print(json.dumps(workflow.error, indent=2))
    else:
        print(json.dumps(workflow.outcome, indent=2))


def _timeline(workflow: Workflow) -> None:
    print()
    print(timeline_table(workflow.timeline()), end="")


if __name__ == "__main__":
    sys.exit(main())
