"""destinations.md, real-time S2S: when a message is due, what it holds, the outbound JSON."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.destinations.compiled import compile_destinations
from chalicelib.destinations.s2s import (
    S2S_REFRESH_SECONDS,
    S2SState,
    merge_user_messages,
    outbound_body,
    plan_s2s,
    plan_s2s_final,
    queue_body,
)
from chalicelib.destinations.s2s_delivery import group_messages, parse_queue_message

NOW = 1_800_000_000.0
UUID = "04817263550918273645501928374655610293"
DAY = 86400


def _catalog(mappings: list[dict[str, Any]] | None = None) -> Any:
    destination = {"destinationId": 70, "name": "DSP", "destinationType": "S2S",
                   "url": "https://dsp.example/rt", "dataSourceId": 900}
    if mappings is None:
        mappings = [{"mappingId": n, "destinationId": 70, "sid": sid}
                    for n, sid in enumerate((8801, 8802, 8804), start=1)]
    return compile_destinations({"destination": [destination], "mapping": mappings}, 1)


def _plan(segments: set[int], states: dict[int, S2SState] | None = None, *,
          synced: dict[int, str] | None = None, now: float = NOW, catalog: Any = None) -> Any:
    return plan_s2s(catalog or _catalog(), segments, uuid=UUID,
                    synced_ids={900: "ab12-x"} if synced is None else synced,
                    states=states or {}, region=7, now=now)


def _statuses(message: dict[str, Any]) -> dict[int, int]:
    return {s["id"]: s["status"] for s in message["segments"]}


def test_first_qualification_sends_current_segments() -> None:
    plan = _plan({8801, 8804, 5001})
    assert plan.messages == [{
        "v": 1, "destinationId": 70, "dpid": 900, "uuid": UUID, "dpuuid": "ab12-x",
        "region": 7, "time": NOW,
        "segments": [{"id": 8801, "status": 1}, {"id": 8804, "status": 1}],
    }]
    assert plan.states == {70: S2SState(frozenset({8801, 8804}), NOW)}


def test_unchanged_membership_within_three_days_sends_nothing() -> None:
    state = {70: S2SState(frozenset({8801}), NOW - S2S_REFRESH_SECONDS + 1)}
    plan = _plan({8801, 5001}, state)
    assert plan.messages == [] and plan.states == {}


def test_disqualification_lists_all_current_with_status_1_and_the_removed_with_0() -> None:
    state = {70: S2SState(frozenset({8801, 8802}), NOW - 60)}
    plan = _plan({8801, 8804}, state)
    assert _statuses(plan.messages[0]) == {8801: 1, 8804: 1, 8802: 0}
    assert plan.states[70].sent == {8801, 8804}


def test_leaving_every_segment_sends_status_0_and_stores_an_empty_state() -> None:
    plan = _plan(set(), {70: S2SState(frozenset({8802}), NOW - 60)})
    assert _statuses(plan.messages[0]) == {8802: 0}
    assert plan.states[70] == S2SState(frozenset(), NOW)
    assert _plan(set(), {70: plan.states[70]}).messages == []


def test_seen_again_after_three_days_resends_the_current_state() -> None:
    state = {70: S2SState(frozenset({8801}), NOW - S2S_REFRESH_SECONDS)}
    plan = _plan({8801}, state)
    assert _statuses(plan.messages[0]) == {8801: 1}
    assert plan.states[70].sent_at == NOW
    empty = {70: S2SState(frozenset(), NOW - 10 * DAY)}
    assert _plan(set(), empty).messages == [], "nothing to refresh"


def test_mapping_end_counts_as_a_change() -> None:
    ms = int(NOW * 1000)
    mappings = [{"mappingId": 1, "destinationId": 70, "sid": 8801, "endDate": ms},
                {"mappingId": 2, "destinationId": 70, "sid": 8802}]
    plan = _plan({8801, 8802}, {70: S2SState(frozenset({8801, 8802}), NOW - 60)},
                 catalog=_catalog(mappings))
    assert _statuses(plan.messages[0]) == {8802: 1, 8801: 0}


def test_visitor_without_an_id_in_the_partner_data_source_is_not_sent() -> None:
    plan = _plan({8801}, synced={901: "other"})
    assert plan.messages == [] and plan.states == {}


def test_final_message_after_opt_out_sets_everything_to_0() -> None:
    states = {70: S2SState(frozenset({8801, 8804}), NOW - DAY)}
    plan = plan_s2s_final(_catalog(), uuid=UUID, synced_ids={900: "ab12-x"}, states=states,
                          region=7, now=NOW)
    assert [_statuses(m) for m in plan.messages] == [{8801: 0, 8804: 0}]
    assert plan.states == {}
    nothing_sent = {70: S2SState(frozenset(), NOW - DAY)}
    assert plan_s2s_final(_catalog(), uuid=UUID, synced_ids={900: "ab12-x"},
                          states=nothing_sent, region=7, now=NOW).messages == []


def test_state_round_trips_through_the_profile_item() -> None:
    state = S2SState(frozenset({3, 1}), 1234.9)
    assert state.to_item() == {"s": [1, 3], "t": 1234}
    assert S2SState.from_item(state.to_item()) == S2SState(frozenset({1, 3}), 1234.0)


def test_outbound_body_matches_the_aam_real_time_format() -> None:
    message = _plan({8801}, {70: S2SState(frozenset({8804}), NOW - 60)}).messages[0]
    body = json.loads(outbound_body([message], partner_id="1352", now=NOW + 5))
    assert body == {
        "ProcessTime": "2027-01-15T08:00:05Z", "User_DPID": 900, "Client_ID": "1352",
        "AAM_Destination_Id": 70, "User_count": 1,
        "Users": [{"AAM_UUID": UUID, "DataPartner_UUID": "ab12-x", "AAM_Regions": ["7"],
                   "Segments": [
                       {"Segment_ID": 8801, "Status": 1, "DateTime": "2027-01-15T08:00:00Z"},
                       {"Segment_ID": 8804, "Status": 0, "DateTime": "2027-01-15T08:00:00Z"},
                   ]}],
    }
    with pytest.raises(ValueError):
        outbound_body([message] * 11, partner_id="1352", now=NOW)


def test_queue_messages_round_trip_and_junk_is_refused() -> None:
    message = _plan({8801}).messages[0]
    assert parse_queue_message(queue_body(message)) == message
    for junk in ("[]", '{"v": 2}', '{"v": 1, "uuid": "x"}'):
        with pytest.raises(ValueError):
            parse_queue_message(junk)


def test_several_messages_for_one_visitor_merge_to_the_newest_state() -> None:
    older = dict(_plan({8801}).messages[0], time=NOW - 5,
                 segments=[{"id": 8801, "status": 1}, {"id": 8802, "status": 0}])
    newer = dict(older, time=NOW, segments=[{"id": 8804, "status": 1}])
    merged = merge_user_messages([newer, older])
    assert _statuses(merged) == {8804: 1, 8801: 0, 8802: 0}
    assert merged["time"] == NOW


def test_grouping_by_destination_and_data_source_ten_visitors_a_post() -> None:
    base = _plan({8801}).messages[0]
    messages = [dict(base, uuid=f"{n:038d}") for n in range(1, 24)]
    messages.append(dict(base, destinationId=71))
    messages.append(dict(base, uuid=f"{1:038d}", time=NOW + 1))  # same visitor again: merged
    groups = group_messages(messages)
    assert sorted(len(g) for g in groups) == [1, 3, 10, 10]
    assert {g[0]["destinationId"] for g in groups} == {70, 71}
