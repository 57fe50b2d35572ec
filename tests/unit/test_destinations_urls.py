"""destinations.md, URL destinations (PUSH) -> dests: each option and each macro."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.destinations.compiled import compile_destinations, destinations_for
from chalicelib.destinations.urls import expand, page_protocol, url_destination_items
from chalicelib.rules.catalog import compile_catalog

NOW = 1_800_000_000.0
MS = int(NOW * 1000)
UUID = "04817263550918273645501928374655610293"


def _catalog(destinations: list[dict[str, Any]], mappings: list[dict[str, Any]]) -> Any:
    return compile_destinations({"destination": destinations, "mapping": mappings}, version=1)


def _serialized(**overrides: Any) -> dict[str, Any]:
    dest = {"destinationId": 60, "name": "px", "destinationType": "PUSH",
            "serializationEnabled": True, "delimiter": ",",
            "urlFormatString": "http://px.example/s?segs=%ALIAS%",
            "secureUrlFormatString": "https://px.example/s?segs=%ALIAS%"}
    dest.update(overrides)
    return dest


def _mapping(mapping_id: int, sid: int, **fields: Any) -> dict[str, Any]:
    return {"mappingId": mapping_id, "destinationId": fields.pop("destinationId", 60),
            "sid": sid, **fields}


_MAPPINGS = [_mapping(1, 5001, traitAlias="sports"), _mapping(2, 5002, traitAlias="auto"),
             _mapping(3, 5003, traitAlias="lux")]


def _items(catalog: Any, segments: set[int], **overrides: Any) -> list[dict[str, Any]]:
    kwargs: dict[str, Any] = dict(uuid=UUID, synced_ids={}, gdpr_flag=0, consent_string=None,
                                  page_proto="https", now=NOW, rnd=lambda: "42")
    kwargs.update(overrides)
    return url_destination_items(catalog, segments, **kwargs)


def test_serialized_gives_one_item_with_aliases_joined_in_mapping_order() -> None:
    catalog = _catalog([_serialized()], _MAPPINGS)
    assert _items(catalog, {5003, 5001, 9999}) == [
        {"id": "60", "y": "img", "c": "http://px.example/s?segs=sports,lux",
         "e": "https://px.example/s?segs=sports,lux"}
    ]


def test_serialized_delimiter_semicolon() -> None:
    catalog = _catalog([_serialized(delimiter=";")], _MAPPINGS)
    assert _items(catalog, {5001, 5002})[0]["c"] == "http://px.example/s?segs=sports;auto"


def test_alias_values_are_percent_encoded_but_the_delimiter_is_not() -> None:
    mappings = [_mapping(1, 5001, traitAlias="a b&c"), _mapping(2, 5002, traitAlias="x,y")]
    catalog = _catalog([_serialized()], mappings)
    assert _items(catalog, {5001, 5002})[0]["c"] == "http://px.example/s?segs=a%20b%26c,x%2Cy"


def test_alias_defaults_to_the_segment_id() -> None:
    catalog = _catalog([_serialized()], [_mapping(1, 5001)])
    assert _items(catalog, {5001})[0]["c"].endswith("segs=5001")


def test_no_item_without_a_mapped_segment_or_for_other_destination_types() -> None:
    cookie = {"destinationId": 52, "destinationType": "ADS", "cookieName": "x"}
    catalog = _catalog([_serialized(), cookie], [*_MAPPINGS, _mapping(9, 5001, destinationId=52)])
    assert _items(catalog, {4242}) == []
    assert [i["id"] for i in _items(catalog, {5001})] == ["60"]


def test_not_serialized_gives_one_item_per_mapping_with_its_own_url() -> None:
    dest = {"destinationId": 61, "destinationType": "PUSH", "serializationEnabled": False}
    mappings = [
        _mapping(1, 5001, destinationId=61, url="https://a.example/p?s=%ALIAS%",
                 traitAlias="sp", secureUrl="https://sa.example/p"),
        _mapping(2, 5002, destinationId=61, url="https://b.example/p"),
    ]
    assert _items(_catalog([dest], mappings), {5001, 5002}) == [
        {"id": "61-5001", "y": "img", "c": "https://a.example/p?s=sp",
         "e": "https://sa.example/p"},
        {"id": "61-5002", "y": "img", "c": "https://b.example/p"},
    ]


def test_not_serialized_mapping_without_url_uses_the_destination_format() -> None:
    dest = _serialized(destinationId=62, serializationEnabled=False)
    mappings = [_mapping(1, 5001, destinationId=62, traitAlias="sp")]
    assert _items(_catalog([dest], mappings), {5001}) == [
        {"id": "62-5001", "y": "img", "c": "http://px.example/s?segs=sp",
         "e": "https://px.example/s?segs=sp"}]


def test_secure_url_only() -> None:
    dest = _serialized(urlFormatString="")
    assert _items(_catalog([dest], _MAPPINGS), {5001}) == [
        {"id": "60", "y": "img", "c": "https://px.example/s?segs=sports"}]


def test_tag_type_iframe_and_hide_referrer() -> None:
    dest = _serialized(tagType="iframe", hideReferrer=True)
    item = _items(_catalog([dest], _MAPPINGS), {5001})[0]
    assert item["y"] == "iframe" and item["hr"] == 1
    assert "hr" not in _items(_catalog([_serialized()], _MAPPINGS), {5001})[0]


def test_paused_destination_gives_nothing() -> None:
    catalog = _catalog([_serialized(status="inactive")], _MAPPINGS)
    assert _items(catalog, {5001}) == []


def test_mapping_start_and_end_dates() -> None:
    mappings = [_mapping(1, 5001, traitAlias="past", endDate=MS - 1),
                _mapping(2, 5002, traitAlias="future", startDate=MS + 1),
                _mapping(3, 5003, traitAlias="live", startDate=MS - 1, endDate=MS + 1)]
    catalog = _catalog([_serialized()], mappings)
    assert _items(catalog, {5001, 5002, 5003})[0]["c"].endswith("segs=live")
    assert _items(catalog, {5001, 5002}) == []
    assert _items(catalog, {5002}, now=NOW + 1)[0]["c"].endswith("segs=future")


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("https://p.example/?u=%did%", f"https://p.example/?u={UUID}"),
        ("https://p.example/?u=%DID%", f"https://p.example/?u={UUID}"),
        ("https://p.example/?r=%rnd%", "https://p.example/?r=r%2Fnd%201"),
        ("https://p.example/?t=%timestamp%", f"https://p.example/?t={int(NOW)}"),
        ("%http_proto%://p.example/", "http://p.example/"),
        ("https://p.example/?d=%dpid_900%", "https://p.example/?d=ab%2012%3Fx"),
        ("https://p.example/?d=%dpid_901%", "https://p.example/?d="),
        ("https://p.example/?g=${GDPR}&c=${GDPR_CONSENT_565}",
         "https://p.example/?g=1&c=CP%2Babc%3D%3D"),
        ("https://p.example/?e=%2Fkept%20&x=%unknown%&y=${OTHER}",
         "https://p.example/?e=%2Fkept%20&x=%unknown%&y=${OTHER}"),
    ],
    ids=["did", "DID", "rnd", "timestamp", "http_proto", "dpid", "dpid-missing", "consent",
         "others-untouched"],
)
def test_macros(template: str, expected: str) -> None:
    dest = _serialized(urlFormatString=template, secureUrlFormatString="")
    items = _items(_catalog([dest], _MAPPINGS), {5001}, synced_ids={900: "ab 12?x"},
                   gdpr_flag=1, consent_string="CP+abc==", page_proto="http",
                   rnd=lambda: "r/nd 1")
    assert items[0]["c"] == expected


def test_consent_macros_with_gdpr_0_become_0_and_empty() -> None:
    dest = _serialized(urlFormatString="https://p.example/?g=${GDPR}&c=${GDPR_CONSENT_7}")
    items = _items(_catalog([dest], _MAPPINGS), {5001}, gdpr_flag=0, consent_string="CPx")
    assert items[0]["c"] == "https://p.example/?g=0&c="


def test_consent_macros_are_only_substituted_where_present() -> None:
    dest = _serialized(urlFormatString="https://p.example/?s=%ALIAS%")
    items = _items(_catalog([dest], _MAPPINGS), {5001}, gdpr_flag=1, consent_string="CPx")
    assert items[0]["c"] == "https://p.example/?s=sports", "nothing appended"


def test_rnd_is_drawn_per_item() -> None:
    dest = {"destinationId": 61, "destinationType": "PUSH"}
    mappings = [_mapping(1, 5001, destinationId=61, url="https://a.example/?r=%rnd%"),
                _mapping(2, 5002, destinationId=61, url="https://a.example/?r=%rnd%")]
    draws = iter(["1", "2"])
    items = _items(_catalog([dest], mappings), {5001, 5002}, rnd=lambda: next(draws))
    assert [i["c"] for i in items] == ["https://a.example/?r=1", "https://a.example/?r=2"]


def test_unknown_page_protocol_falls_back_to_https() -> None:
    dest = _serialized(urlFormatString="%http_proto%://p.example/")
    assert _items(_catalog([dest], _MAPPINGS), {5001}, page_proto="ftp")[0]["c"] == (
        "https://p.example/")


def test_page_protocol_from_the_referer_signal() -> None:
    assert page_protocol({"h_referer": ["http://news.example/a"]}) == "http"
    assert page_protocol({"h_referer": ["https://news.example/a"]}) == "https"
    assert page_protocol({}) == "https"


def test_expand_leaves_percent_escapes_alone() -> None:
    assert expand("a%20%E2%80%99%DID%", lambda t: "X" if t == "%DID%" else None) == (
        "a%20%E2%80%99X")


def test_compiled_catalog_is_accepted_and_cached_per_catalog_object() -> None:
    raw = {"destination": [_serialized()], "mapping": _MAPPINGS}
    catalog = compile_catalog(raw, version=3)
    assert destinations_for(catalog) is destinations_for(catalog)
    assert destinations_for(catalog).version == 3
    assert _items(catalog, {5001})[0]["id"] == "60"
    newer = compile_catalog({"destination": [], "mapping": []}, version=4)
    assert destinations_for(newer).url_destinations == ()


def test_a_broken_destination_is_reported_not_fatal() -> None:
    catalog = _catalog([_serialized(tagType="script"), _serialized(destinationId=63)], [])
    assert [d.destination_id for d in catalog.url_destinations] == [63]
    assert catalog.problems and "60" in catalog.problems[0]
