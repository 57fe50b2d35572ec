"""Bulk create/replace, export and import (issue 12): all-or-nothing by default, per-item
results, ids kept by an import, secrets exported as their secretRef only."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from chalicelib.store.catalog import CatalogRepository
from tests.routes.test_admin_support import (  # noqa: F401 (fixtures)
    AUTH,
    RULE_TRAIT,
    Admin,
    admin,
    repo,
)

NDJSON = {"Content-Type": "application/x-ndjson"}


def _post(admin: Admin, path: str, body: str, headers: dict[str, str] | None = None  # noqa: F811
          ) -> Any:
    response = admin.client.http.post(path, body=body,
                                      headers={**AUTH, **(headers or NDJSON)})
    return response.status_code, json.loads(response.body)


def _traits(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [{**RULE_TRAIT, "name": f"bulk {start + i}", "traitRule": f'c_b == "{start + i}"'}
            for i in range(n)]


def _catalog(repository: CatalogRepository) -> dict[str, list[dict[str, Any]]]:
    return {kind: sorted(objects, key=json.dumps)
            for kind, objects in repository.load_all(consistent=True).items()}


def test_a_bulk_create_writes_every_object_and_answers_per_item(
    admin: Admin, repo: CatalogRepository  # noqa: F811
) -> None:
    version = repo.version()
    lines = "\n".join(json.dumps(t) for t in _traits(250))
    status, answer = _post(admin, "/v1/traits/bulk", lines)
    assert status == 200 and answer["written"] == 250
    sids = [r["sid"] for r in answer["results"]]
    assert [r["status"] for r in answer["results"]] == [201] * 250 and len(set(sids)) == 250
    assert all(repo.get("trait", sid) is not None for sid in sids)
    assert repo.version() > version  # served by /event after the next refresh


def test_a_bad_item_fails_the_request_naming_index_and_field_and_writes_nothing(
    admin: Admin, repo: CatalogRepository  # noqa: F811
) -> None:
    before = _catalog(repo)
    items = _traits(5)
    items[3] = {**items[3], "traitRule": 'c_a == "x" AND'}  # a broken rule
    status, answer = _post(admin, "/v1/traits/bulk", json.dumps(items),
                           {"Content-Type": "application/json"})
    assert status == 400 and answer["error"]["code"] == "invalid_items"
    assert answer["error"]["index"] == 3 and answer["error"]["field"] == "traitRule"
    assert [e["index"] for e in answer["error"]["errors"]] == [3]
    assert "position" in answer["error"]["errors"][0]
    assert _catalog(repo) == before


def test_partial_keeps_the_good_ones(admin: Admin, repo: CatalogRepository) -> None:  # noqa: F811
    items = _traits(4)
    items[1] = {**items[1], "dataSourceId": 987_654}  # no such data source
    status, answer = _post(admin, "/v1/traits/bulk?partial=true", json.dumps(items),
                           {"Content-Type": "application/json"})
    assert status == 200 and answer["written"] == 3
    assert [r["status"] for r in answer["results"]] == [201, 400, 201, 201]
    assert answer["results"][1]["error"]["field"] == "dataSourceId"


def test_objects_may_use_objects_earlier_in_the_same_request(
    admin: Admin, repo: CatalogRepository  # noqa: F811
) -> None:
    high = repo.high_water("trait")
    trait = {**RULE_TRAIT, "sid": high + 10}
    segment = {"name": "uses it", "dataSourceId": 1, "segmentRule": f"{high + 10}T"}
    lines = [json.dumps({"kind": "segment", "object": segment}),  # out of order on purpose
             json.dumps({"kind": "trait", "object": trait})]
    status, answer = _post(admin, "/v1/catalog/import", "\n".join(lines))
    assert status == 200 and answer["written"] == 2, answer
    assert repo.get("trait", high + 10) is not None  # its id was kept


def test_uniqueness_holds_inside_one_request(admin: Admin) -> None:  # noqa: F811
    items = [{**t, "integrationCode": "same"} for t in _traits(2)]
    status, answer = _post(admin, "/v1/traits/bulk", json.dumps(items),
                           {"Content-Type": "application/json"})
    assert status == 400 and answer["error"]["index"] == 1
    assert answer["error"]["errors"][0]["code"] == "duplicate"


@pytest.mark.parametrize(("body", "status"), [("", 400), ("[1,", 400), ("{}\n[]", 400),
                                              ("\n".join(["{}"] * 1001), 400)])
def test_malformed_bulk_bodies_are_refused(admin: Admin, body: str, status: int) -> None:  # noqa: F811
    assert _post(admin, "/v1/traits/bulk", body)[0] == status


def _export(admin: Admin) -> list[str]:  # noqa: F811
    lines: list[str] = []
    path: str | None = "/v1/catalog/export?limit=7"
    pages = 0
    while path is not None and pages < 1000:
        response = admin.client.http.get(path, headers=AUTH)
        assert response.status_code == 200
        lines += [line for line in response.body.decode().split("\n") if line]
        link = response.headers.get("Link", "")
        path = link[1:link.index(">")] if link else None
        pages += 1
    return lines


def _wipe(repository: CatalogRepository) -> None:
    """Empty the catalog: every object, index item and id counter (an empty stack)."""
    table = boto3.resource("dynamodb").Table(repository._table.name)  # noqa: SLF001
    for item in table.scan()["Items"]:
        if item["pk"] != "meta" or item["sk"] != "version":
            table.delete_item(Key={"pk": item["pk"], "sk": item["sk"]})
    assert all(not v for v in _catalog(repository).values())


def _import(admin: Admin, lines: list[str]) -> None:  # noqa: F811
    for start in range(0, len(lines), 40):
        status, answer = _post(admin, "/v1/catalog/import", "\n".join(lines[start:start + 40]))
        assert status == 200, answer


def _without_times(catalog: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    return {kind: [{f: v for f, v in o.items() if f not in ("createTime", "updateTime")}
                   for o in objects] for kind, objects in catalog.items()}


def test_export_then_import_into_an_empty_stack_gives_the_same_catalog(
    admin: Admin, repo: CatalogRepository  # noqa: F811
) -> None:
    secret_ref = "env:RTDCS_TEST_SECRET"
    assert admin.put("/v1/providers/1", {**admin.get("/v1/providers/1").json, "auth": {
        "type": "hmac", "secretRef": secret_ref}}).status == 200
    # The demo catalog was seeded raw (without the API's defaults): bring it in through the
    # API once, so the catalog under test is one the API wrote.
    lines = _export(admin)
    _wipe(repo)
    _import(admin, lines)
    original = _catalog(repo)
    assert sum(len(v) for v in original.values()) == len(lines)
    lines = _export(admin)
    provider_line = next(json.loads(x) for x in lines if json.loads(x)["kind"] == "provider")
    assert provider_line["object"]["auth"]["secretRef"] == secret_ref  # a reference, not a secret
    _wipe(repo)
    _import(admin, lines)
    assert _without_times(_catalog(repo)) == _without_times(original)  # ids kept, bodies equal


def test_an_export_page_stops_at_its_byte_bound_and_continues_after_the_last_line() -> None:
    from chalicelib.admin.bulk import export_page
    from chalicelib.admin.schemas import BY_KIND

    spec = BY_KIND["segment"]
    bodies = [{"sid": 10 + i, "name": f"s{i}", "dataSourceId": 1, "segmentRule": "1T" * 400}
              for i in range(5)]
    one_line = len(export_page(spec, bodies[:1])[0].encode())
    text, cut = export_page(spec, bodies, max_bytes=2 * one_line + 10)
    assert len(text.splitlines()) == 2 and cut == "11"  # the next page starts after sid 11
    assert export_page(spec, bodies)[1] is None  # everything fits: the store's cursor decides
    text, cut = export_page(spec, bodies, max_bytes=1)
    assert len(text.splitlines()) == 1 and cut == "10"  # always at least one line


def test_export_refuses_an_after_that_is_not_an_id(admin: Admin) -> None:  # noqa: F811
    response = admin.client.http.get("/v1/catalog/export?after=" + "x" * 2000, headers=AUTH)
    assert response.status_code == 400
    assert json.loads(response.body)["error"]["field"] == "after"


class _RacingCommits(CatalogRepository):
    """Runs another change right before this writer's first commit (which then loses)."""

    def __init__(self, table: Any, race: Any) -> None:
        super().__init__(table)
        self._race = race

    def commit(self, *args: Any, **kwargs: Any) -> int:
        race, self._race = self._race, None
        if race is not None:
            race()
        return super().commit(*args, **kwargs)


def test_a_bulk_replace_that_loses_a_race_indexes_what_is_stored_now(
    admin: Admin, repo: CatalogRepository  # noqa: F811
) -> None:
    from chalicelib.admin.bulk import BulkWriter, entries_for_kind
    from chalicelib.admin.schemas import BY_KIND
    from chalicelib.admin.service import AdminService

    spec = BY_KIND["trait"]
    sid = admin.post("/v1/traits", {**RULE_TRAIT, "integrationCode": "first"}).json["sid"]
    other = AdminService(CatalogRepository(repo._table))  # noqa: SLF001

    def race() -> None:  # meanwhile, someone renames the code
        other.replace(spec, sid, {**RULE_TRAIT, "integrationCode": "second"})

    racing = _RacingCommits(repo._table, race)  # noqa: SLF001
    writer = BulkWriter(AdminService(racing), racing)
    result = writer.write(entries_for_kind(spec, [{**RULE_TRAIT, "sid": sid,
                                                   "integrationCode": "third"}], None))
    assert result.written == 1 and repo.get("trait", sid)["integrationCode"] == "third"
    # "second" was freed with the object's change: another trait may take it
    taken = admin.post("/v1/traits", {**RULE_TRAIT, "name": "x", "integrationCode": "second"})
    assert taken.status == 201, taken
