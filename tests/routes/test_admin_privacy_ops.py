"""GET/DELETE /v1/profiles/{uuid}, /v1/profiles/by-id, /v1/profiles/authenticated and
/v1/stats/providers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.routes.test_admin_support import Admin, admin, repo  # noqa: F401 (fixtures)

CRM = 77


@pytest.fixture
def crm(repo: Any) -> None:  # noqa: F811
    repo.put("datasource", CRM, {"dataSourceId": CRM, "name": "CRM", "idType": "CROSS_DEVICE"})
    repo.bump_version()


def _event(client: Any, query: str, cookie: str = "") -> dict[str, Any]:
    headers = {"Cookie": f"rtdcs_uuid={cookie}"} if cookie else {}
    response = client.http.get("/event?d_rtbd=json&d_cts=1&" + query, headers=headers)
    assert response.status_code == 200
    return dict(json.loads(response.body))


def test_export_profile_with_traits_segments_and_ids(
    client: Any, admin: Admin, crm: None  # noqa: F811
) -> None:
    uuid = _event(client, f"c_section=sports&d_cid={CRM}%01user9")["uuid"]
    answer = admin.get(f"/v1/profiles/{uuid}")
    assert answer.status == 200
    profile = answer.json
    assert profile["uuid"] == uuid and profile["optedOut"] is False
    assert "1001" in profile["traits"] and profile["traits"]["1001"][0].endswith("Z")
    assert 5001 in profile["segments"] and profile["syncedIds"] == {str(CRM): "user9"}
    assert admin.get(f"/v1/profiles/by-id?dpid={CRM}&dpuuid=user9").json["uuid"] == uuid


def test_profile_routes_need_the_token_and_valid_ids(client: Any, admin: Admin) -> None:  # noqa: F811
    uuid = _event(client, "c_x=1")["uuid"]
    assert admin.get(f"/v1/profiles/{uuid}", auth=False).status == 401
    assert admin.delete(f"/v1/profiles/{uuid}", auth=False).status == 401
    assert admin.get(f"/v1/profiles/{uuid}").status == 200  # the unauthorized DELETE did nothing
    assert admin.get("/v1/profiles/123").error()["field"] == "uuid"
    assert admin.get("/v1/profiles/" + "9" * 38).status == 404
    assert admin.get("/v1/profiles/by-id?dpid=x&dpuuid=a").error()["field"] == "dpid"
    assert admin.get("/v1/profiles/by-id?dpid=77&dpuuid=null").error()["field"] == "dpuuid"
    assert admin.get("/v1/profiles/by-id?dpid=77&dpuuid=nobody").status == 404


def test_delete_profile_and_its_links(client: Any, admin: Admin, crm: None) -> None:  # noqa: F811
    uuid = _event(client, f"c_section=sports&d_cid={CRM}%01bye")["uuid"]
    assert admin.delete(f"/v1/profiles/{uuid}").status == 204
    assert admin.get(f"/v1/profiles/{uuid}").status == 404
    assert admin.get(f"/v1/profiles/by-id?dpid={CRM}&dpuuid=bye").status == 404
    # The same UUID starts over with an empty profile.
    again = _event(client, "c_x=1", cookie=uuid)
    assert again["uuid"] == uuid and 5001 not in again["segments"]


def test_delete_keeps_an_opt_out(client: Any, admin: Admin) -> None:  # noqa: F811
    uuid = _event(client, "c_x=1")["uuid"]
    client.http.get(f"/demoptout?d_uuid={uuid}")
    assert admin.delete(f"/v1/profiles/{uuid}").status == 204
    kept = admin.get(f"/v1/profiles/{uuid}").json
    assert kept["optedOut"] is True and set(kept) == {"uuid", "optedOut", "optedOutAt"}
    assert [e["code"] for e in _event(client, "c_x=1", cookie=uuid)["errors"]] == [171]


def test_provider_stats(client: Any, admin: Admin) -> None:  # noqa: F811
    for _ in range(3):
        _event(client, "c_section=sports")
    stats = admin.get("/v1/stats/providers")
    assert stats.status == 200
    fast = stats.json["providers"]["1"]
    assert fast["calls"] >= 3 and fast["answers"] >= 3
    assert set(fast["latency_ms"]) >= {"p50", "p95", "p99"}
    assert admin.get("/v1/stats/providers", auth=False).status == 401


def test_delete_removes_every_link_of_the_uuid_not_only_the_latest(
    client: Any, admin: Admin, crm: None  # noqa: F811
) -> None:
    uuid = _event(client, f"c_x=1&d_cid={CRM}%01first&d_cid={CRM}%01second")["uuid"]
    sync = client.http.get(f"/ibs?dpid={CRM}&dpuuid=synced", headers={
        "Cookie": f"rtdcs_uuid={uuid}", "Accept": "image/*"})
    assert sync.status_code == 200
    for dpuuid in ("first", "second", "synced"):
        assert admin.get(f"/v1/profiles/by-id?dpid={CRM}&dpuuid={dpuuid}").json["uuid"] == uuid
    assert admin.delete(f"/v1/profiles/{uuid}").status == 204
    for dpuuid in ("first", "second", "synced"):
        assert admin.get(f"/v1/profiles/by-id?dpid={CRM}&dpuuid={dpuuid}").status == 404
        later = _event(client, f"c_x=1&d_cid={CRM}%01{dpuuid}")
        assert later["uuid"] != uuid  # a declared ID no longer leads back to the deleted UUID


def test_a_spooled_write_replayed_after_a_delete_does_not_bring_the_profile_back(
    client: Any, admin: Admin  # noqa: F811
) -> None:
    import time

    from chalicelib.runtime import services
    from chalicelib.store.profiles import ProfileChanges

    uuid = _event(client, "c_section=sports")["uuid"]
    before = time.time()
    spooled = ProfileChanges(now=before, event_id="spooled-1", add_stamps={1001: int(before)},
                             segments=frozenset({5001}), synced_ids={CRM: "x"})
    time.sleep(0.01)
    assert admin.delete(f"/v1/profiles/{uuid}").status == 204
    assert services.get_services().profiles.replay(uuid, spooled) == "deleted"
    assert admin.get(f"/v1/profiles/{uuid}").status == 404
    # A visitor who comes back afterwards starts a new profile on the same UUID.
    assert 5001 in _event(client, "c_section=sports", cookie=uuid)["segments"]
    assert admin.get(f"/v1/profiles/{uuid}").status == 200


def test_export_and_delete_an_authenticated_profile(
    client: Any, admin: Admin, repo: Any  # noqa: F811
) -> None:
    """identity.md 3: a login (auth state 1) under a merge rule writes the cross-device
    profile; privacy requests reach it by its declared id, apart from the device profile."""
    repo.put("datasource", CRM, {"dataSourceId": CRM, "name": "CRM", "idType": "CROSS_DEVICE"})
    repo.put("mergerule", 41, {"mergeRuleId": 41, "name": "logged in",
                               "authenticatedProfile": "current", "deviceProfile": "current",
                               "crossDeviceDataSources": [CRM], "default": False})
    repo.put("segment", 7201, {"sid": 7201, "name": "x", "segmentRule": "1001T",
                               "status": "active", "mergeRuleId": 41})
    repo.bump_version()
    device = _event(client, f"c_section=sports&d_cid={CRM}%01alice%011")["uuid"]
    query = f"dpid={CRM}&dpuuid=alice"
    exported = admin.get(f"/v1/profiles/authenticated?{query}")
    assert exported.status == 200, exported
    assert "1001" in exported.json["traits"], exported.json
    assert admin.delete(f"/v1/profiles/authenticated?{query}", auth=False).status == 401
    assert admin.delete(f"/v1/profiles/authenticated?{query}").status == 204
    assert admin.get(f"/v1/profiles/authenticated?{query}").status == 404
    assert admin.get(f"/v1/profiles/{device}").status == 200, "the device profile stays"
    assert admin.get("/v1/profiles/authenticated?dpid=x&dpuuid=a").error()["field"] == "dpid"
    assert admin.get(f"/v1/profiles/authenticated?dpid={CRM}&dpuuid=bob").status == 404
