"""The profile item: one update expression per event, atomic per attribute."""

from __future__ import annotations

from decimal import Decimal

from chalicelib.store.profiles import (
    MAX_STAMPS_PER_TRAIT,
    PROFILE_LIFETIME_SECONDS,
    CachedAnswer,
    ProfileChanges,
    ProfileRepository,
    build_update,
    new_stamp,
    stamp_seconds,
    trim_stamps,
)

NOW = 1_800_000_000.0


class _FakeTable:
    """Records calls; returns a stored item (test double with the boto3 Table surface used)."""

    def __init__(self, item: dict | None = None) -> None:  # type: ignore[type-arg]
        self.item = item
        self.calls: list[tuple[str, dict]] = []  # type: ignore[type-arg]

    def get_item(self, **kwargs):  # type: ignore[no-untyped-def]
        self.calls.append(("get_item", kwargs))
        return {"Item": self.item} if self.item else {}

    def update_item(self, **kwargs):  # type: ignore[no-untyped-def]
        self.calls.append(("update_item", kwargs))
        return {}


def test_update_adds_rule_stamps_and_replaces_onboarded() -> None:
    changes = ProfileChanges(now=NOW, add_stamps={7: 11}, replace_stamps={8: [12]},
                             remove_traits={9}, segments=frozenset({5}))
    update = build_update(changes)
    expression = update["UpdateExpression"]
    names = update["ExpressionAttributeNames"]
    values = update["ExpressionAttributeValues"]
    assert expression.startswith("SET ") and " ADD " in expression and " REMOVE " in expression
    by_attribute = {v: k for k, v in names.items()}
    assert f"{by_attribute['r7']} :" in expression.split(" ADD ")[1]
    assert {11} in values.values() and {12} in values.values() and {5} in values.values()
    assert int(NOW) + PROFILE_LIFETIME_SECONDS in values.values()
    assert "r9" in names.values()


def test_empty_segment_set_is_removed_not_set() -> None:
    update = build_update(ProfileChanges(now=NOW))
    assert "segs" in update["ExpressionAttributeNames"].values()
    assert "REMOVE" in update["UpdateExpression"]
    assert set() not in update["ExpressionAttributeValues"].values()


def test_stamps_are_unique_and_convert_back_to_seconds() -> None:
    stamps = {new_stamp(NOW) for _ in range(50)}
    assert len(stamps) > 40  # random tie-breaker below the microsecond
    assert abs(stamp_seconds(next(iter(stamps))) - NOW) < 0.001


def test_trim_keeps_the_newest() -> None:
    kept = trim_stamps(range(150), 1000)
    assert len(kept) == MAX_STAMPS_PER_TRAIT and kept[0] == 51 and kept[-1] == 1000


def test_load_parses_item_and_ignores_expired_profiles() -> None:
    item = {"uuid": "u", "seen": Decimal("1"), "expires_at": Decimal(str(NOW + 10)),
            "r7": {Decimal(3), Decimal(1)}, "i900": "dp", "segs": {Decimal(5)},
            "pc1": {"s": ["a"], "z": [], "x": Decimal(str(NOW + 5)), "k": "", "d": ""}}
    profile = ProfileRepository(_FakeTable(item)).load("u", NOW)
    assert profile.stamps == {7: [1, 3]} and profile.synced_ids == {900: "dp"}
    assert profile.segments == {5} and profile.provider_cache[1].segments == ("a",)
    expired = ProfileRepository(_FakeTable({**item, "expires_at": Decimal(str(NOW - 1))}))
    stale = expired.load("u", NOW)
    assert stale.stamps == {} and not stale.exists and "r7" in stale.expired_attributes


def test_cached_answer_usable_only_with_same_consent_and_id() -> None:
    answer = CachedAnswer(("a",), (), NOW + 10, "consent", "dp")
    assert answer.usable(NOW, "consent", "dp")
    assert not answer.usable(NOW, "other", "dp")
    assert not answer.usable(NOW, "consent", "new-dp")
    assert not answer.usable(NOW + 11, "consent", "dp")


def test_one_consistent_read_one_update() -> None:
    table = _FakeTable()
    repository = ProfileRepository(table)
    repository.load("u", NOW)
    repository.apply("u", ProfileChanges(now=NOW, add_stamps={1: 2}))
    assert [c[0] for c in table.calls] == ["get_item", "update_item"]
    assert table.calls[0][1]["ConsistentRead"] is True
