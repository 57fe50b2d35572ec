"""CatalogRepository.load_all: one query per kind, all kinds at once, every page read."""

from __future__ import annotations

import json
import threading
from types import SimpleNamespace
from typing import Any

from chalicelib.store.catalog import KINDS, CatalogRepository


class _Client:
    """Stands in for a resource Table's client. Answers each kind in two pages; ``barrier``
    makes every first query wait for the others, so a sequential load_all could never get
    past it (it times out and raises)."""

    def __init__(self, barrier: threading.Barrier | None = None) -> None:
        self.barrier = barrier
        self.calls: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def query(self, **kwargs: Any) -> dict[str, Any]:
        with self.lock:
            self.calls.append(kwargs)
        kind = kwargs["ExpressionAttributeValues"][":kind"]
        start = kwargs.get("ExclusiveStartKey")
        if start is None:
            if self.barrier is not None:
                self.barrier.wait()
            return {"Items": [_item(kind, 1)], "LastEvaluatedKey": {"pk": kind, "sk": "1"}}
        return {"Items": [_item(kind, 2)]}


def _item(kind: str, number: int) -> dict[str, Any]:
    # As a resource's client returns it: plain values, not DynamoDB JSON.
    return {"pk": kind, "sk": str(number), "body": json.dumps({"kind": kind, "n": number})}


def _repository(client: _Client) -> CatalogRepository:
    return CatalogRepository(SimpleNamespace(name="catalog", meta=SimpleNamespace(client=client)))


def test_every_kind_is_read_in_parallel() -> None:
    client = _Client(threading.Barrier(len(KINDS), timeout=10))
    loaded = _repository(client).load_all(consistent=True)
    assert list(loaded) == list(KINDS)
    assert all(call["ConsistentRead"] is True for call in client.calls)


def test_every_page_of_a_kind_is_read() -> None:
    client = _Client()
    loaded = _repository(client).load_all()
    assert loaded == {kind: [{"kind": kind, "n": 1}, {"kind": kind, "n": 2}] for kind in KINDS}
    assert len(client.calls) == 2 * len(KINDS)
    assert all(call["TableName"] == "catalog" for call in client.calls)
