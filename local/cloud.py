"""cloud.py -- LocalCloud: moto plus the runfox deployment plus the Lambdas' environment.

``with LocalCloud(config_path) as cloud:`` starts (or reuses) the process's
moto server, empties it, sets ``os.environ`` the way Lambda would (fake
credentials, endpoint, every RUNFOX_* variable, Powertools settings),
creates the tables and queues, and forgets cached backends, so the next
handler call builds clients against this deployment. Leaving restores
``os.environ``.

While it is up, ``cloud.invocations`` plays Lambda's asynchronous
invocation of the result router (``local.async_invoke``): an executor's
Invoke of the router (``RUNFOX_ROUTER_FUNCTION``, set here) is queued in
this process, and the ``EventSourceDriver`` delivers it.

``LocalCloud(..., in_process=True)`` runs moto inside this process instead
(``mock_aws``, with the same fast transactions): no HTTP hop, no second
process, a fresh account per use. For single-threaded drivers where the
server adds nothing (the crash-anywhere test runs the flow 60 times); the
server stays the default, as it is what a Lambda talks to (HTTP, a separate
process, one request at a time), and threads need its serialised requests.

Known limits: one LocalCloud at a time per process (they share the server
and ``os.environ``); the engine functions see the executors' variable
``RUNFOX_ROUTER_FUNCTION`` too (every handler shares ``os.environ``), which
is harmless: only an executor (``sqs_executor``) reads it, the engine's
settings never do; ``quiet`` sets the Lambdas' log level to ERROR (in the
environment, and on the service's logger, which Powertools configures only
once per process). In-process moto is
not safe for handlers called from several threads at once.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable
from typing import Any

import boto3

from local import async_invoke, blobs, moto_patches, server
from local.async_invoke import AsyncInvocations
from local.deployment import Consumer, Deployment, deploy
from local.lambda_runtime import LAMBDAS_DIR
from runfox_core.aws import config
from runfox_deploy.executors import ExecutorsConfig, load_executors_config

_active: LocalCloud | None = None


class LocalCloud:
    def __init__(self, executors: ExecutorsConfig | str | os.PathLike[str] | None = None, *, quiet: bool = False,
                 in_process: bool = False):
        """``executors``: a parsed config or its path (default: ``executors_config_path()``);
        ``in_process``: moto in this process, not the server (see the module docstring)."""
        if not isinstance(executors, ExecutorsConfig):
            executors = load_executors_config(executors)
        self.executors = executors
        self.quiet = quiet
        self.in_process = in_process
        self.endpoint = ""  # the server's URL; "" in process (boto3's own endpoints, intercepted by moto)
        self._undo: list[Callable[[], None]] = []
        self.deployment: Deployment | None = None
        self.invocations: AsyncInvocations | None = None  # the router's asynchronous events, while up
        self._saved: dict[str, str | None] = {}
        self._clients: dict[str, Any] = {}

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> LocalCloud:
        global _active
        if _active is not None:
            raise RuntimeError("another LocalCloud is running in this process; stop it first")
        _active = self
        try:
            share_botocore_models()
            if self.in_process:
                self._start_in_process()
            else:
                self.endpoint = server.endpoint()
                server.reset()
            self._set_env(server.aws_environment(self.endpoint or None))
            self._set_env(self._lambda_environment())
            self.deployment = deploy(self.executors, self.client("sqs"), self.client("dynamodb"))
            self._set_env(dict(self.deployment.environment))
            self._set_env(dict(self.deployment.executor_environment))  # seen by all: see Known limits
            self.invocations = AsyncInvocations([self.deployment.router_function], self.client("sqs"))
            self._undo.append(async_invoke.serve(self.invocations))
            self._set_env(dict(blobs.create_bucket(self.client("s3"))))  # the kit's bucket (local/blobs.py)
            _forget_cached_backends()
            if self.quiet:  # Powertools sets a logger's level once per process: set it for this cloud's life
                service_logger = logging.getLogger(config.SERVICE_NAME)
                self._undo.append(functools.partial(service_logger.setLevel, service_logger.level))
                service_logger.setLevel(logging.ERROR)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        global _active
        for name, value in self._saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved.clear()
        self._clients.clear()
        self.invocations = None
        while self._undo:
            self._undo.pop()()
        _forget_cached_backends()
        if _active is self:
            _active = None

    def __enter__(self) -> LocalCloud:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -------------------------------------------------------------- inspection

    def client(self, service: str) -> Any:
        """A boto3 client for the local endpoint (built once per service, after ``start`` set the environment)."""
        if service not in self._clients:
            self._clients[service] = boto3.session.Session().client(service, endpoint_url=self.endpoint or None)
        return self._clients[service]

    @property
    def consumers(self) -> tuple[Consumer, ...]:
        return self._deployed.consumers

    @property
    def queues(self) -> dict[str, str]:
        return self._deployed.queues

    @property
    def tokens(self) -> list[str]:
        return list(self._deployed.queue_map)

    @property
    def _deployed(self) -> Deployment:
        if self.deployment is None:
            raise RuntimeError("LocalCloud is not started")
        return self.deployment

    # --------------------------------------------------------------- internals

    def _start_in_process(self) -> None:
        from moto import mock_aws

        mock = mock_aws()
        mock.start()  # a fresh, empty account
        self._undo.append(mock.stop)
        self._undo.append(moto_patches.install())

    def _lambda_environment(self) -> dict[str, str | None]:
        return {
            config.ENV_POWERTOOLS_SERVICE_NAME: config.SERVICE_NAME,
            config.ENV_POWERTOOLS_METRICS_NAMESPACE: config.METRICS_NAMESPACE,
            config.ENV_LOG_LEVEL: "ERROR" if self.quiet else config.DEFAULT_LOG_LEVEL,
            "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon here
        }

    def _set_env(self, values: dict[str, str | None]) -> None:
        for name, value in values.items():
            self._saved.setdefault(name, os.environ.get(name))
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def share_botocore_models() -> None:
    """Every boto3 session in this process reads AWS's API models through one loader (idempotent).

    Each new session otherwise parses botocore's JSON models again (endpoints,
    DynamoDB, SQS: about 0.1 s a client), and every LocalCloud is a new set of
    containers building new sessions. The models are read-only data, so
    sharing them changes nothing a handler can see. The tests call it for
    their whole run (tests/conftest.py): each ``mock_aws`` starts a new default session.
    """
    import botocore.loaders
    import botocore.session

    if not isinstance(botocore.session.create_loader, functools._lru_cache_wrapper):
        botocore.session.create_loader = functools.lru_cache(maxsize=None)(botocore.loaders.create_loader)


def _forget_cached_backends() -> None:
    """A new deployment is a new set of containers: forget cached clients, settings and handler modules.

    The handler modules are imported again on their next invocation (a cold
    start): an executor Lambda keeps its SQS client for its container's life,
    and a client built for the server must not outlive a switch to in-process
    moto, or the other way round.
    """
    from runfox_core.aws import factory

    factory.reset()
    folder = os.path.join(LAMBDAS_DIR, "")  # load_handler puts this very path on sys.path
    for name, module in list(sys.modules.items()):
        if (getattr(module, "__file__", None) or "").startswith(folder):
            del sys.modules[name]
