"""DynamoDB resources, one of each per container, created lazily and reused.

* the shared resource: reads, ID-map and catalog writes (botocore retries twice);
* the profile-write resource: no botocore retries, because ProfileRepository retries profile
  writes itself, with an injected clock and sleep, inside the event's budget (botocore's own
  backoff can sleep about a second).

The endpoint comes from botocore's own ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_DYNAMODB``
variables, so the local stack and tests point at moto without code of ours.
"""

from __future__ import annotations

import threading
from typing import Any

from botocore.config import Config

from chalicelib.runtime import aws

_lock = threading.Lock()
_resources: dict[str, Any] = {}

# Short, explicit timeouts: a DynamoDB call must never hold an event for long.
_CONFIGS = {
    "shared": Config(
        connect_timeout=1,
        read_timeout=2,
        retries={"max_attempts": 2, "mode": "standard"},
        max_pool_connections=32,
    ),
    "profile_writes": Config(
        connect_timeout=0.5,
        read_timeout=1,
        retries={"total_max_attempts": 1, "mode": "standard"},
        max_pool_connections=32,
    ),
}


def _resource(kind: str) -> Any:
    resource = _resources.get(kind)
    if resource is None:
        with _lock:
            resource = _resources.get(kind)
            if resource is None:
                resource = aws.resource("dynamodb", config=_CONFIGS[kind])
                _resources[kind] = resource
    return resource


def dynamodb_resource() -> Any:
    return _resource("shared")


def table(name: str) -> Any:
    return dynamodb_resource().Table(name)


def write_table(name: str) -> Any:
    """The profiles table as seen by profile writes."""
    return _resource("profile_writes").Table(name)


def dynamodb_clients() -> list[Any]:
    """Every DynamoDB client the app uses (tests hook botocore events on all of them)."""
    return [_resource(kind).meta.client for kind in _CONFIGS]


def reset_for_tests() -> None:
    """Forget the cached resources (tests switch between moto backends)."""
    with _lock:
        _resources.clear()
    aws.reset_for_tests()
