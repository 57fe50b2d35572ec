"""409s (admin-api.md, Errors; rules.md 1.5): deleting what is in use, uniqueness, changes
that would break other objects, and changes racing each other."""

from __future__ import annotations

import random
from typing import Any

import pytest

from chalicelib.admin.errors import ApiError
from chalicelib.admin.schemas import SEGMENT as SEGMENT_SPEC
from chalicelib.admin.schemas import TRAIT as TRAIT_SPEC
from chalicelib.admin.service import AdminService
from chalicelib.store.catalog import CatalogRepository, ConcurrentChange
from tests.routes import test_admin_support as support
from tests.routes.test_admin_support import (
    ADS_DESTINATION,
    ONBOARDED_TRAIT,
    PROVIDER,
    RULE_TRAIT,
    SEGMENT,
    Admin,
)

admin = support.admin  # fixture
repo = support.repo  # fixture


def _conflict(answer: Any, code: str = "in_use") -> dict[str, Any]:
    assert answer.status == 409, answer
    error = answer.error()
    assert error["code"] == code, error
    return error


def test_deleting_what_is_in_use(admin: Admin, repo: CatalogRepository) -> None:
    version = repo.version()
    message = _conflict(admin.delete("/v1/traits/1001"))["message"]
    assert "5001" in message and "5003" in message
    assert "providers 1" in _conflict(admin.delete("/v1/datasources/900"))["message"]
    assert "traits 1001, 1002" in _conflict(admin.delete("/v1/datasources/1"))["message"]
    assert "mappings 1" in _conflict(admin.delete("/v1/segments/5001"))["message"]
    assert "mappings 1, 2, 3, 4, 5" in _conflict(admin.delete("/v1/destinations/52"))["message"]
    assert repo.version() == version
    assert admin.get("/v1/traits/1001").status == 200

    # Remove the users first, then it goes.
    for mapping in range(1, 6):
        assert admin.delete(f"/v1/destinations/52/mappings/{mapping}").status == 204
    assert admin.delete("/v1/destinations/52").status == 204
    assert admin.delete("/v1/segments/5001").status == 204
    _conflict(admin.delete("/v1/traits/1001"))  # 5003 still uses it
    assert admin.delete("/v1/segments/5003").status == 204
    assert admin.delete("/v1/traits/1001").status == 204


def test_data_source_used_by_a_segment_or_destination(admin: Admin) -> None:
    ds = admin.created("/v1/datasources", {"name": "Owner"})["dataSourceId"]
    segment = admin.created("/v1/segments", {**SEGMENT, "dataSourceId": ds})["sid"]
    _conflict(admin.delete(f"/v1/datasources/{ds}"))
    assert admin.delete(f"/v1/segments/{segment}").status == 204
    feed = admin.created("/v1/destinations", {"name": "Feed", "destinationType": "S2S",
                                              "url": "https://feed.example/", "dataSourceId": ds})
    assert "destinations" in _conflict(admin.delete(f"/v1/datasources/{ds}"))["message"]
    assert admin.delete(f"/v1/destinations/{feed['destinationId']}").status == 204
    assert admin.delete(f"/v1/datasources/{ds}").status == 204


def test_uniqueness(admin: Admin) -> None:
    coded = admin.created("/v1/traits", {**RULE_TRAIT, "integrationCode": "tennis"})
    error = _conflict(admin.post("/v1/traits", {**RULE_TRAIT, "integrationCode": "tennis"}),
                      "duplicate")
    assert error["field"] == "integrationCode"
    # The same code in another data source is fine, and a trait keeps its own code on PUT.
    assert admin.post("/v1/traits", {**RULE_TRAIT, "dataSourceId": 900,
                                     "integrationCode": "tennis"}).status == 201
    assert admin.put(f"/v1/traits/{coded['sid']}", {**coded, "ttl": 5}).status == 200

    error = _conflict(admin.post("/v1/traits", {**ONBOARDED_TRAIT,
                                                "providerSegmentId": "auto-intender"}),
                      "duplicate")
    assert error["field"] == "providerSegmentId" and "2001" in error["message"]
    assert admin.post("/v1/traits", {**ONBOARDED_TRAIT, "dataSourceId": 901,
                                     "providerSegmentId": "auto-intender"}).status == 201
    moved = admin.put("/v1/traits/2002", {**ONBOARDED_TRAIT, "providerSegmentId": "luxury",
                                          "dataSourceId": 901})
    assert _conflict(moved, "duplicate")["field"] == "providerSegmentId"

    assert _conflict(admin.post("/v1/providers", {**PROVIDER, "dataSourceId": 900}),
                     "duplicate")["field"] == "dataSourceId"
    admin.created("/v1/datasources", {"name": "A", "integrationCode": "acme"})
    assert _conflict(admin.post("/v1/datasources", {"name": "B", "integrationCode": "acme"}),
                     "duplicate")["field"] == "integrationCode"
    assert _conflict(admin.post("/v1/destinations/52/mappings",
                                {"sid": 5001, "valueString": "again"}),
                     "duplicate")["field"] == "sid"


def test_trait_type_change_that_breaks_a_segment(admin: Admin) -> None:
    trait = admin.created("/v1/traits", RULE_TRAIT)
    sid = trait["sid"]
    admin.created("/v1/segments", {**SEGMENT, "segmentRule": f"frequency([{sid}T]) >= 2"})
    onboarded = {**RULE_TRAIT, "traitType": "ON_BOARDED_TRAIT"}
    del onboarded["traitRule"]
    error = _conflict(admin.put(f"/v1/traits/{sid}", onboarded))
    assert error["field"] == "traitType"
    # Used only as a bare reference, the type may change.
    other = admin.created("/v1/traits", RULE_TRAIT)["sid"]
    admin.created("/v1/segments", {**SEGMENT, "segmentRule": f"{other}T"})
    assert admin.put(f"/v1/traits/{other}", onboarded).status == 200


def test_destination_type_cannot_change_under_mappings(admin: Admin) -> None:
    push = {"name": "Now a pixel", "destinationType": "PUSH", "urlFormatString":
            "https://p.example/%ALIAS%"}
    assert _conflict(admin.put("/v1/destinations/52", push))["field"] == "destinationType"
    empty = admin.created("/v1/destinations", ADS_DESTINATION)["destinationId"]
    assert admin.put(f"/v1/destinations/{empty}", push).status == 200


# ---- concurrent changes ---------------------------------------------------------------------


class _RacingRepository(CatalogRepository):
    """Lets another admin change land between this change's checks and its commit."""

    def __init__(self, table: Any, race: Any) -> None:
        super().__init__(table)
        self._race = race
        self.lookups = 0

    def users_of(self, ref: Any, limit: int | None = None) -> list[Any]:
        users = super().users_of(ref, limit)
        self.lookups += 1
        if self.lookups == 1:
            self._race()  # lands after the check read "no users"
        return users


def test_a_racing_change_is_seen_before_committing(repo: CatalogRepository) -> None:
    table = repo._table  # noqa: SLF001 - the same table, another writer
    other = AdminService(CatalogRepository(table))
    trait = other.create(TRAIT_SPEC, dict(RULE_TRAIT))["sid"]

    def race() -> None:
        other.create(SEGMENT_SPEC, {**SEGMENT, "segmentRule": f"{trait}T"})

    racing = _RacingRepository(table, race)
    version = repo.version()
    with pytest.raises(ApiError) as info:
        AdminService(racing).delete(TRAIT_SPEC, trait)
    assert info.value.status == 409 and info.value.code == "in_use"
    assert racing.lookups == 2  # the stale commit failed, the retry saw the segment
    assert repo.get("trait", trait) is not None
    assert repo.version() == version + 1  # only the racing segment


class _FlakyRepository(CatalogRepository):
    def __init__(self, table: Any, failures: int) -> None:
        super().__init__(table)
        self.failures = failures

    def commit(self, *args: Any, **kwargs: Any) -> int:
        if self.failures > 0:
            self.failures -= 1
            raise ConcurrentChange("injected")
        return super().commit(*args, **kwargs)


class _Clock:
    """A clock that the service's pauses move forward (no real sleeping)."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.pauses: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds


def _service(repository: CatalogRepository, clock: _Clock) -> AdminService:
    return AdminService(repository, clock=clock, sleep=clock.sleep, rng=random.Random(7))


def test_commit_retries_with_growing_random_pauses(repo: CatalogRepository) -> None:
    table = repo._table  # noqa: SLF001
    version = repo.version()
    clock = _Clock()
    created = _service(_FlakyRepository(table, failures=6), clock).create(TRAIT_SPEC,
                                                                          dict(RULE_TRAIT))
    assert repo.version() == version + 1 and repo.get("trait", created["sid"]) is not None
    assert len(clock.pauses) == 6
    # jittered exponential backoff: each pause is drawn below a cap that doubles (to 250 ms)
    caps = [min(0.005 * 2 ** n, 0.25) for n in range(6)]
    assert all(0 <= p <= cap for p, cap in zip(clock.pauses, caps, strict=True))
    assert max(clock.pauses) > 0.005  # the cap did grow


def test_commit_gives_up_after_the_retry_budget(repo: CatalogRepository) -> None:
    table = repo._table  # noqa: SLF001
    version = repo.version()
    clock = _Clock()
    with pytest.raises(ApiError) as info:
        _service(_FlakyRepository(table, failures=10_000), clock).create(TRAIT_SPEC,
                                                                         dict(RULE_TRAIT))
    assert (info.value.status, info.value.code) == (409, "concurrent_change")
    assert clock.now - 1_000.0 <= 10.0  # RETRY_SECONDS
    assert repo.version() == version
