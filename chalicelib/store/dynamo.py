"""One boto3 DynamoDB resource per container, created lazily and reused.

The endpoint comes from botocore's own ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_DYNAMODB``
variables, so the local stack and tests point at moto without code of ours.
"""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config

_lock = threading.Lock()
_resource: Any = None

# Short, explicit timeouts: a DynamoDB call must never hold an event for long.
_BOTO_CONFIG = Config(
    connect_timeout=1,
    read_timeout=2,
    retries={"max_attempts": 2, "mode": "standard"},
    max_pool_connections=32,
)


def dynamodb_resource() -> Any:
    global _resource
    if _resource is None:
        with _lock:
            if _resource is None:
                _resource = boto3.session.Session().resource("dynamodb", config=_BOTO_CONFIG)
    return _resource


def table(name: str) -> Any:
    return dynamodb_resource().Table(name)


def reset_for_tests() -> None:
    """Forget the cached resource (tests switch between moto backends)."""
    global _resource
    with _lock:
        _resource = None
