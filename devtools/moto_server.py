"""moto's server, with DynamoDB requests applied one at a time (``make run``'s AWS stand-in).

DynamoDB applies each request to its items atomically; moto applies one as a read-modify-write
in Python, so its threaded server loses concurrent updates (two conditional writes of one item
can both pass their condition, two ``ADD``s of one counter can both read the old value). A new
user creating objects while the demo catalog seeds hit exactly that: a create answered 201 and
its object was gone. Here a lock serializes the DynamoDB requests, and everything else (SQS
long polls, CloudFormation) stays concurrent.

    python -m devtools.moto_server -H 127.0.0.1 -p 5055
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any, Callable, Iterable

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple

from devtools import moto_patches

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class SerialDynamoDB:
    """WSGI middleware: one DynamoDB request at a time (by its ``X-Amz-Target`` header)."""

    def __init__(self, app: WsgiApp) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
        if not target.startswith("DynamoDB_"):
            return self._app(environ, start_response)
        with self._lock:
            # The body is produced inside the lock too: moto answers from a finished list.
            return list(self._app(environ, start_response))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5055)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    moto_patches.install()  # transactions cost what they touch (devtools/moto_patches.py)
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, SerialDynamoDB(app), threaded=True,
               request_handler=MotoRequestHandler)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
