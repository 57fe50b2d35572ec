"""The admin API over real HTTP (``chalice local`` + moto server): the demo catalog was seeded
through it, and a rule change is served by /event within 10 s (admin-api.md; the stack checks
the catalog version every 2 s)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any, Callable

import pytest
import requests

from devtools.stack import LocalStack

pytestmark = pytest.mark.integration

PROPAGATION_S = 10.0  # admin-api.md: "served by every container within 10 s"
HTTP_TIMEOUT_S = 10


class _Api:
    def __init__(self, http: requests.Session, stack: LocalStack) -> None:
        self.http = http
        self.stack = stack
        self.auth = {"Authorization": f"Bearer {stack.admin_token}"}

    def call(self, method: str, path: str, body: Any = None) -> requests.Response:
        return self.http.request(method, f"{self.stack.dcs_url}{path}", json=body,
                                 headers=self.auth, timeout=HTTP_TIMEOUT_S)

    def created(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = self.call("POST", path, body)
        assert answer.status_code == 201, answer.text
        return dict(answer.json())

    def segments_for(self, query: str) -> list[int]:
        """/event for a brand-new visitor (no cookie): only this request's signals count."""
        self.http.cookies.clear()
        answer = self.http.get(f"{self.stack.dcs_url}/event?d_rtbd=json&d_cts=1&{query}",
                               timeout=HTTP_TIMEOUT_S)
        assert answer.status_code == 200, answer.text
        return list(answer.json().get("segments", []))


@pytest.fixture
def api(local_stack: LocalStack, stack_http: requests.Session) -> Iterator[_Api]:
    yield _Api(stack_http, local_stack)


def _within(deadline_s: float, condition: Callable[[], bool]) -> float:
    """Seconds until ``condition()`` held; fails after ``deadline_s``."""
    start = time.monotonic()
    while True:
        if condition():
            return time.monotonic() - start
        if time.monotonic() - start > deadline_s:
            pytest.fail(f"not served within {deadline_s} s")
        time.sleep(0.2)


def test_demo_catalog_was_seeded_through_the_api(api: _Api) -> None:
    assert api.http.get(f"{api.stack.dcs_url}/v1/traits", timeout=HTTP_TIMEOUT_S
                        ).status_code == 401
    traits = api.call("GET", "/v1/traits").json()["items"]
    assert [t["sid"] for t in traits][:5] == [1001, 1002, 2001, 2002, 3001]
    assert all(t["createTime"] > 0 for t in traits)  # written by the API, not the store
    segments = api.call("GET", "/v1/segments").json()["items"]
    assert [s["sid"] for s in segments][:5] == [5001, 5002, 5003, 5004, 5005]
    assert [p["pid"] for p in api.call("GET", "/v1/providers").json()["items"]][:2] == [1, 2]
    mappings = api.call("GET", "/v1/destinations/52/mappings").json()
    assert mappings["total"] >= 5
    versions = api.call("GET", "/v1/catalog/version").json()
    assert versions["refreshSeconds"] == 2.0


def test_a_rule_change_is_served_within_10_s(api: _Api) -> None:
    marker = uuid.uuid4().hex[:12]
    created: list[str] = []
    try:
        trait = api.created("/v1/traits", {
            "name": "Admin propagation test", "traitType": "RULE_BASED_TRAIT",
            "dataSourceId": 1, "traitRule": f'c_probe == "{marker}"'})
        created.append(f"/v1/traits/{trait['sid']}")
        segment = api.created("/v1/segments", {"name": "Admin propagation test",
                                               "segmentRule": f"{trait['sid']}T"})
        created.insert(0, f"/v1/segments/{segment['sid']}")
        sid = segment["sid"]
        _within(PROPAGATION_S, lambda: sid in api.segments_for(f"c_probe={marker}"))

        changed = api.call("PUT", f"/v1/traits/{trait['sid']}",
                           {**trait, "traitRule": f'c_probe == "{marker}-2"'})
        assert changed.status_code == 200, changed.text
        _within(PROPAGATION_S, lambda: sid in api.segments_for(f"c_probe={marker}-2")
                and sid not in api.segments_for(f"c_probe={marker}"))
    finally:
        for path in created:  # segment first, then the trait it uses
            api.call("DELETE", path)
        stored = api.call("GET", "/v1/catalog/version").json()["storedVersion"]
        # Leave the stack serving its settled catalog for the tests that follow.
        _within(PROPAGATION_S, lambda: api.call("GET", "/v1/catalog/version").json()["version"]
                >= stored)
    assert all(api.call("GET", path).status_code == 404 for path in created)
