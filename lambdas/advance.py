"""advance.py -- Lambda: the operations on an execution (advance, cancel, history, list, redrive, rerun).

Event: ``{"execution": <key>}`` (see ``events/advance.json``) advances: safe to
invoke any number of times, concurrently. Used by operators and scripts to
re-drive an execution; the result router advances executions itself after
applying their results. ``{"action": ..., ...}`` runs another operation
(``api.ACTION_KEYS`` lists what each takes; samples in ``events/``): cancel,
history (a page of events), list (a page of executions), redrive, rerun. A
bad payload, an unknown execution or an operation its status does not allow
returns ``{"error": {...}}`` and changes nothing.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from runfox_core import api, operations
from runfox_core.aws.factory import get_backend

logger = Logger()
tracer = Tracer()
metrics = Metrics()
ACTION_METRICS = {"cancel": "WorkflowsCancelled", "redrive": "WorkflowsRedriven", "rerun": "WorkflowsRerun"}


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    try:
        request = api.parse_advance(event)
        logger.set_correlation_id(request.execution or None)
        result = api.run_advance(get_backend(), request)
    except api.REJECTED as exc:
        logger.warning("advance rejected", extra=api.error_body(exc))
        metrics.add_metric(name="AdvancesRejected", unit=MetricUnit.Count, value=1)
        return api.error_body(exc)
    if isinstance(result, operations.Advanced):  # not history or list, which only read
        metrics.add_metric(name="StepsDispatched", unit=MetricUnit.Count, value=len(result.dispatched))
        if request.action in ACTION_METRICS:
            metrics.add_metric(name=ACTION_METRICS[request.action], unit=MetricUnit.Count, value=1)
        logger.info(f"execution {request.action}", extra={"status": str(result.status),
                                                          "dispatched": len(result.dispatched)})
    return result.to_dict()
