"""An event that changes nothing the profile keeps is not written (issue 17): no PutItem, a
``ProfileWritesSkipped`` count; anything the profile would keep makes it write again."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.store.packed import Realizations
from chalicelib.store.profiles import (
    SEEN_REFRESH_SECONDS,
    CachedAnswer,
    Profile,
    ProfileChanges,
    ProfileRepository,
    changes_nothing,
    profile_from_item,
    to_item,
)
from tests.unit.test_profile_store import _FakeTable

NOW = 1_800_000_000.0


def _stored(**overrides: Any) -> Profile:
    profile = Profile("u1", traits={1001: Realizations([int(NOW) - 60], 3)},
                      synced_ids={900: "dp-1"}, segments=frozenset({5001}),
                      last_seen=NOW - 60)
    profile.linked = {900: ["dp-1"]}
    for key, value in overrides.items():
        setattr(profile, key, value)
    return profile_from_item(to_item(profile, 4), NOW)


def _quiet(**overrides: Any) -> ProfileChanges:
    changes = ProfileChanges(now=NOW, event_id="e9", segments=frozenset({5001}),
                             synced_ids={900: "dp-1"})
    for key, value in overrides.items():
        setattr(changes, key, value)
    return changes


class _Counts:
    def __init__(self) -> None:
        self.counted: list[str] = []

    def count(self, name: str, value: float = 1) -> None:
        self.counted.append(name)


def test_a_quiet_event_over_a_fresh_profile_is_not_written() -> None:
    stored = _stored()
    assert changes_nothing(stored, _quiet())
    table, metrics = _FakeTable(), _Counts()
    ProfileRepository(table, metrics=metrics).apply("u1", _quiet(), stored)
    assert [name for name, _ in table.calls] == []
    assert metrics.counted == ["ProfileWritesSkipped"]


@pytest.mark.parametrize("change", [
    {"add_stamps": {1001: int(NOW)}},
    {"replace_stamps": {2001: [int(NOW)]}},
    {"remove_traits": {1001}},
    {"cache_answers": {1: CachedAnswer((), (), NOW + 600, "", "")}},
    {"segments": frozenset({5001, 5002})},
    {"segments": frozenset()},
    {"synced_ids": {900: "dp-2"}},
    {"synced_ids": {901: "dp-1"}},
    {"linked_ids": ((900, "dp-3"),)},
    {"s2s_states": {7: {"s": [5001], "t": NOW}}},
    {"now": NOW - 60 + SEEN_REFRESH_SECONDS},  # seen is a day old: refresh it
], ids=lambda c: next(iter(c)))
def test_anything_the_profile_keeps_is_written(change: dict[str, Any]) -> None:
    changes = _quiet(**change)
    assert not changes_nothing(_stored(), changes)
    table = _FakeTable(item=to_item(_stored(), 4))
    ProfileRepository(table, metrics=_Counts()).apply("u1", changes, _stored())
    assert [name for name, _ in table.calls] == ["put_item"]


def test_removing_a_trait_the_profile_lacks_changes_nothing() -> None:
    assert changes_nothing(_stored(), _quiet(remove_traits={4242}))


def test_new_deleted_and_legacy_profiles_are_always_written() -> None:
    assert not changes_nothing(Profile("u1"), _quiet())  # nothing stored yet
    assert not changes_nothing(_stored(deleted_ms=int(NOW * 1000) - 5), _quiet())
    legacy = _stored()
    legacy.stored = "legacy"
    assert not changes_nothing(legacy, _quiet())
    corrupt = _stored()
    corrupt.corrupt = True
    assert not changes_nothing(corrupt, _quiet())
