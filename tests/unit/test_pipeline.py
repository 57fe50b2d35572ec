"""EventPipeline over fake collaborators (issue 13: it was built for them and had no tests):
what it reads, what it asks the store to write, and how storage failures are answered."""

from __future__ import annotations

from typing import Any, Sequence

from chalicelib.config import Settings
from chalicelib.dcs.ids import new_uuid
from chalicelib.dcs.params import parse_request
from chalicelib.pipeline import EventInput, EventPipeline, EventResult
from chalicelib.rules.catalog import DAY, CompiledCatalog, compile_catalog
from chalicelib.store.compaction import Retention
from chalicelib.store.idmap import LinkRecord
from chalicelib.store.packed import Realizations
from chalicelib.store.profiles import Profile, ProfileChanges, ProfileWriteFailed

NOW = 1_800_000_000.0
CATALOG = compile_catalog({
    "trait": [
        {"sid": 11, "name": "sports", "traitType": "RULE_BASED_TRAIT", "dataSourceId": 1,
         "traitRule": 'c_section == "sports"', "ttl": 30},
        {"sid": 12, "name": "news", "traitType": "RULE_BASED_TRAIT", "dataSourceId": 1,
         "traitRule": 'c_section == "news"', "ttl": 30},
    ],
    "segment": [
        {"sid": 51, "name": "sports", "segmentRule": "11T", "status": "active"},
        {"sid": 52, "name": "both", "segmentRule": "11T AND 12T", "status": "active"},
    ],
}, 1)


class _Catalog:
    def get(self) -> CompiledCatalog:
        return CATALOG


class _StorageDown(Exception):
    pass


class _Profiles:
    def __init__(self, stored: Profile | None = None, fail: BaseException | None = None,
                 fail_load: BaseException | None = None) -> None:
        self.stored = stored
        self.fail = fail
        self.fail_load = fail_load
        self.loads: list[str] = []
        self.applied: list[tuple[str, ProfileChanges, Profile | None]] = []

    def load(self, uuid: str, now: float) -> Profile:
        self.loads.append(uuid)
        if self.fail_load is not None:
            raise self.fail_load
        return self.stored or Profile(uuid)

    def apply(self, uuid: str, changes: ProfileChanges, stored: Profile | None = None,
              retention: Retention | None = None) -> None:
        if self.fail is not None:
            raise self.fail
        self.applied.append((uuid, changes, stored))

    def is_opted_out(self, uuid: str) -> bool:
        return False


class _IdMap:
    def read(self, ids: Sequence[Any], now: float) -> dict[tuple[int, str], LinkRecord]:
        return {}

    def link(self, ids: Sequence[Any], uuid: str, existing: Any, now: float) -> None:
        pass


class _NoFanout:
    def start(self, plans: Any, budget_ms: int) -> Any:
        raise AssertionError("no provider in this catalog")


def _pipeline(profiles: _Profiles) -> EventPipeline:
    settings = Settings.from_env({"RTDCS_RT_BUDGET_MS": "0"})
    return EventPipeline(settings, _Catalog(), profiles, _NoFanout(), _IdMap(), lambda: NOW,
                         storage_errors=(_StorageDown,),
                         is_throttle=lambda exc: "throttle" in str(exc))


def _event(pipeline: EventPipeline, query: str, uuid: str | None = None) -> EventResult:
    params: dict[str, list[str]] = {"d_rtbd": ["json"], "d_cts": ["1"]}
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        params.setdefault(key, []).append(value)
    cookies = {"rtdcs_uuid": uuid} if uuid else {}
    return pipeline.handle(EventInput(parse_request("/event", params), cookies))


def test_a_new_visitor_is_not_read_and_written_once_over_nothing() -> None:
    profiles = _Profiles()
    result = _event(_pipeline(profiles), "c_section=sports")
    assert profiles.loads == [] and len(profiles.applied) == 1
    uuid, changes, stored = profiles.applied[0]
    assert uuid == result.fields["uuid"] == result.uuid_cookie
    assert changes.add_stamps == {11: int(NOW)} and changes.segments == {51}
    assert stored is not None and stored.stored == "absent"
    assert result.fields["segments"] == [51] and result.errors == []


def test_a_returning_visitor_is_read_once_and_stored_traits_count() -> None:
    uuid = new_uuid()
    stored = Profile(uuid, {12: Realizations([int(NOW - DAY)], 1)}, last_seen=NOW - DAY,
                     version=3, stored="current")
    profiles = _Profiles(stored)
    result = _event(_pipeline(profiles), "c_section=sports", uuid)
    assert profiles.loads == [uuid]
    assert result.fields["segments"] == [51, 52]  # 12 from the profile, 11 from this request
    assert profiles.applied[0][2] is not None and profiles.applied[0][2].version == 3


def test_an_expired_trait_no_longer_counts() -> None:
    uuid = new_uuid()
    stored = Profile(uuid, {12: Realizations([int(NOW - 31 * DAY)], 1)}, last_seen=NOW - DAY)
    result = _event(_pipeline(_Profiles(stored)), "c_section=sports", uuid)
    assert result.fields["segments"] == [51]


def test_an_opted_out_profile_stops_the_event_and_writes_nothing() -> None:
    uuid = new_uuid()
    profiles = _Profiles(Profile(uuid, opted_out=True))
    result = _event(_pipeline(profiles), "c_section=sports", uuid)
    assert [e.code for e in result.errors] == [171] and result.stopped
    assert profiles.applied == [] and "uuid" not in result.fields


def test_a_failed_or_refused_write_is_201_and_the_answer_still_comes() -> None:
    for failure in (_StorageDown("down"), ProfileWriteFailed("conflicts")):
        result = _event(_pipeline(_Profiles(fail=failure)), "c_section=sports")
        assert [e.code for e in result.errors] == [201]
        assert result.fields["segments"] == [51]


def test_an_unreadable_profile_fails_closed_and_a_throttled_one_is_429() -> None:
    uuid = new_uuid()
    down = _event(_pipeline(_Profiles(fail_load=_StorageDown("down"))), "c_x=1", uuid)
    assert [e.code for e in down.errors] == [204] and down.stopped
    throttled = _event(_pipeline(_Profiles(fail_load=_StorageDown("throttle"))), "c_x=1", uuid)
    assert throttled.status == 429 and throttled.stopped
