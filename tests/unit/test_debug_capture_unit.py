"""chalicelib/debug: the capture setting, the snapshot source, the record (no ``p_``), the
overview numbers and the provider test call, with their collaborators passed in."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.dcs.errors import error
from chalicelib.debug import setting as capture
from chalicelib.debug.capture import capture_event
from chalicelib.debug.overview import EventStats
from chalicelib.debug.provider_check import run_test_call
from chalicelib.debug.record import capture_record
from chalicelib.debug.store import SettingStore, SnapshotWithCapture
from chalicelib.pipeline import EventResult
from chalicelib.providers.definition import compile_provider
from chalicelib.providers.fanout import Outcome
from chalicelib.providers.messages import ContractError, ProviderAnswer

UUID = "1" * 38
OTHER = "2" * 38


def test_a_uuid_setting_captures_that_uuid_until_it_expires() -> None:
    setting = capture.from_request({"uuid": UUID, "minutes": 10}, now=1000.0)
    assert setting is not None and setting.until == 1600.0
    assert setting.wants(UUID, 1599.0)
    assert not setting.wants(OTHER, 1599.0)
    assert not setting.wants(UUID, 1600.0)  # switched itself off
    assert capture.describe(setting, 1700.0) == {"enabled": False}
    assert capture.describe(setting, 1000.0)["secondsLeft"] == 600


def test_sampling_takes_about_its_share_of_visitors_and_keeps_them() -> None:
    setting = capture.from_request({"sample": 0.01, "minutes": 60}, now=0.0)
    assert setting is not None
    uuids = [f"{n:038d}" for n in range(1, 20_001)]
    taken = [u for u in uuids if setting.wants(u, 1.0)]
    assert 120 <= len(taken) <= 280  # 1 % of 20,000, give or take
    assert all(setting.wants(u, 2.0) for u in taken)  # a sampled visitor stays sampled


@pytest.mark.parametrize("body", [{"sample": 0.011}, {"minutes": 60.5, "uuid": UUID},
                                  {"uuid": UUID, "enabled": "yes"}, {"uuid": "0" * 38}])
def test_limits_are_enforced(body: dict[str, Any]) -> None:
    with pytest.raises(capture.SettingError):
        capture.from_request(body, now=0.0)


def test_off_and_malformed_settings_capture_nothing() -> None:
    assert capture.from_request({"enabled": False}, now=0.0) is None
    assert capture.from_body({"uuid": UUID}) is None  # no "until"
    assert capture.from_body(None) is None


class _Table:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self.gets = 0

    def get_item(self, Key: dict[str, str], ConsistentRead: bool) -> dict[str, Any]:  # noqa: N803
        self.gets += 1
        item = self.items.get((Key["pk"], Key["sk"]))
        return {"Item": item} if item else {}

    def put_item(self, Item: dict[str, Any]) -> None:  # noqa: N803
        self.items[(Item["pk"], Item["sk"])] = Item

    def delete_item(self, Key: dict[str, str]) -> None:  # noqa: N803
        self.items.pop((Key["pk"], Key["sk"]), None)


class _Catalog:
    def __init__(self) -> None:
        self.v = 7
        self.loads = 0

    def version(self) -> int:
        return self.v

    def bump_version(self) -> int:
        self.v += 1
        return self.v

    def load_all(self) -> dict[str, list[dict[str, Any]]]:
        self.loads += 1
        return {"trait": []}


def test_the_setting_travels_with_the_snapshot_and_moves_the_version() -> None:
    table, catalog = _Table(), _Catalog()
    store = SettingStore(table, catalog)
    source = SnapshotWithCapture(catalog, store)
    assert source.load_all() == {"trait": [], "debug": []}
    wanted = capture.from_request({"uuid": UUID}, now=0.0)
    store.put(wanted)
    assert catalog.v == 8  # containers reload the catalog, and the setting with it
    assert source.load_all()["debug"] == [wanted.body()] and store.get() == wanted
    gets = table.gets
    assert source.version() == 8 and table.gets == gets  # a version check reads no setting
    store.put(None)
    assert catalog.v == 9 and source.load_all()["debug"] == []


class _Parsed:
    def control(self, name: str) -> str | None:
        return {"d_dpid": "900"}.get(name)


class _Trait:
    def __init__(self, rule_based: bool) -> None:
        self.rule_based = rule_based


def _result() -> EventResult:
    answer = ProviderAnswer(("sports-fan",), (), None)
    result = EventResult(
        fields={"uuid": UUID, "stuff": [{"cn": "c", "cv": "v"}], "dests": [], "p_x": 1},
        errors=[error(102, "bad")],
        outcomes=[Outcome(1, "FastData", "answered", 12.34, answer)],
        now=5.0,
    )
    result.log = {"tid": "t1", "uuid": UUID, "signals": {"c_section": ["sports"]},
                  "traits": [1001, 2002], "segments": [5001],
                  "privacy": {"outcome": "pass", "signals": [], "suppressed": []},
                  "nested": {"p_secret": "x"}}
    return result


def test_the_record_has_what_the_debugger_shows_and_never_p_keys() -> None:
    record = capture_record(_result(), _Parsed(), {1001: _Trait(True), 2002: _Trait(False)},
                            now=9.0)
    assert record["traits"] == {"ruleBased": [1001], "onboarded": [2002]}
    assert record["providers"] == [{"pid": 1, "name": "FastData", "outcome": "answered",
                                    "ms": 12.3, "detail": "", "realized": ["sports-fan"],
                                    "removed": []}]
    assert record["segments"] == [5001] and record["stuff"] == [{"cn": "c", "cv": "v"}]
    assert record["errors"] == [{"code": 102, "msg": error(102, "bad").msg}]
    assert record["identity"]["dpid"] == "900" and record["at"] == 9.0
    assert "p_" not in json.dumps(record)


class _Store:
    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def put(self, record: dict[str, Any]) -> None:
        self.records.append(record)


class _Compiled:
    def __init__(self, debug: list[dict[str, Any]]) -> None:
        self.raw = {"debug": debug}
        self.traits: dict[int, Any] = {}


def test_capture_event_writes_once_for_the_wanted_uuid_only() -> None:
    wanted = capture.from_request({"uuid": UUID}, now=0.0)
    store = _Store()
    assert capture_event(_Compiled([wanted.body()]), _result(), _Parsed(), store, 1.0)  # type: ignore[arg-type]
    other = capture.from_request({"uuid": OTHER}, now=0.0)
    assert not capture_event(_Compiled([other.body()]), _result(), _Parsed(), store, 1.0)  # type: ignore[arg-type]
    assert not capture_event(_Compiled([]), _result(), _Parsed(), store, 1.0)  # type: ignore[arg-type]
    assert len(store.records) == 1


def test_overview_keeps_an_hour_of_minutes() -> None:
    clock = [3600.0 * 10]
    stats = EventStats(clock=lambda: clock[0])
    stats.record(10.0, [], "pass")
    stats.record(30.0, [102], "us_optout")
    clock[0] += 60
    stats.record(20.0, [102], None)
    snap = stats.snapshot()
    assert snap["events"] == 3 and len(snap["eventsPerMinute"]) == 60
    assert [p["events"] for p in snap["eventsPerMinute"]][-2:] == [2, 1]
    assert snap["latencyMs"] == {"p50": 20.0, "p99": 30.0}
    assert snap["errors"] == {"102": 2} and snap["privacy"] == {"pass": 1, "us_optout": 1}
    clock[0] += 3600
    assert stats.snapshot()["events"] == 0


class _Caller:
    def __init__(self, answers: list[Any]) -> None:
        self.answers = answers
        self.headers: list[Any] = []

    def call(self, plan: Any, deadline: float, extra_headers: Any = None) -> ProviderAnswer:
        self.headers.append(extra_headers)
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer  # type: ignore[no-any-return]


def _provider(**extra: Any) -> Any:
    return compile_provider({"pid": 3, "name": "P", "dataSourceId": 900,
                             "url": "https://p.example/rt", "timeoutMs": 150, **extra})


def test_test_call_passes_a_conforming_provider_and_signs_its_calls() -> None:
    ok = ProviderAnswer(("a",), (), None)
    caller = _Caller([ok, ProviderAnswer((), (), None), ok])
    provider = _provider(auth={"type": "hmac", "secretRef": "env:S"})
    ticks = iter([n * 0.01 for n in range(100)])
    report = run_test_call(provider, caller, lambda ref: "secret", "1352", 7,
                           clock=lambda: next(ticks))
    assert report["verdict"] == "pass", report
    assert [c["outcome"] for c in report["calls"]] == ["answered", "empty", "answered"]
    assert len(caller.headers) == 3 and all(caller.headers)  # each call signed


def test_test_call_names_contract_breaks_and_slowness() -> None:
    caller = _Caller([ContractError("json", "not JSON"), OSError("boom"),
                      ProviderAnswer((), (), None)])
    ticks = iter([0.0, 0.01, 1.0, 1.01, 2.0, 2.5])
    report = run_test_call(_provider(), caller, lambda ref: "", "1352", 7,
                           clock=lambda: next(ticks))
    assert report["verdict"] == "fail"
    assert any(p.startswith("contract: json") for p in report["problems"])
    assert any("OSError" in p for p in report["problems"])
    assert any(p.startswith("slow: 500.0 ms") for p in report["problems"])
