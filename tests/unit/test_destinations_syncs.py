"""dcs-protocol.md 4.5 and 8: ID syncs (ibs) and the sync cookie."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.destinations.compiled import compile_destinations
from chalicelib.destinations.syncs import (
    SyncEntry,
    add_sync_entry,
    format_sync_cookie,
    parse_sync_cookie,
    sync_items,
    updated_sync_cookie,
)

NOW = 1_800_000_000.0
NOW_MS = int(NOW * 1000)
MINUTE_MS = 60_000
UUID = "04817263550918273645501928374655610293"


def _ds(dpid: int, **fields: Any) -> dict[str, Any]:
    return {"dataSourceId": dpid, "name": f"ds{dpid}", "idType": "COOKIE",
            "syncUrl": f"https://sync{dpid}.example/u?id=${{DD_UUID}}", **fields}


def _catalog(*datasources: dict[str, Any]) -> Any:
    return compile_destinations({"datasource": list(datasources)}, version=1)


def _items(catalog: Any, **overrides: Any) -> list[dict[str, Any]]:
    kwargs: dict[str, Any] = dict(nsid=0, uuid=UUID, sync_cookie=None,
                                  vendor_allowed=lambda vendor: True, gdpr_flag=0,
                                  consent_string=None, page_proto="https", now=NOW)
    kwargs.update(overrides)
    return sync_items(catalog, **kwargs)


def test_item_shape_and_defaults() -> None:
    assert _items(_catalog(_ds(9001), {"dataSourceId": 1, "name": "no sync url"})) == [
        {"id": "9001", "ttl": 10080, "tag": "img", "fireURLSync": 1, "syncOnPage": 0,
         "url": [f"https://sync9001.example/u?id={UUID}"]}
    ]


def test_configured_ttl_tag_and_on_page() -> None:
    item = _items(_catalog(_ds(9001, syncTtl=60, syncTag="iframe", syncOnPage=1)))[0]
    assert (item["ttl"], item["tag"], item["syncOnPage"]) == (60, "iframe", 1)


def test_only_partners_of_the_requested_namespace() -> None:
    catalog = _catalog(_ds(9001), _ds(9002, syncNsid=3))
    assert [i["id"] for i in _items(catalog)] == ["9001"]
    assert [i["id"] for i in _items(catalog, nsid=3)] == ["9002"]


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("https://s.example/?u=${DD_UUID}", f"https://s.example/?u={UUID}"),
        ("https://s.example/?u=%DID%", f"https://s.example/?u={UUID}"),
        ("https://s.example/?t=%TIMESTAMP%", f"https://s.example/?t={int(NOW)}"),
        ("%HTTP_PROTO%://s.example/", "http://s.example/"),
        ("https://s.example/?g=${GDPR}&c=${GDPR_CONSENT_91}",
         "https://s.example/?g=1&c=CP%2Fx%3D"),
    ],
    ids=["DD_UUID", "DID", "TIMESTAMP", "HTTP_PROTO", "consent"],
)
def test_sync_url_macros(template: str, expected: str) -> None:
    catalog = _catalog(_ds(9001, syncUrl=template))
    items = _items(catalog, gdpr_flag=1, consent_string="CP/x=", page_proto="http")
    assert items[0]["url"] == [expected]


def test_consent_gate_is_asked_with_the_partner_vendor_id() -> None:
    catalog = _catalog(_ds(9001, iabVendorId=91), _ds(9002, iabVendorId=92), _ds(9003))
    asked: list[int | None] = []

    def allowed(vendor: int | None) -> bool:
        asked.append(vendor)
        return vendor == 92

    assert [i["id"] for i in _items(catalog, vendor_allowed=allowed)] == ["9002"]
    assert sorted(asked, key=str) == [91, 92, None]


def test_not_due_while_the_cookie_entry_is_younger_than_the_ttl() -> None:
    catalog = _catalog(_ds(9001, syncTtl=60))
    young = f"9001-1-{NOW_MS - 59 * MINUTE_MS}"
    old = f"9001-1-{NOW_MS - 60 * MINUTE_MS}"
    assert _items(catalog, sync_cookie=young) == []
    assert [i["id"] for i in _items(catalog, sync_cookie=old)] == ["9001"]
    assert [i["id"] for i in _items(catalog, sync_cookie=f"9002-1-{NOW_MS}")] == ["9001"]


def test_not_due_while_the_visitor_has_a_younger_id_link() -> None:
    catalog = _catalog(_ds(9001, syncTtl=60))
    assert _items(catalog, synced_at={9001: NOW - 59 * 60}) == []
    assert len(_items(catalog, synced_at={9001: NOW - 61 * 60})) == 1


def test_at_most_ten_never_synced_first_then_least_recently_synced() -> None:
    catalog = _catalog(*[_ds(9000 + n, syncTtl=1) for n in range(12)])
    cookie = format_sync_cookie([SyncEntry(9000, NOW_MS - 5 * MINUTE_MS),
                                 SyncEntry(9001, NOW_MS - 9 * MINUTE_MS)])
    ids = [i["id"] for i in _items(catalog, sync_cookie=cookie)]
    assert len(ids) == 10
    assert ids == [str(9000 + n) for n in range(2, 12)], "never-synced partners come first"
    cookie = format_sync_cookie([SyncEntry(9000 + n, NOW_MS - (20 - n) * MINUTE_MS)
                                 for n in range(12)])
    ids = [i["id"] for i in _items(catalog, sync_cookie=cookie)]
    assert ids == [str(9000 + n) for n in range(10)], "the oldest syncs come first"


def test_opted_out_sync_cookie_gives_nothing() -> None:
    assert _items(_catalog(_ds(9001)), sync_cookie="NOTARGET") == []


def test_parse_keeps_one_entry_per_dpid_newest_first_and_skips_junk() -> None:
    value = "9001-1-100|junk|9002-1-300||9001-1-200|9003-2-400|x-1-5|9004-1-250"
    assert parse_sync_cookie(value) == [SyncEntry(9002, 300), SyncEntry(9004, 250),
                                        SyncEntry(9001, 200)]
    assert parse_sync_cookie(None) == [] and parse_sync_cookie("") == []


def test_add_entry_moves_the_dpid_to_the_front_and_keeps_at_most_20() -> None:
    entries = [SyncEntry(9000 + n, 1000 - n) for n in range(20)]
    added = add_sync_entry(entries, 9005, 2000)
    assert added[0] == SyncEntry(9005, 2000) and len(added) == 20
    assert [e.dpid for e in added].count(9005) == 1
    newcomer = add_sync_entry(entries, 7, 2000)
    assert newcomer[0].dpid == 7 and len(newcomer) == 20 and newcomer[-1].dpid == 9018
    assert format_sync_cookie(add_sync_entry([], 9001, 5)) == "9001-1-5"


def test_updated_sync_cookie_for_the_ibs_route() -> None:
    assert updated_sync_cookie(None, 9001, NOW) == f"9001-1-{NOW_MS}"
    assert updated_sync_cookie("9002-1-5|9001-1-3|junk", 9001, NOW) == (
        f"9001-1-{NOW_MS}|9002-1-5")
    catalog = _catalog(_ds(9001, syncTtl=60))
    assert _items(catalog, sync_cookie=updated_sync_cookie(None, 9001, NOW - 60)) == [], (
        "a sync just recorded by /ibs is not offered again")


@given(st.lists(st.tuples(st.integers(1, 10**6), st.integers(0, 10**13)), max_size=40))
def test_format_and_parse_round_trip(pairs: list[tuple[int, int]]) -> None:
    entries: list[SyncEntry] = []
    for dpid, ms in pairs:
        entries = add_sync_entry(entries, dpid, ms)
    parsed = parse_sync_cookie(format_sync_cookie(entries))
    assert len(parsed) <= 20
    assert len({e.dpid for e in parsed}) == len(parsed)
    assert [e.ms for e in parsed] == sorted((e.ms for e in parsed), reverse=True)
    assert {e.dpid: e.ms for e in parsed}.items() <= {e.dpid: e.ms for e in entries}.items()
