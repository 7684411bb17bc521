"""server.py -- one moto server per process, on 127.0.0.1 and a free port.

The server runs in a child process (``python -m local.server``), so moto's
work runs on another core than the handlers and tests that call it; the
child exits when this process does (it watches its stdin).

Handlers talk to it over real HTTP through boto3, exactly as in Lambda;
only the endpoint (``AWS_ENDPOINT_URL``) and fake credentials differ, and
they must be in ``os.environ`` before anything builds a client.

Why one server per process, reset between uses, rather than one per use:
clients built once per container (the factory, ``sqs_executor``) keep their
endpoint; a fresh server on a new port would leave them pointing at a dead
one. ``reset()`` empties every moto backend, so each ``LocalCloud`` starts
from nothing while the endpoint stays the same.
"""

from __future__ import annotations

import atexit
import logging
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.server import ThreadedMotoServer
from werkzeug.serving import make_server

from local import moto_patches
from local.lambda_runtime import REGION

HOST = "127.0.0.1"

_lock = threading.Lock()
_process: subprocess.Popen[str] | None = None
_endpoint: str | None = None


class SerialisedMotoServer(ThreadedMotoServer):
    """moto's threaded server, applying one request at a time.

    AWS applies each API request atomically; moto's backends are not
    thread-safe (concurrent requests race on shared dicts, and a request that
    fails half-way may leave half its writes). Serving requests one at a time
    restores per-request atomicity for tests that drive handlers from threads.
    """

    def _server_entry(self) -> None:
        app = DomainDispatcherApplication(create_backend_app)
        one_at_a_time = threading.Lock()

        def serialised(environ: Any, start_response: Any) -> Any:
            with one_at_a_time:
                return list(app(environ, start_response))  # read the body inside the lock

        self._server = make_server(self._ip_address, self._port, serialised, True, request_handler=MotoRequestHandler)
        self._server_ready_event.set()
        self._server.serve_forever()


def endpoint() -> str:
    """The running server's URL, starting it on first use."""
    global _process, _endpoint
    with _lock:
        if _endpoint is None:
            _process = subprocess.Popen([sys.executable, "-m", "local.server"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parent.parent)
            assert _process.stdout is not None
            line = _process.stdout.readline().strip()  # "listening on <port>"
            if not line.startswith("listening on "):
                raise RuntimeError(f"the local moto server did not start: {line!r}")
            _endpoint = f"http://{HOST}:{int(line.rsplit(' ', 1)[1])}"
            atexit.register(_stop)
        return _endpoint


def _stop() -> None:
    if _process is not None and _process.poll() is None:
        _process.terminate()
        _process.wait(timeout=10)


def serve() -> None:
    """The child: serve until the parent closes our stdin (it exited, or stopped us)."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    moto_patches.install()  # for the life of the server
    server = SerialisedMotoServer(ip_address=HOST, port=0, verbose=False)
    server.start()
    print(f"listening on {server.get_host_and_port()[1]}", flush=True)
    sys.stdin.read()
    server.stop()


def reset() -> None:
    """Delete every table, queue and message the server holds."""
    request = urllib.request.Request(endpoint() + "/moto-api/reset", method="POST")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
    with opener.open(request, timeout=10) as response:
        response.read()


def aws_environment(url: str | None) -> dict[str, str | None]:
    """What boto3 needs to reach the server with fake credentials and nothing from ~/.aws (None: unset).

    ``url=None``: no endpoint override, for moto in process (``mock_aws`` intercepts AWS's own URLs).
    """
    return {
        "AWS_ENDPOINT_URL": url,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_PROFILE": None,
        "NO_PROXY": f"{HOST},localhost",
        "no_proxy": f"{HOST},localhost",
    }


if __name__ == "__main__":
    serve()
