"""Bad inputs tried: every case in bad_inputs.jsonl gets a clear error, writes nothing partial,
and never fails the other records of its batch."""

from __future__ import annotations

import json
import logging
import os
import uuid
from pathlib import Path
from typing import Any

from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from fault_kit import CONFIG

from local.cloud import LocalCloud
from local.event_source import EventSourceDriver
from local.lambda_runtime import invoke, load_handler
from runfox_core import messages
from runfox_core.aws import answers, config
from runfox_core.aws.factory import get_backend
from runfox_core.results import DispatchJob, StepResult
from runfox_core.status import TERMINAL_WORKFLOW_STATUSES
from runfox_core.workflow import Workflow

ROOT = Path(__file__).resolve().parents[2]
CASES = [json.loads(line) for line in (Path(__file__).parent / "bad_inputs.jsonl").read_text().splitlines() if line]
ONE_STEP = {"steps": [{"id": "work", "fn": "increment", "input": {"value": 1}}]}
EXECUTOR = "executors.examples.handler"


def generated(name: str, cloud: LocalCloud) -> Any:
    if name == "ten_megabytes":
        return {"spec": ONE_STEP, "inputs": {"blob": "x" * 10 * 1024 * 1024}}
    if name == "deep_json_spec":
        deep: Any = "bottom"
        for _ in range(500):
            deep = {"d": deep}
        return {"spec": {"steps": [{"op": "increment", "input": {"value": deep}}]}}
    if name == "inputs_too_large":
        # 300 KB in fields too small to go by reference (a large field would start, by reference)
        return {"spec": ONE_STEP, "inputs": {f"k{i}": "x" * 20 for i in range(10_000)}}
    if name == "name_reused":
        first = invoke(config.START_HANDLER, {"spec": ONE_STEP, "name": "corpus-reuse"})
        assert "error" not in first, first
        return {"spec": {"steps": [{"op": "double", "input": {"value": 2}}]}, "name": "corpus-reuse"}
    raise KeyError(name)


def stored_items(cloud: LocalCloud) -> int:
    table = json.loads(json.dumps(dict(cloud.deployment.environment)))[config.ENV_WORKFLOWS_TABLE]  # type: ignore[union-attr]
    return int(cloud.client("dynamodb").scan(TableName=table, Select="COUNT")["Count"])


def live_execution() -> tuple[str, int]:
    """An execution whose one step is in progress (its job waits, unconsumed), and its header version."""
    response = invoke(config.START_HANDLER, {"spec": ONE_STEP, "inputs": {"n": uuid.uuid4().hex}})
    assert "error" not in response, response
    key = response["execution"]
    return key, get_backend().load_header(key).version


def sqs_event(bodies: list[str]) -> dict[str, Any]:
    return {"Records": [{"messageId": str(i), "receiptHandle": f"r{i}", "body": body, "attributes": {},
                         "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                         "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:corpus", "awsRegion": "us-east-1"}
                        for i, body in enumerate(bodies)]}


def encode(body: Any, live: str) -> str:
    if isinstance(body, str):
        return body
    return json.dumps({k: (live if v == "LIVE" else v) for k, v in body.items()})


class Logs(logging.Handler):
    """What the handlers and the engine logged: Powertools' logger (the service's, a standard
    library logger) and runfox_core's, records kept with their ``extra`` fields."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []
        # Powertools' formatter: Powertools clears its handlers' formatter state per invocation,
        # and its JSON line carries the record's extra fields (the error text we look for).
        self.setFormatter(LambdaPowertoolsFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def mark(self) -> None:
        self.lines.clear()

    def text(self) -> str:
        return "\n".join(self.lines).lower()


def check_start(case: dict[str, Any], cloud: LocalCloud) -> str | None:
    if "payload_file" in case:
        payload = json.loads((ROOT / case["payload_file"]).read_text())
    elif "generate" in case:
        payload = generated(case["generate"], cloud)
    else:
        payload = case["payload"]
    before = stored_items(cloud)
    response = invoke(config.START_HANDLER, payload)
    error = (response or {}).get("error") if isinstance(response, dict) else None
    if not error or not error.get("message"):
        return f"no structured error: {str(response)[:200]}"
    if case["expect"].lower() not in json.dumps(error).lower():
        return f"error does not name {case['expect']!r}: {error}"
    if stored_items(cloud) != before:
        return "something was written"
    return None


def check_router(case: dict[str, Any], logs: Logs) -> str | None:
    live, version = live_execution()
    good, _ = live_execution()
    good_body = messages.encode(messages.result_message(StepResult(good, "work", 0, output={"incremented": 2})))
    too_many = {f"k{i}": "x" * 20 for i in range(10_000)}  # 300 KB in fields too small to go by reference
    bad_body = messages.encode(messages.result_message(StepResult(live, "work", 0, output=too_many))) \
        if case.get("generate") == "huge_output" else encode(case["body"], live)
    logs.mark()
    response = invoke(config.RESULT_ROUTER_HANDLER, sqs_event([bad_body, good_body]))
    if response.get("batchItemFailures"):
        return f"failed records of the batch: {response['batchItemFailures']}"
    if str(Workflow(good, get_backend()).status) != "complete":
        return "the good record of the batch was not applied"
    header = get_backend().load_header(live)
    if case.get("fails_step"):
        error = header.error or {}
        if str(header.status) != "failed" or case["expect"].lower() not in str(error.get("message", "")).lower():
            return f"expected a failed attempt naming {case['expect']!r}, got {header.status} {error}"
        return None
    if header.version != version:
        return "the live execution changed"
    if case["expect"].lower() not in logs.text():
        return f"no log line names {case['expect']!r}"
    return None


def handed_over(cloud: LocalCloud) -> list[str]:
    """The result messages executors answered with since the last call: those of the answers events they
    invoked the router with (taken off Lambda's queue, as if delivered) and those on the results queue
    (read, and kept out of the way by their visibility for the rest of the test)."""
    assert cloud.invocations is not None
    bodies: list[str] = []
    for event in cloud.invocations.take():
        bodies += answers.bodies_of(event.payload) or []
        cloud.invocations.settle(event, None)
    results_url = cloud.deployment.environment[config.ENV_RESULTS_QUEUE_URL]  # type: ignore[union-attr]
    while sent := cloud.client("sqs").receive_message(QueueUrl=results_url, MaxNumberOfMessages=10,
                                                      VisibilityTimeout=600).get("Messages"):
        bodies += [m["Body"] for m in sent]
    return bodies


def check_job(case: dict[str, Any], cloud: LocalCloud, logs: Logs) -> str | None:
    handed_over(cloud)  # drain
    good = messages.encode(messages.job_message(DispatchJob("wf#corpus", "a", {"value": 1}, 0, token="increment")))
    logs.mark()
    response = invoke(EXECUTOR, sqs_event([encode(case["body"], "wf#corpus"), good]))
    if (response or {}).get("batchItemFailures"):
        return f"failed records of the batch: {response['batchItemFailures']}"
    sent = handed_over(cloud)
    if [json.loads(body).get("output") for body in sent] != [{"incremented": 2}]:
        return f"expected exactly the good job's result, got {[body[:80] for body in sent]}"
    if case["expect"].lower() not in logs.text():
        return f"no log line names {case['expect']!r}"
    return None


def check_executor(case: dict[str, Any], cloud: LocalCloud) -> str | None:
    step: dict[str, Any] = {"id": "work", "fn": case["op"], "input": case["inputs"]}
    if "timeout_seconds" in case:
        step["timeout_seconds"] = case["timeout_seconds"]
    response = invoke(config.START_HANDLER, {"spec": {"steps": [step]}})
    wf = Workflow(response["execution"], get_backend())
    EventSourceDriver(cloud.consumers, cloud.client("sqs"), visibility_timeout_seconds=0).run(
        lambda: wf.status in TERMINAL_WORKFLOW_STATUSES, timeout=60)
    error = wf.error or {}
    if str(wf.status) != "failed" or case["expect"].lower() not in json.dumps(error).lower():
        return f"expected a failed execution naming {case['expect']!r}, got {wf.status} {error}"
    return None


def test_every_bad_input_is_refused_clearly_and_changes_nothing_else() -> None:
    logs = Logs()
    assert len(CASES) >= 40
    failures: dict[str, str] = {}
    with LocalCloud(CONFIG) as cloud:
        service = os.environ.get("POWERTOOLS_SERVICE_NAME", "runfox")  # Powertools' logger name, set by LocalCloud
        watched = [logging.getLogger(service), logging.getLogger("runfox_core")]
        for path in (config.START_HANDLER, config.RESULT_ROUTER_HANDLER, EXECUTOR):
            load_handler(path)  # import now, so their loggers' handlers exist before we quiet them
        levels = [w.level for w in watched]
        printers = [(h, h.level) for w in watched for h in w.handlers]
        for handler, _ in printers:  # listen at INFO without printing every INFO line
            handler.setLevel(logging.ERROR)
        for w in watched:
            w.addHandler(logs)
            w.setLevel(logging.INFO)
        try:
            for case in CASES:
                entry = case["entry"]
                try:
                    problem = (check_start(case, cloud) if entry == "start" else
                               check_router(case, logs) if entry == "router" else
                               check_job(case, cloud, logs) if entry == "job" else
                               check_executor(case, cloud))
                except Exception as exc:  # an entry point that crashes has not held
                    problem = f"raised {type(exc).__name__}: {exc}"
                if problem:
                    failures[case["id"]] = problem
        finally:
            for w, level in zip(watched, levels, strict=True):
                w.removeHandler(logs)
                w.setLevel(level)
            for handler, level in printers:
                handler.setLevel(level)
    by_entry: dict[str, int] = {}
    for case in CASES:
        by_entry[case["entry"]] = by_entry.get(case["entry"], 0) + 1
    report(failures, by_entry)
    assert failures == {}


def report(failures: dict[str, str], by_entry: dict[str, int]) -> None:
    print(f"\nbad inputs: {len(CASES)} tried ({', '.join(f'{n} {e}' for e, n in by_entry.items())}), "
          f"{len(CASES) - len(failures)} held")
    for case_id, problem in failures.items():
        print(f"  NOT HELD {case_id}: {problem}")
