"""local -- the whole runfox deployment in one process, on moto: no network, no AWS account.

- ``cloud.LocalCloud``: moto's server on 127.0.0.1, the tables and queues the
  CDK stack would create (from the same executors config and config.py
  constants), and the environment the Lambdas read.
- ``event_source.EventSourceDriver``: plays Lambda's SQS event source
  mappings, feeding real-shaped SQS events to the real handlers.
- ``lambda_runtime``: imports handlers from ``lambdas/`` the way Lambda does
  and gives them a context object.
- ``events``: the sample payloads in ``events/`` (one loader for tests and demo).
- ``demo``: ``python -m local.demo``.
"""

from local.cloud import LocalCloud
from local.event_source import EventSourceDriver

__all__ = ["EventSourceDriver", "LocalCloud"]
