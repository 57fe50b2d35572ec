"""Test helpers: watch or fail DynamoDB calls through botocore's event system, on every
DynamoDB client the app uses (the shared one and the profile-write one)."""

from __future__ import annotations

import itertools
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from chalicelib.store.dynamo import dynamodb_clients

READS = frozenset({"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"})
WRITES = frozenset({"UpdateItem", "PutItem", "DeleteItem", "BatchWriteItem",
                    "TransactWriteItems"})
_ids = itertools.count()


@contextmanager
def dynamodb_hook(event: str, handler: Callable[..., Any]) -> Iterator[None]:
    """Register ``handler`` for ``event`` (e.g. "before-call.dynamodb") on every client."""
    unique_id = f"test-hook-{next(_ids)}"
    clients = dynamodb_clients()
    for client in clients:
        client.meta.events.register(event, handler, unique_id=unique_id)
    try:
        yield
    finally:
        for client in clients:
            client.meta.events.unregister(event, unique_id=unique_id)


@contextmanager
def dynamodb_calls() -> Iterator[list[str]]:
    """The operation names of the DynamoDB calls made inside the block, in order."""
    calls: list[str] = []

    def _record(model: Any, **_: Any) -> None:
        calls.append(model.name)

    with dynamodb_hook("before-call.dynamodb", _record):
        yield calls
