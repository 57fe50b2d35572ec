"""Admin changes read only what their checks need (issue 12): the cost of a create does not grow
with the catalog, the index items answer uniqueness and "who uses this", a segment with more
references than one transaction holds is still protected, and a catalog written before the
index existed gets it on the first change."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.store.catalog import CatalogRepository
from chalicelib.store.catalog_index import Ref
from tests.ddb_hooks import dynamodb_hook
from tests.routes.test_admin_support import (  # noqa: F401 (fixtures)
    RULE_TRAIT,
    Admin,
    admin,
    repo,
)


def _trait(sid: int, **fields: Any) -> dict[str, Any]:
    return {"sid": sid, "name": f"t{sid}", "traitType": "RULE_BASED_TRAIT", "dataSourceId": 1,
            "traitRule": f'c_n == "{sid}"', **fields}


def _reads_of_one_create(admin: Admin, n: int) -> list[tuple[str, str]]:  # noqa: F811
    calls: list[tuple[str, str]] = []

    def record(model: Any, params: Any, **_: Any) -> None:
        if model.name in ("GetItem", "Query", "BatchGetItem", "Scan"):
            key = params.get("Key", {}).get("pk", params.get("ExpressionAttributeValues", {}))
            calls.append((model.name, str(key)))

    with dynamodb_hook("provide-client-params.dynamodb", record):
        answer = admin.post("/v1/traits", {**RULE_TRAIT, "name": f"new {n}",
                                           "integrationCode": f"code-{n}"})
    assert answer.status == 201, answer
    return calls


def test_a_create_reads_the_same_items_at_any_catalog_size(
    admin: Admin, repo: CatalogRepository  # noqa: F811
) -> None:
    small = _reads_of_one_create(admin, 1)
    repo.put_many(("trait", 20_000 + i, _trait(20_000 + i)) for i in range(400))
    repo.bump_version()
    large = _reads_of_one_create(admin, 2)
    assert len(large) == len(small) and sorted(large) == sorted(small)
    assert not any(name in ("Query", "Scan") for name, _ in large)  # no listing of any kind


def test_unique_keys_are_found_through_their_key_items(admin: Admin) -> None:  # noqa: F811
    first = admin.post("/v1/traits", {**RULE_TRAIT, "integrationCode": "dup"})
    second = admin.post("/v1/traits", {**RULE_TRAIT, "name": "other", "integrationCode": "dup"})
    assert first.status == 201 and second.status == 409
    assert second.error()["field"] == "integrationCode"
    # a renamed code frees the old one (the key item moved with the object)
    sid = first.json["sid"]
    assert admin.put(f"/v1/traits/{sid}", {**RULE_TRAIT, "integrationCode": "moved"}).status == 200
    assert admin.post("/v1/traits", {**RULE_TRAIT, "name": "3rd", "integrationCode": "dup"}
                      ).status == 201


def test_a_segment_wider_than_a_transaction_still_protects_every_trait(
    admin: Admin, repo: CatalogRepository  # noqa: F811
) -> None:
    sids = [30_000 + i for i in range(150)]
    repo.put_many(("trait", sid, _trait(sid)) for sid in sids)
    repo.bump_version()
    rule = " OR ".join(f"{sid}T" for sid in sids)
    segment = admin.post("/v1/segments", {"name": "wide", "dataSourceId": 1, "segmentRule": rule})
    assert segment.status == 201, segment
    seg_id = segment.json["sid"]
    for sid in (sids[0], sids[-1]):  # in the transaction, and written before it
        assert [u for u, _ in repo.users_of(Ref("trait", sid))] == [Ref("segment", seg_id)]
        blocked = admin.delete(f"/v1/traits/{sid}")
        assert blocked.status == 409 and f"segments {seg_id}" in blocked.error()["message"]
    narrow = admin.put(f"/v1/segments/{seg_id}", {"name": "narrow", "dataSourceId": 1,
                                                   "segmentRule": f"{sids[0]}T"})
    assert narrow.status == 200
    assert admin.delete(f"/v1/traits/{sids[-1]}").status == 204  # its reference is gone
    assert admin.delete(f"/v1/traits/{sids[0]}").status == 409


def test_a_reference_item_of_a_change_that_never_committed_is_ignored(
    admin: Admin, repo: CatalogRepository  # noqa: F811
) -> None:
    sid = admin.post("/v1/traits", dict(RULE_TRAIT)).json["sid"]
    repo._table.put_item(Item={"pk": f"ref#trait#{sid}", "sk": "segment#5005"})  # noqa: SLF001
    assert [u for u, _ in repo.users_of(Ref("trait", sid))] == []  # segment 5005 does not use it
    assert admin.delete(f"/v1/traits/{sid}").status == 204


def test_a_catalog_written_before_the_index_gets_it_on_the_first_change(
    admin: Admin, repo: CatalogRepository  # noqa: F811
) -> None:
    table = repo._table  # noqa: SLF001
    table.delete_item(Key={"pk": "meta", "sk": "index"})
    # objects written the old way: no key or reference items
    table.put_item(Item={"pk": "trait", "sk": "40001", "body": json.dumps(
        _trait(40_001, integrationCode="legacy"))})
    assert not repo.index_ready()
    clash = admin.post("/v1/traits", {**RULE_TRAIT, "integrationCode": "legacy"})
    assert clash.status == 409 and clash.error()["field"] == "integrationCode"
    assert repo.index_ready()


@pytest.mark.parametrize("kind_path", ["/v1/datasources/1", "/v1/segments/5001"])
def test_objects_in_use_are_still_refused_with_their_users(
    admin: Admin, kind_path: str  # noqa: F811
) -> None:
    answer = admin.delete(kind_path)
    assert answer.status == 409 and answer.error()["code"] == "in_use"
    assert "used by" in answer.error()["message"]


def test_a_list_page_reads_its_own_objects_not_the_kind(
    admin: Admin, repo: CatalogRepository  # noqa: F811
) -> None:
    repo.put_many(("trait", 50_000 + i, _trait(50_000 + i)) for i in range(300))
    repo.bump_version()
    every = sorted(t["sid"] for t in repo.list_kind("trait"))
    fetched: list[str] = []

    def record(model: Any, params: Any, **_: Any) -> None:
        if model.name == "Query":
            fetched.append(str(params["ExpressionAttributeValues"]))
        elif model.name == "BatchGetItem":
            fetched.extend(f"get {len(v['Keys'])}" for v in params["RequestItems"].values())

    with dynamodb_hook("provide-client-params.dynamodb", record):
        first = admin.get("/v1/traits?pageSize=50").json
    assert [t["sid"] for t in first["items"]] == every[:50] and first["total"] == len(every)
    assert not any("'trait'" in call for call in fetched)  # the kind itself is never queried
    assert "get 50" in fetched
    second = admin.get(f"/v1/traits?pageSize=50&after={first['next']}").json
    assert [t["sid"] for t in second["items"]] == every[50:100]
    numbered = admin.get("/v1/traits?pageSize=50&page=1").json
    assert numbered["items"] == second["items"]
    last = admin.get(f"/v1/traits?pageSize=1000&after={every[-2]}").json
    assert [t["sid"] for t in last["items"]] == every[-1:] and "next" not in last


def test_a_refused_delete_reads_a_page_of_its_users_not_all(
    admin: Admin, repo: CatalogRepository  # noqa: F811
) -> None:
    source = admin.post("/v1/datasources", {"name": "crowded", "idType": "COOKIE"}).json
    ds = source["dataSourceId"]
    repo.put_many(("trait", 60_000 + i, _trait(60_000 + i, dataSourceId=ds)) for i in range(300))
    repo.bump_version()
    bodies_read: list[int] = []

    def record(model: Any, params: Any, **_: Any) -> None:
        if model.name == "BatchGetItem":
            bodies_read.extend(len(v["Keys"]) for v in params["RequestItems"].values())

    with dynamodb_hook("provide-client-params.dynamodb", record):
        answer = admin.delete(f"/v1/datasources/{ds}")
    assert answer.status == 409 and answer.error()["message"].endswith("and more")
    assert "traits 60000, 60001" in answer.error()["message"]
    assert sum(bodies_read) <= 100  # one batch of the 300 users, enough to name 20
