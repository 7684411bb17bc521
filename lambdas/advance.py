"""advance.py -- Lambda: advance one execution (claim and dispatch whatever is ready), or cancel it.

Event: ``{"execution": <key>}`` (see ``events/advance.json``) advances: safe to
invoke any number of times, concurrently. Used by operators and scripts to
re-drive an execution; the result router advances executions itself after
applying their results. ``{"execution": <key>, "action": "cancel",
"reason": <optional>}`` cancels it (``operations.cancel``). A bad payload, an
unknown execution or a cancel of an ended one returns ``{"error": {...}}``
and changes nothing.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from runfox_core import api
from runfox_core.aws.factory import get_backend

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    try:
        request = api.parse_advance(event)
        logger.set_correlation_id(request.execution)
        advanced = api.run_advance(get_backend(), request)
    except api.REJECTED as exc:
        logger.warning("advance rejected", extra=api.error_body(exc))
        metrics.add_metric(name="AdvancesRejected", unit=MetricUnit.Count, value=1)
        return api.error_body(exc)
    metrics.add_metric(name="StepsDispatched", unit=MetricUnit.Count, value=len(advanced.dispatched))
    if request.action == "cancel":
        metrics.add_metric(name="WorkflowsCancelled", unit=MetricUnit.Count, value=1)
    logger.info("execution cancelled" if request.action == "cancel" else "execution advanced",
                extra={"status": str(advanced.status), "dispatched": len(advanced.dispatched)})
    return advanced.to_dict()
