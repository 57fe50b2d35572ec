"""The one boto3 session of a container, for every AWS client and resource we create.

Each boto3 ``Session`` has its own botocore loader, so every extra session parses
``endpoints.json`` and the service models again: with a session per client that was most
of the first event's cost on a cold container (``bench/cold_event.py``). Sessions are not
thread-safe, so creating clients goes through a lock; the clients themselves are.

Endpoints come from botocore's ``AWS_ENDPOINT_URL*`` variables, read when a client is
created, so the local stack and tests point everything at moto without code of ours.
"""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
_session: Any = None


def _shared_session() -> Any:
    global _session
    if _session is None:
        import boto3  # loaded by the first client, not at app import

        _session = boto3.session.Session()
    return _session


def client(service: str, config: Any = None) -> Any:
    with _lock:
        return _shared_session().client(service, config=config)


def resource(service: str, config: Any = None) -> Any:
    with _lock:
        return _shared_session().resource(service, config=config)


def reset_for_tests() -> None:
    """Start a new session on the next client (tests change credentials and endpoints)."""
    global _session
    with _lock:
        _session = None
