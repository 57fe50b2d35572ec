"""Admin API happy paths (admin-api.md, Resources): create, read, list, replace, delete for
every resource; server-assigned ids never reused; times; one version bump per change;
pagination; 404s; the write-only auth.secretRef."""

from __future__ import annotations

import time
from typing import Any, NamedTuple

import pytest

from chalicelib.admin.settings_view import public_settings
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
    TOKEN,
    Admin,
)

admin = support.admin  # fixture
repo = support.repo  # fixture

# (collection, id field, valid body, a field to change on PUT, its new value)
RESOURCES: list[tuple[str, str, dict[str, Any], str, Any]] = [
    ("/v1/datasources", "dataSourceId", DATASOURCE, "name", "Partner Y"),
    ("/v1/traits", "sid", RULE_TRAIT, "traitRule", 'c_section == "golf"'),
    ("/v1/traits", "sid", ONBOARDED_TRAIT, "ttl", 0),
    ("/v1/segments", "sid", SEGMENT, "status", "paused"),
    ("/v1/providers", "pid", PROVIDER, "timeoutMs", 300),
    ("/v1/destinations", "destinationId", ADS_DESTINATION, "maxSize", 1024),
    ("/v1/destinations/{new}/mappings", "mappingId", MAPPING, "valueString", "big"),
]
DEMO_MAX_ID = {"datasource": 901, "trait": 3001, "segment": 5005, "provider": 2,
               "destination": 52, "mapping": 5}


def _now_ms() -> int:
    return int(time.time() * 1000)


@pytest.mark.parametrize("collection,id_field,body,field,new_value", RESOURCES,
                         ids=[f"{r[0]}:{r[2]['name'] if 'name' in r[2] else 'mapping'}"
                              for r in RESOURCES])
def test_crud_round_trip(admin: Admin, repo: CatalogRepository, collection: str, id_field: str,
                         body: dict[str, Any], field: str, new_value: Any) -> None:
    if "{new}" in collection:  # the demo maps every demo segment to 52 already
        destination = admin.created("/v1/destinations", ADS_DESTINATION)["destinationId"]
        collection = collection.replace("{new}", str(destination))
    start = _now_ms()
    created = admin.post(collection, body)
    assert created.status == 201, created
    obj = created.json
    object_id = obj[id_field]
    assert object_id == DEMO_MAX_ID[_kind(collection)] + 1  # above every id seeded so far
    assert created.headers["Location"] == f"{collection}/{object_id}"
    assert start <= obj["createTime"] == obj["updateTime"] <= _now_ms()
    for key, value in body.items():
        if key != "auth":
            assert obj[key] == value, key
    path = f"{collection}/{object_id}"
    assert admin.get(path).json == obj
    listed = admin.get(f"{collection}?pageSize=1000").json
    assert obj in listed["items"]

    # Replace with the GET body, edited (read-only fields included, as a client would).
    edited = {**obj, field: new_value}
    time.sleep(0.002)
    replaced = admin.put(path, edited)
    assert replaced.status == 200, replaced
    assert replaced.json[field] == new_value
    assert replaced.json["createTime"] == obj["createTime"]
    assert replaced.json["updateTime"] > obj["updateTime"]
    assert admin.get(path).json == replaced.json
    assert repo.get(_kind(collection), object_id)[field] == new_value  # type: ignore[index]

    deleted = admin.delete(path)
    assert deleted.status == 204 and deleted.raw == b""
    assert admin.get(path).status == 404
    assert admin.delete(path).status == 404
    assert admin.put(path, edited).status == 404
    again = admin.post(collection, body)
    assert again.status == 201 and again.json[id_field] == object_id + 1  # never reused


def _kind(collection: str) -> str:
    name = collection.rstrip("/").rsplit("/", 1)[-1]
    return {"datasources": "datasource", "traits": "trait", "segments": "segment",
            "providers": "provider", "destinations": "destination",
            "mappings": "mapping"}[name]


def test_defaults_are_stored_and_returned(admin: Admin) -> None:
    trait = admin.created("/v1/traits", RULE_TRAIT)
    assert trait["ttl"] == 120
    segment = admin.created("/v1/segments", SEGMENT)
    assert segment["status"] == "active"
    provider = admin.created("/v1/providers", PROVIDER)
    assert {k: provider[k] for k in ("status", "timeoutMs", "idMode", "iabVendorId",
                                     "cacheTtlSeconds", "signals", "segmentsPath", "maxQps")} == {
        "status": "active", "timeoutMs": 150, "idMode": "synced", "iabVendorId": None,
        "cacheTtlSeconds": 3600, "signals": [], "segmentsPath": None, "maxQps": None}
    assert provider["auth"] == {"type": "hmac", "algorithm": "sha256", "header": "X-Signature"}
    destination = admin.created("/v1/destinations", ADS_DESTINATION)
    assert {k: destination[k] for k in ("formatType", "keySeparator", "valueSeparator",
                                        "maxSize", "ttl", "cnameDomain", "status")} == {
        "formatType": "single_key", "keySeparator": "=", "valueSeparator": ",",
        "maxSize": 2048, "ttl": 30, "cnameDomain": "", "status": "active"}
    sync = admin.created("/v1/datasources", {"name": "Sync", "syncUrl":
                                             "https://sync.example/?u=${DD_UUID}"})
    assert (sync["idType"], sync["syncTtl"], sync["syncTag"], sync["syncNsid"]) == (
        "COOKIE", 10080, "img", 0)
    plain = admin.created("/v1/datasources", {"name": "Plain"})
    assert "syncTtl" not in plain


def test_every_change_bumps_the_version_once_and_nothing_else_does(
    admin: Admin, repo: CatalogRepository
) -> None:
    version = repo.version()
    trait = admin.created("/v1/traits", RULE_TRAIT)
    assert repo.version() == version + 1
    path = f"/v1/traits/{trait['sid']}"
    assert admin.put(path, {**RULE_TRAIT, "ttl": 7}).status == 200
    assert repo.version() == version + 2
    admin.get(path)
    admin.get("/v1/traits")
    assert admin.post("/v1/traits", {**RULE_TRAIT, "ttl": -1}).status == 400
    assert admin.delete("/v1/traits/1001").status == 409
    assert admin.delete("/v1/traits/424242").status == 404
    assert repo.version() == version + 2
    assert admin.delete(path).status == 204
    assert repo.version() == version + 3


def test_ids_are_never_reused_and_explicit_ids_must_be_new(
    admin: Admin, repo: CatalogRepository
) -> None:
    first = admin.created("/v1/segments", SEGMENT)["sid"]
    assert admin.delete(f"/v1/segments/{first}").status == 204
    assert admin.created("/v1/segments", SEGMENT)["sid"] == first + 1
    # An explicit id (imports, seeding) is accepted above every id so far ...
    explicit = admin.post("/v1/segments", {**SEGMENT, "sid": 9000})
    assert explicit.status == 201 and explicit.json["sid"] == 9000
    assert admin.created("/v1/segments", SEGMENT)["sid"] == 9001
    # ... and refused for an id in use, deleted, or below the mark.
    version = repo.version()
    for taken in (9000, first, 5001, 6000):
        answer = admin.post("/v1/segments", {**SEGMENT, "sid": taken})
        assert answer.status == 409, (taken, answer)
        assert answer.error() == {**answer.error(), "code": "id_reserved", "field": "sid"}
    assert repo.version() == version
    for bad, code in (("9100", "invalid_type"), (0, "out_of_range"), (2**31, "out_of_range"),
                      (True, "invalid_type"), (9100.0, "invalid_type")):
        answer = admin.post("/v1/segments", {**SEGMENT, "sid": bad})
        assert (answer.status, answer.error()["code"], answer.error()["field"]) == (
            400, code, "sid"), bad


def test_an_invalid_body_takes_no_id(admin: Admin) -> None:
    first = admin.created("/v1/traits", RULE_TRAIT)["sid"]
    assert admin.post("/v1/traits", {**RULE_TRAIT, "traitRule": "c_x =="}).status == 400
    assert admin.post("/v1/traits", {**RULE_TRAIT, "dataSourceId": 4242}).status == 400
    assert admin.created("/v1/traits", RULE_TRAIT)["sid"] == first + 1


def test_pagination(admin: Admin) -> None:
    for i in range(5):
        admin.created("/v1/datasources", {"name": f"DS {i}"})
    everything = admin.get("/v1/datasources").json
    assert (everything["page"], everything["pageSize"], everything["total"]) == (0, 100, 8)
    ids = [d["dataSourceId"] for d in everything["items"]]
    assert ids == sorted(ids) and ids[:3] == [1, 900, 901]  # numeric order, not text order
    pages = [admin.get(f"/v1/datasources?page={p}&pageSize=3").json for p in range(4)]
    assert [len(p["items"]) for p in pages] == [3, 3, 2, 0]
    assert all(p["total"] == 8 and p["pageSize"] == 3 for p in pages)
    assert [d["dataSourceId"] for p in pages for d in p["items"]] == ids
    assert len(admin.get("/v1/datasources?pageSize=1000").json["items"]) == 8
    for query, field in (("page=-1", "page"), ("page=x", "page"), ("pageSize=0", "pageSize"),
                         ("pageSize=1001", "pageSize"), ("pageSize=2.5", "pageSize"),
                         ("page=99999999999999999999", "page")):
        answer = admin.get(f"/v1/datasources?{query}")
        assert answer.status == 400 and answer.error()["field"] == field, query


def test_mappings_live_under_their_destination(admin: Admin) -> None:
    listed = admin.get("/v1/destinations/52/mappings").json
    assert [m["mappingId"] for m in listed["items"]] == [1, 2, 3, 4, 5]
    assert all(m["destinationId"] == 52 for m in listed["items"])
    other = admin.created("/v1/destinations", ADS_DESTINATION)["destinationId"]
    assert admin.get(f"/v1/destinations/{other}/mappings").json["total"] == 0
    assert admin.get(f"/v1/destinations/{other}/mappings/1").status == 404
    assert admin.put(f"/v1/destinations/{other}/mappings/1", MAPPING).status == 404
    assert admin.delete(f"/v1/destinations/{other}/mappings/1").status == 404
    mapping = admin.created(f"/v1/destinations/{other}/mappings",
                            {**MAPPING, "destinationId": other})
    assert mapping["destinationId"] == other and mapping["mappingId"] == 6  # one id space
    wrong = admin.put(f"/v1/destinations/{other}/mappings/6", {**MAPPING, "destinationId": 52})
    assert wrong.status == 400 and wrong.error()["field"] == "destinationId"


UNKNOWN = [
    "/v1/traits/424242", "/v1/traits/abc", "/v1/traits/0", "/v1/traits/-1",
    "/v1/traits/99999999999999999999", "/v1/segments/1001", "/v1/datasources/2",
    "/v1/providers/3", "/v1/destinations/53", "/v1/destinations/52/mappings/99",
    "/v1/destinations/99/mappings/1",
]


def test_unknown_ids_are_404(admin: Admin) -> None:
    for path in UNKNOWN:
        for method in ("GET", "PUT", "DELETE"):
            answer = admin.call(method, path, {"name": "x"} if method == "PUT" else None)
            assert answer.status == 404, (method, path, answer)
            assert answer.error()["code"] == "not_found"


def test_unknown_parent_is_404(admin: Admin) -> None:
    assert admin.get("/v1/destinations/99/mappings").status == 404
    assert admin.post("/v1/destinations/99/mappings", MAPPING).status == 404


def test_put_must_not_change_the_id(admin: Admin) -> None:
    answer = admin.put("/v1/traits/1001", {**RULE_TRAIT, "sid": 1002})
    assert answer.status == 400 and answer.error()["field"] == "sid"
    same = admin.put("/v1/traits/1001", {**RULE_TRAIT, "sid": 1001})
    assert same.status == 200 and same.json["sid"] == 1001


def test_secret_ref_is_write_only(admin: Admin, repo: CatalogRepository) -> None:
    created = admin.post("/v1/providers", PROVIDER)
    pid = created.json["pid"]
    assert "secretRef" not in created.json["auth"]
    assert b"rtdcs/third" not in created.raw
    for answer in (admin.get(f"/v1/providers/{pid}"), admin.get("/v1/providers")):
        assert b"secretRef" not in answer.raw and b"rtdcs/third" not in answer.raw
    assert repo.get("provider", pid)["auth"]["secretRef"] == "ssm:/rtdcs/third"  # type: ignore

    # The GET body sent back keeps the stored reference; a new one replaces it.
    got = admin.get(f"/v1/providers/{pid}").json
    assert admin.put(f"/v1/providers/{pid}", {**got, "timeoutMs": 200}).status == 200
    assert repo.get("provider", pid)["auth"]["secretRef"] == "ssm:/rtdcs/third"  # type: ignore
    new_auth = {**got["auth"], "secretRef": "env:THIRD_KEY"}
    assert admin.put(f"/v1/providers/{pid}", {**got, "auth": new_auth}).status == 200
    assert repo.get("provider", pid)["auth"]["secretRef"] == "env:THIRD_KEY"  # type: ignore
    # Another auth type needs its own reference.
    bearer = admin.put(f"/v1/providers/{pid}", {**got, "auth": {"type": "bearer"}})
    assert bearer.status == 400 and bearer.error()["field"] == "auth.secretRef"
    # A provider without auth: the field is absent.
    data_source = admin.created("/v1/datasources", {"name": "P2"})["dataSourceId"]
    no_auth = {k: v for k, v in PROVIDER.items() if k != "auth"}
    assert "auth" not in admin.created("/v1/providers", {**no_auth, "dataSourceId": data_source})


def test_settings_and_catalog_version(admin: Admin, repo: CatalogRepository) -> None:
    settings = admin.get("/v1/settings").json
    assert settings["partner_id"] == "1352" and settings["provider_http_hosts"] == ["127.0.0.1"]
    assert TOKEN not in str(settings)
    version = admin.get("/v1/catalog/version").json
    assert version["storedVersion"] == repo.version() and version["refreshSeconds"] == 5.0
    assert version["version"] == repo.version()  # first load of this container
    admin.created("/v1/segments", SEGMENT)
    after = admin.get("/v1/catalog/version").json
    assert after["storedVersion"] == version["storedVersion"] + 1


def test_settings_view_leaves_secrets_out() -> None:
    class WithSecrets(NamedTuple):  # like Settings
        cookie_domain: str = ".x.example"
        admin_token: str = "t"
        signing_key: str = "k"
        client_secret: str = "s"
        db_password: str = "p"
        hosts: tuple[str, ...] = ("a", "b")

    assert public_settings(WithSecrets()) == {  # type: ignore[arg-type]
        "cookie_domain": ".x.example", "hosts": ["a", "b"]}
