"""The catalog repository under the admin API: ids from an atomic high-water mark, commits that
bump the version once and only on the version they were checked against."""

from __future__ import annotations


import boto3
import pytest

from chalicelib.store.catalog import CatalogRepository, ConcurrentChange
from tests.routes import test_admin_support as support

repo = support.repo  # fixture


def test_store_level_puts_reserve_their_ids(repo: CatalogRepository) -> None:
    # The demo seed wrote through put(): its ids are taken.
    assert repo.high_water("trait") == 3001 and repo.high_water("segment") == 5005
    assert repo.allocate_id("trait") == 3002
    repo.put("trait", 7000, {"sid": 7000, "name": "x", "traitType": "ON_BOARDED_TRAIT",
                             "dataSourceId": 1})
    assert repo.allocate_id("trait") == 7001
    repo.put("trait", 10, {"sid": 10})  # below the mark: the mark stays
    assert repo.allocate_id("trait") == 7002


def test_reserve_only_above_the_mark(repo: CatalogRepository) -> None:
    assert repo.reserve_id("provider", 50) is True
    assert repo.reserve_id("provider", 50) is False
    assert repo.reserve_id("provider", 49) is False
    assert repo.high_water("provider") == 50
    with pytest.raises(ValueError):
        repo.allocate_id("nonsense")


def test_allocations_from_many_containers_are_distinct(
    repo: CatalogRepository, tables: dict[str, str]
) -> None:
    """Each allocation is one atomic ADD on a counter item, so ids from several repositories
    (containers) never collide. They run one after another here: in-process moto does not
    make concurrent UpdateItems atomic (real DynamoDB does), so a threaded version of this
    test would measure moto, not rtdcs."""
    others = [CatalogRepository(boto3.resource("dynamodb").Table(tables["catalog"]))
              for _ in range(3)]
    ids = [(others + [repo])[i % 4].allocate_id("mapping") for i in range(20)]
    assert sorted(ids) == list(range(6, 26)) and len(set(ids)) == 20


def test_commit_bumps_once_and_only_on_the_expected_version(repo: CatalogRepository) -> None:
    snap = repo.snapshot()
    assert {o["sid"] for o in snap.objects["trait"]} == {1001, 1002, 2001, 2002, 3001}
    body = {"sid": 3002, "name": "t", "traitType": "ON_BOARDED_TRAIT", "dataSourceId": 1}
    assert repo.commit(snap.version, puts=[("trait", 3002, body)]) == snap.version + 1
    assert repo.version() == snap.version + 1 and repo.get("trait", 3002) == body
    # A change checked against the old version is refused and writes nothing.
    with pytest.raises(ConcurrentChange):
        repo.commit(snap.version, puts=[("trait", 3003, {**body, "sid": 3003})],
                    deletes=[("trait", 1001)])
    assert repo.get("trait", 3003) is None and repo.get("trait", 1001) is not None
    assert repo.version() == snap.version + 1
    assert repo.commit(snap.version + 1, deletes=[("trait", 3002)]) == snap.version + 2
    assert repo.get("trait", 3002) is None


def test_commit_on_an_empty_catalog(repo: CatalogRepository) -> None:
    table = repo._table  # noqa: SLF001
    table.delete_item(Key={"pk": "meta", "sk": "version"})
    assert repo.version() == 0
    with pytest.raises(ConcurrentChange):
        repo.commit(3, puts=[("datasource", 5, {"dataSourceId": 5})])
    assert repo.commit(0, puts=[("datasource", 5, {"dataSourceId": 5})]) == 1
    assert repo.version() == 1
