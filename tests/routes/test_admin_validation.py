"""Strict bodies (admin-api.md, Errors): every bad input is a 4xx JSON error naming the
field, never a 500, and changes nothing."""

from __future__ import annotations

import json
from typing import Any

import boto3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.admin.body import MAX_BODY_BYTES
from chalicelib.store.catalog import CatalogRepository
from tests.routes import test_admin_support as support
from tests.routes.test_admin_support import (
    ADS_DESTINATION,
    DATASOURCE,
    MAPPING,
    ONBOARDED_TRAIT,
    PROVIDER,
    RULE_TRAIT,
    SEGMENT,
    Admin,
)

admin = support.admin  # fixture
repo = support.repo  # fixture

PUSH = {"name": "Pixel", "destinationType": "PUSH", "serializationEnabled": True,
        "urlFormatString": "http://px.example/?s=%ALIAS%",
        "secureUrlFormatString": "https://px.example/?s=%ALIAS%"}
S2S = {"name": "Partner feed", "destinationType": "S2S", "url": "https://feed.example/in",
       "dataSourceId": 900}
LONG = "x" * 256

# (path, body, code, field); every case is a 400 unless the code says otherwise.
CASES: list[tuple[str, Any, str, str | None]] = [
    # traits
    ("/v1/traits", {**RULE_TRAIT, "colour": "red"}, "unknown_field", "colour"),
    ("/v1/traits", {k: v for k, v in RULE_TRAIT.items() if k != "name"}, "missing_field", "name"),
    ("/v1/traits", {**RULE_TRAIT, "traitType": "ALGO_TRAIT"}, "invalid_value", "traitType"),
    ("/v1/traits", {**RULE_TRAIT, "dataSourceId": "1"}, "invalid_type", "dataSourceId"),
    ("/v1/traits", {**RULE_TRAIT, "dataSourceId": True}, "invalid_type", "dataSourceId"),
    ("/v1/traits", {**RULE_TRAIT, "dataSourceId": 1.0}, "invalid_type", "dataSourceId"),
    ("/v1/traits", {**RULE_TRAIT, "dataSourceId": None}, "invalid_type", "dataSourceId"),
    ("/v1/traits", {**RULE_TRAIT, "ttl": 3651}, "out_of_range", "ttl"),
    ("/v1/traits", {**RULE_TRAIT, "ttl": -1}, "out_of_range", "ttl"),
    ("/v1/traits", {**RULE_TRAIT, "ttl": 10**30}, "out_of_range", "ttl"),
    ("/v1/traits", {**RULE_TRAIT, "name": ""}, "out_of_range", "name"),
    ("/v1/traits", {**RULE_TRAIT, "name": LONG}, "out_of_range", "name"),
    ("/v1/traits", {**RULE_TRAIT, "integrationCode": LONG}, "out_of_range", "integrationCode"),
    ("/v1/traits", {**RULE_TRAIT, "traitRule": 'c_a = "x"'}, "invalid_rule", "traitRule"),
    ("/v1/traits", {**RULE_TRAIT, "traitRule": 7}, "invalid_type", "traitRule"),
    ("/v1/traits", {k: v for k, v in RULE_TRAIT.items() if k != "traitRule"}, "missing_field",
     "traitRule"),
    ("/v1/traits", {**ONBOARDED_TRAIT, "traitRule": 'c_a == "1"'}, "invalid_field", "traitRule"),
    ("/v1/traits", {**RULE_TRAIT, "providerSegmentId": "x"}, "invalid_field",
     "providerSegmentId"),
    ("/v1/traits", {**RULE_TRAIT, "dataSourceId": 4242}, "invalid_reference", "dataSourceId"),
    ("/v1/traits", {**ONBOARDED_TRAIT, "providerSegmentId": 77}, "invalid_type",
     "providerSegmentId"),
    # segments
    ("/v1/segments", {**SEGMENT, "segmentRule": "1001T AND 999999T"}, "invalid_reference",
     "segmentRule"),
    ("/v1/segments", {**SEGMENT, "segmentRule": "frequency([2001T]) >= 1"}, "invalid_rule",
     "segmentRule"),
    ("/v1/segments", {**SEGMENT, "segmentRule": "NOT 1001T"}, "invalid_rule", "segmentRule"),
    ("/v1/segments", {**SEGMENT, "segmentRule": "1001T AND"}, "invalid_rule", "segmentRule"),
    ("/v1/segments", {**SEGMENT, "status": "on"}, "invalid_value", "status"),
    ("/v1/segments", {**SEGMENT, "dataSourceId": 4242}, "invalid_reference", "dataSourceId"),
    ("/v1/segments", {"name": "x"}, "missing_field", "segmentRule"),
    # providers
    ("/v1/providers", {**PROVIDER, "url": "http://rt.third.example/seg"}, "invalid_value", "url"),
    ("/v1/providers", {**PROVIDER, "url": "ftp://rt.third.example/seg"}, "invalid_value", "url"),
    ("/v1/providers", {**PROVIDER, "url": "https://u:p@rt.third.example/"}, "invalid_value",
     "url"),
    ("/v1/providers", {**PROVIDER, "url": "https://[::1/x"}, "invalid_value", "url"),
    ("/v1/providers", {**PROVIDER, "url": "rt.third.example"}, "invalid_value", "url"),
    ("/v1/providers", {**PROVIDER, "timeoutMs": 5}, "out_of_range", "timeoutMs"),
    ("/v1/providers", {**PROVIDER, "timeoutMs": 2001}, "out_of_range", "timeoutMs"),
    ("/v1/providers", {**PROVIDER, "cacheTtlSeconds": 86401}, "out_of_range", "cacheTtlSeconds"),
    ("/v1/providers", {**PROVIDER, "idMode": "email"}, "invalid_value", "idMode"),
    ("/v1/providers", {**PROVIDER, "signals": "c_*"}, "invalid_type", "signals"),
    ("/v1/providers", {**PROVIDER, "signals": ["c_*", "p_income"]}, "invalid_value",
     "signals[1]"),
    ("/v1/providers", {**PROVIDER, "signals": ["c_*", "c_*"]}, "invalid_value", "signals[1]"),
    ("/v1/providers", {**PROVIDER, "signals": ["c x"]}, "invalid_value", "signals[0]"),
    ("/v1/providers", {**PROVIDER, "segmentsPath": "user.[["}, "invalid_value", "segmentsPath"),
    ("/v1/providers", {**PROVIDER, "iabVendorId": 0}, "out_of_range", "iabVendorId"),
    ("/v1/providers", {**PROVIDER, "auth": {"type": "hmac"}}, "missing_field", "auth.secretRef"),
    ("/v1/providers", {**PROVIDER, "auth": {"type": "basic", "secretRef": "env:X"}},
     "invalid_value", "auth.type"),
    ("/v1/providers", {**PROVIDER, "auth": {"secretRef": "env:X"}}, "missing_field", "auth.type"),
    ("/v1/providers", {**PROVIDER, "auth": {"type": "bearer", "secretRef": "env:X",
                                            "password": "hunter2"}}, "unknown_field",
     "auth.password"),
    ("/v1/providers", {**PROVIDER, "auth": {"type": "hmac", "secretRef": "env:X",
                                            "header": "Host"}}, "invalid_value", "auth.header"),
    ("/v1/providers", {**PROVIDER, "auth": {"type": "hmac", "secretRef": "env:X",
                                            "algorithm": "md5"}}, "invalid_value",
     "auth.algorithm"),
    ("/v1/providers", {**PROVIDER, "auth": {"type": "bearer", "secretRef": "my s3cret value"}},
     "invalid_value", "auth.secretRef"),
    ("/v1/providers", {**PROVIDER, "auth": "env:X"}, "invalid_type", "auth"),
    ("/v1/providers", {**PROVIDER, "dataSourceId": 4242}, "invalid_reference", "dataSourceId"),
    # data sources
    ("/v1/datasources", {**DATASOURCE, "idType": "EMAIL"}, "invalid_value", "idType"),
    ("/v1/datasources", {**DATASOURCE, "syncUrl": "ftp://sync.example/"}, "invalid_value",
     "syncUrl"),
    ("/v1/datasources", {**DATASOURCE, "syncRedirectDomains": ["*.ok.example", "bad host"]},
     "invalid_value", "syncRedirectDomains[1]"),
    ("/v1/datasources", {**DATASOURCE, "syncOnPage": 1}, "invalid_type", "syncOnPage"),
    ("/v1/datasources", {**DATASOURCE, "syncTag": "script"}, "invalid_value", "syncTag"),
    # destinations
    ("/v1/destinations", {"name": "x"}, "missing_field", "destinationType"),
    ("/v1/destinations", {**ADS_DESTINATION, "urlFormatString": "https://x/%ALIAS%"},
     "invalid_field", "urlFormatString"),
    ("/v1/destinations", {k: v for k, v in ADS_DESTINATION.items() if k != "cookieName"},
     "missing_field", "cookieName"),
    ("/v1/destinations", {**ADS_DESTINATION, "cookieName": "a b"}, "invalid_value",
     "cookieName"),
    ("/v1/destinations", {**ADS_DESTINATION, "cnameDomain": "*.x.example"}, "invalid_value",
     "cnameDomain"),
    ("/v1/destinations", {**ADS_DESTINATION, "cnameDomain": "x.example"}, "invalid_value",
     "cnameDomain"),
    ("/v1/destinations", {**ADS_DESTINATION, "ttl": 0}, "out_of_range", "ttl"),
    ("/v1/destinations", {**ADS_DESTINATION, "maxSize": 5000}, "out_of_range", "maxSize"),
    ("/v1/destinations", {k: v for k, v in PUSH.items() if k != "secureUrlFormatString"},
     "missing_field", "secureUrlFormatString"),
    ("/v1/destinations", {**PUSH, "urlFormatString": "http://px.example/"}, "invalid_value",
     "urlFormatString"),
    ("/v1/destinations", {**PUSH, "secureUrlFormatString": "http://px.example/%ALIAS%"},
     "invalid_value", "secureUrlFormatString"),
    ("/v1/destinations", {**PUSH, "delimiter": "|"}, "invalid_value", "delimiter"),
    ("/v1/destinations", {**PUSH, "cookieName": "c"}, "invalid_field", "cookieName"),
    ("/v1/destinations", {k: v for k, v in S2S.items() if k != "url"}, "missing_field", "url"),
    ("/v1/destinations", {k: v for k, v in S2S.items() if k != "dataSourceId"}, "missing_field",
     "dataSourceId"),
    ("/v1/destinations", {**S2S, "url": "http://feed.example/in"}, "invalid_value", "url"),
    ("/v1/destinations", {**S2S, "dataSourceId": 4242}, "invalid_reference", "dataSourceId"),
    ("/v1/destinations", {**S2S, "auth": {"type": "oauth2", "tokenUrl": "http://t.example/",
                                          "clientId": "c", "secretRef": "ssm:/x"}},
     "invalid_value", "auth.tokenUrl"),
    ("/v1/destinations", {**S2S, "auth": {"type": "hmac", "secretRef": "BARE_NAME"}},
     "invalid_value", "auth.secretRef"),
    # mappings (destination 52 is a single_key cookie destination)
    ("/v1/destinations/52/mappings", {"valueString": "x"}, "missing_field", "sid"),
    ("/v1/destinations/52/mappings", {"sid": 999999, "valueString": "x"}, "invalid_reference",
     "sid"),
    ("/v1/destinations/52/mappings", {"sid": 5001, "traitAlias": "x", "valueString": "x"},
     "invalid_field", "traitAlias"),
    ("/v1/destinations/52/mappings", {"sid": 5001}, "missing_field", "valueString"),
    ("/v1/destinations/52/mappings", {"sid": 5001, "valueString": "x", "startDate": 20,
                                      "endDate": 10}, "out_of_range", "endDate"),
    ("/v1/destinations/52/mappings", {"sid": 5001, "valueString": "x", "destinationId": 53},
     "invalid_value", "destinationId"),
    ("/v1/destinations/52/mappings", {"sid": 5001, "valueString": "x", "startDate": -1},
     "out_of_range", "startDate"),
]


def _table_items(tables: dict[str, str]) -> list[dict[str, Any]]:
    table = boto3.resource("dynamodb").Table(tables["catalog"])
    return sorted(table.scan()["Items"], key=lambda i: (i["pk"], i["sk"]))


def test_bad_bodies_are_400_naming_the_field_and_change_nothing(
    admin: Admin, tables: dict[str, str]
) -> None:
    before = _table_items(tables)
    for path, body, code, field in CASES:
        for method, target in (("POST", path), ("PUT", _item_of(path))):
            answer = admin.call(method, target, body)
            assert answer.status == 400, (method, target, body, answer)
            error = answer.error()
            assert (error["code"], error.get("field")) == (code, field), (method, body, error)
            assert error["message"]
    assert _table_items(tables) == before


def _item_of(collection: str) -> str:
    """An existing demo object under this collection (PUT must check like POST)."""
    return collection + {"/v1/traits": "/1002", "/v1/segments": "/5005", "/v1/providers": "/1",
                         "/v1/datasources": "/1", "/v1/destinations": "/52",
                         "/v1/destinations/52/mappings": "/1"}[collection]


def test_rule_errors_carry_the_position(admin: Admin) -> None:
    answer = admin.post("/v1/traits", {**RULE_TRAIT, "traitRule": 'c_a == "x" AND c_b = "y"'})
    error = answer.error()
    assert error["code"] == "invalid_rule" and error["field"] == "traitRule"
    assert error["position"] == 19  # the single "="
    bad_segment = admin.post("/v1/segments", {**SEGMENT, "segmentRule": "1001T AND OR 1002T"})
    assert bad_segment.error()["position"] == 10


def test_accepted_edge_values(admin: Admin) -> None:
    for path, body in (
        ("/v1/traits", {**RULE_TRAIT, "ttl": 0, "folderId": None, "description": ""}),
        ("/v1/traits", {**RULE_TRAIT, "ttl": 3650, "name": "n" * 255}),
        ("/v1/providers", {**PROVIDER, "url": "http://127.0.0.1:9/x", "signals": ["*", "h_?x"],
                           "segmentsPath": "user.data[].segment[].id", "iabVendorId": 755}),
        ("/v1/destinations", {**PUSH, "tagType": "iframe", "hideReferrer": True}),
        ("/v1/destinations", {**S2S, "auth": {"type": "oauth2", "tokenUrl": "https://t.example",
                                              "clientId": "c", "secretRef": "ssm:/x"}}),
        ("/v1/destinations", {**ADS_DESTINATION, "cnameDomain": ".sports.example"}),
        ("/v1/datasources", {"name": "Sync", "syncUrl": "%HTTP_PROTO%://s.example/?u=%DID%",
                             "syncRedirectDomains": ["*.s.example", "s.example"]}),
    ):
        answer = admin.post(path, body)
        assert answer.status == 201, (body, answer)


MALFORMED: list[tuple[bytes, str]] = [
    (b"{", "invalid_json"),
    (b"", "invalid_json"),
    (b"   ", "invalid_json"),
    (b"[]", "invalid_body"),
    (b"1", "invalid_body"),
    (b"null", "invalid_body"),
    (b'"a string"', "invalid_body"),
    (b'{"name": NaN}', "invalid_json"),
    (b'{"name": Infinity}', "invalid_json"),
    (b'{"ttl": 1e999}', "invalid_json"),
    (b'{"ttl": ' + b"9" * 5000 + b"}", "invalid_json"),
    (b'{"name": "a", "name": "b"}', "invalid_json"),
    (b"[" * 100_000 + b"]" * 100_000, "invalid_json"),
    (b'{"name": "\xff\xfe"}', "invalid_json"),
    (b'{"name": "x"} trailing', "invalid_json"),
    (b"\xef\xbb\xbf{}", "invalid_json"),
]


def test_malformed_bodies_never_500(admin: Admin, tables: dict[str, str]) -> None:
    before = _table_items(tables)
    for raw, code in MALFORMED:
        for method, path in (("POST", "/v1/traits"), ("PUT", "/v1/traits/1001"),
                             ("POST", "/v1/destinations/52/mappings")):
            answer = admin.call(method, path, raw=raw)
            assert answer.status == 400, (raw[:40], method, answer)
            assert answer.error()["code"] == code, (raw[:40], answer)
    assert _table_items(tables) == before


def test_huge_numbers_in_fields_are_out_of_range(admin: Admin) -> None:
    for value in (10**18, -(10**18), 2**63):
        answer = admin.post("/v1/providers", {**PROVIDER, "timeoutMs": value})
        assert (answer.status, answer.error()["field"]) == (400, "timeoutMs")


def test_content_type_and_size(admin: Admin) -> None:
    body = json.dumps(RULE_TRAIT)
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "application/xml",
                         "multipart/form-data; boundary=x"):
        answer = admin.post("/v1/traits", raw=body, headers={"Content-Type": content_type})
        assert answer.status == 415 and answer.error()["code"] == "unsupported_media_type"
    charset = admin.post("/v1/traits", raw=body,
                         headers={"Content-Type": "application/json; charset=utf-8"})
    assert charset.status == 201
    big = json.dumps({**RULE_TRAIT, "description": "d" * MAX_BODY_BYTES})
    answer = admin.post("/v1/traits", raw=big)
    assert answer.status == 413 and answer.error()["code"] == "payload_too_large"


def test_http_is_allowed_only_for_listed_hosts(admin: Admin, monkeypatch: Any) -> None:
    local = {**PROVIDER, "url": "http://127.0.0.1:8081/providers/x"}
    assert admin.post("/v1/providers", local).status == 201
    monkeypatch.setenv("RTDCS_PROVIDERS_HTTP_HOSTS", "")
    other = admin.created("/v1/datasources", {"name": "other"})["dataSourceId"]
    answer = admin.post("/v1/providers", {**local, "dataSourceId": other})
    assert answer.status == 400 and answer.error()["field"] == "url"


# ---- fuzz: random JSON over the real field names never gives a 500 --------------------------

_FIELDS = sorted({k for body in (RULE_TRAIT, ONBOARDED_TRAIT, SEGMENT, PROVIDER, DATASOURCE,
                                 ADS_DESTINATION, MAPPING, S2S, PUSH) for k in body}
                 | {"ttl", "status", "signals", "maxSize", "startDate", "endDate", "auth"})
_SCALARS = (st.none() | st.booleans() | st.integers(-(2**70), 2**70)
            | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30)
            | st.sampled_from(["RULE_BASED_TRAIT", "ON_BOARDED_TRAIT", "ADS", "PUSH", "S2S",
                               "active", "1001T", 'c_a == "1"', "https://x.example/%ALIAS%"]))
_VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3)
                       | st.dictionaries(st.sampled_from(["type", "secretRef", "x"]), inner,
                                         max_size=3), max_leaves=6)
_BODIES = st.dictionaries(st.sampled_from(_FIELDS) | st.text(max_size=8), _VALUES, max_size=8)
_TARGETS = ["/v1/traits", "/v1/segments", "/v1/providers", "/v1/datasources", "/v1/destinations",
            "/v1/destinations/52/mappings"]


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(target=st.sampled_from(_TARGETS), body=_BODIES, put=st.booleans())
def test_fuzzed_bodies_never_500(admin: Admin, repo: CatalogRepository, target: str,
                                 body: dict[str, Any], put: bool) -> None:
    version = repo.version()
    if put:
        answer = admin.put(_item_of(target), body)
        assert answer.status in (200, 400, 409), (body, answer)
    else:
        answer = admin.post(target, body)
        assert answer.status in (201, 400, 409), (body, answer)
    changed = answer.status in (200, 201)
    assert repo.version() == version + (1 if changed else 0)
    if not changed:
        assert set(answer.error()) <= {"code", "message", "field", "position"}


def test_mapping_fields_follow_the_destination_type(admin: Admin) -> None:
    def check(destination: dict[str, Any], cases: list[tuple[dict[str, Any], Any]]) -> None:
        path = f"/v1/destinations/{admin.created('/v1/destinations', destination)['destinationId']}"
        for body, expected in cases:
            answer = admin.post(f"{path}/mappings", body)
            if expected == 201:
                assert answer.status == 201, (body, answer)
            else:
                assert (answer.status, answer.error()["code"], answer.error()["field"]) == (
                    400, *expected), (body, answer)

    check(PUSH, [({"sid": 5001}, ("missing_field", "traitAlias")),
                 ({"sid": 5001, "traitAlias": "a", "valueString": "v"},
                  ("invalid_field", "valueString")),
                 ({"sid": 5001, "traitAlias": "a"}, 201)])
    unserialized = {k: v for k, v in PUSH.items() if k != "serializationEnabled"}
    check(unserialized, [({"sid": 5001}, ("missing_field", "url")),
                         ({"sid": 5001, "url": "ftp://x/"}, ("invalid_value", "url")),
                         ({"sid": 5001, "url": "http://x.example/p", "secureUrl":
                           "http://x.example/p"}, ("invalid_value", "secureUrl")),
                         ({"sid": 5001, "url": "http://x.example/p", "secureUrl":
                           "https://x.example/p"}, 201)])
    check({**ADS_DESTINATION, "formatType": "key_value"},
          [({"sid": 5001, "valueString": "sports"}, ("invalid_value", "valueString")),
           ({"sid": 5001, "valueString": "seg=sports"}, 201)])
    check(S2S, [({"sid": 5001, "url": "https://x.example/"}, ("invalid_field", "url")),
                ({"sid": 5001, "endDate": None}, 201)])
