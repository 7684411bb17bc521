"""start.py -- Lambda: start a workflow execution from a start payload.

Event: ``{"spec": <YAML text or mapping>, "inputs": {...}, "name": <optional>}``
(see ``events/start.json``). Returns ``{"execution", "status", "dispatched",
"created"}``; a bad payload returns ``{"error": {type, message, step, field}}``
and writes nothing (never raises, so a caller sees the problem, not a retry).
A ``name`` makes the start idempotent: the same request returns the same
execution; the same name with a different spec or inputs is an error.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from runfox_core import api
from runfox_core.aws.factory import get_backend, get_settings

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    try:
        backend = get_backend()  # first: it registers the bucket that inputs by reference are read from
        request = api.parse_start(event, get_settings().queue_map)
        advanced = api.start(backend, request)
    except api.REJECTED as exc:
        logger.warning("start rejected", extra=api.error_body(exc))
        metrics.add_metric(name="StartsRejected", unit=MetricUnit.Count, value=1)
        return api.error_body(exc)
    logger.set_correlation_id(advanced.execution)
    if advanced.created:
        metrics.add_metric(name="WorkflowsStarted", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="StepsDispatched", unit=MetricUnit.Count, value=len(advanced.dispatched))
    logger.info("execution started" if advanced.created else "execution already exists",
                extra={"status": str(advanced.status), "dispatched": len(advanced.dispatched)})
    return {**advanced.to_dict(), "created": advanced.created}
