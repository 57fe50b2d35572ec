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
        return cache_user_agent(_shared_session().client(service, config=config))


def credentials() -> Any:
    """The session's botocore credentials (None when there are none); their
    ``get_frozen_credentials()`` refreshes them as botocore's clients do."""
    with _lock:
        return _shared_session().get_credentials()


def resource(service: str, config: Any = None) -> Any:
    with _lock:
        made = _shared_session().resource(service, config=config)
    cache_user_agent(made.meta.client)
    return made


# botocore builds the User-Agent string afresh twice per request (the request dict, then
# again after signing): ~0.1 ms of a warm DynamoDB call (bench/event_cpu.py). What it reads
# is fixed per client (session, config, environment) except the feature ids of the request's
# context, so the string is kept per set of features: the very string botocore would build.
_UA_KEEP = 64  # feature combinations remembered per client (a handful occur)


def cache_user_agent(made: Any) -> Any:
    """``made`` (a botocore client) with its User-Agent string built once per feature set."""
    creator = getattr(made, "_user_agent_creator", None)
    if creator is None or getattr(creator, "_rtdcs_cached", False):
        return made
    try:
        from botocore.context import get_context
    except ImportError:  # a botocore older than the Lambda runtime's of 2025: build per call
        return made

    build = creator.to_string
    built: dict[frozenset[str], str] = {}

    def to_string() -> str:
        context = get_context()
        key = frozenset(getattr(creator, "_client_features", None) or ()).union(
            context.features if context is not None else ())
        text = built.get(key)
        if text is None:
            text = build()
            if len(built) < _UA_KEEP:
                built[key] = text
        return text

    creator.to_string = to_string
    creator._rtdcs_cached = True
    return made


def reset_for_tests() -> None:
    """Start a new session on the next client (tests change credentials and endpoints)."""
    global _session
    with _lock:
        _session = None
