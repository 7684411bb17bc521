"""cloud.py -- LocalCloud: moto plus the runfox deployment plus the Lambdas' environment.

``with LocalCloud(config_path) as cloud:`` starts (or reuses) the process's
moto server, empties it, sets ``os.environ`` the way Lambda would (fake
credentials, endpoint, every RUNFOX_* variable, Powertools settings),
creates the tables and queues, and forgets cached backends, so the next
handler call builds clients against this deployment. Leaving restores
``os.environ``.

Known limits: one LocalCloud at a time per process (they share the server
and ``os.environ``); ``quiet`` sets the Lambdas' log level to ERROR, which
Powertools reads when a handler module is first imported.
"""

from __future__ import annotations

import os
from typing import Any

import boto3

from local import server
from local.deployment import Consumer, Deployment, deploy
from runfox_core.aws import config
from runfox_deploy.executors import ExecutorsConfig, load_executors_config

_active: LocalCloud | None = None


class LocalCloud:
    def __init__(self, executors: ExecutorsConfig | str | os.PathLike[str] | None = None, *, quiet: bool = False):
        """``executors``: a parsed config or its path (default: ``executors_config_path()``)."""
        if not isinstance(executors, ExecutorsConfig):
            executors = load_executors_config(executors)
        self.executors = executors
        self.quiet = quiet
        self.endpoint = ""
        self.deployment: Deployment | None = None
        self._saved: dict[str, str | None] = {}
        self._clients: dict[str, Any] = {}

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> LocalCloud:
        global _active
        if _active is not None:
            raise RuntimeError("another LocalCloud is running in this process; stop it first")
        _active = self
        try:
            self.endpoint = server.endpoint()
            server.reset()
            self._set_env(server.aws_environment(self.endpoint))
            self._set_env(self._lambda_environment())
            self.deployment = deploy(self.executors, self.client("sqs"), self.client("dynamodb"))
            self._set_env(dict(self.deployment.environment))
            _forget_cached_backends()
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
            self._clients[service] = boto3.session.Session().client(service, endpoint_url=self.endpoint)
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


def _forget_cached_backends() -> None:
    """Clients and settings are cached per container; a new deployment is a new container."""
    from runfox_core.aws import factory

    factory.reset()
