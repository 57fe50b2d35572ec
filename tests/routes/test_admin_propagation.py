"""A change through the admin API is what /event serves once the container checks the catalog
version (admin-api.md: within 10 s; RTDCS_CATALOG_REFRESH_SECONDS), and /event does not read
the catalog per event in between."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.routes import test_admin_support as support
from tests.routes.test_admin_support import Admin

admin = support.admin  # fixture


def _event(client: Any, query: str) -> dict[str, Any]:
    """A brand-new visitor (no cookie): only this request's realizations count."""
    response = client.http.get(f"/event?d_rtbd=json&d_cts=1&{query}")
    assert response.status_code == 200, response.body
    return dict(json.loads(response.body))


def test_api_changes_reach_the_event_path(
    admin: Admin, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RTDCS_CATALOG_REFRESH_SECONDS", "0")
    before = _event(client, "c_sport=tennis")
    trait = admin.created("/v1/traits", {"name": "Tennis", "traitType": "RULE_BASED_TRAIT",
                                         "dataSourceId": 1, "traitRule": 'c_sport == "tennis"'})
    segment = admin.created("/v1/segments", {"name": "Tennis fans",
                                             "segmentRule": f"{trait['sid']}T"})
    after = _event(client, "c_sport=tennis")
    assert trait["sid"] not in before["traits"] and segment["sid"] not in before["segments"]
    assert trait["sid"] in after["traits"] and segment["sid"] in after["segments"]
    assert segment["sid"] not in _event(client, "c_sport=golf")["segments"]

    # A rule edit, a pause and a delete are served the same way.
    golf = {**trait, "traitRule": 'c_sport == "golf"'}
    assert admin.put(f"/v1/traits/{trait['sid']}", golf).status == 200
    assert segment["sid"] not in _event(client, "c_sport=tennis")["segments"]
    assert segment["sid"] in _event(client, "c_sport=golf")["segments"]
    paused = {**segment, "status": "paused"}
    assert admin.put(f"/v1/segments/{segment['sid']}", paused).status == 200
    assert segment["sid"] not in _event(client, "c_sport=golf")["segments"]
    assert admin.delete(f"/v1/segments/{segment['sid']}").status == 204
    assert admin.delete(f"/v1/traits/{trait['sid']}").status == 204
    gone = _event(client, "c_sport=golf")
    assert trait["sid"] not in gone["traits"] and segment["sid"] not in gone["segments"]
    versions = admin.get("/v1/catalog/version").json
    assert versions["version"] == versions["storedVersion"]


def test_event_path_serves_its_cached_version_until_the_next_check(
    admin: Admin, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RTDCS_CATALOG_REFRESH_SECONDS", "3600")
    served = _event(client, "c_section=sports")
    assert 5001 in served["segments"]
    admin.created("/v1/segments", {"name": "x", "segmentRule": "1001T"})
    paused = {"name": "Sports readers", "segmentRule": "1001T", "status": "paused"}
    assert admin.put("/v1/segments/5001", paused).status == 200
    # No catalog read per event: the change waits for the next version check.
    assert 5001 in _event(client, "c_section=sports")["segments"]
    versions = admin.get("/v1/catalog/version").json
    assert versions["storedVersion"] == versions["version"] + 2
