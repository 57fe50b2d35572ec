"""provider-contract.md sections 2, 3 and 5: request body, answer parsing, deadlines.

The fan-out talks to a real loopback simulator, so deadlines are measured on real sockets.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator

import pytest

from chalicelib.providers.fanout import CallPlan, Fanout, ProviderCaller, make_session
from chalicelib.providers.messages import (
    ContractError,
    build_request_body,
    forwarded_signals,
    parse_answer,
)
from chalicelib.rules.catalog import ProviderDef
from devtools.provider_sim import ProviderSimulator


@pytest.fixture(scope="module")
def sim() -> Iterator[ProviderSimulator]:
    with ProviderSimulator(port=0) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def fanout() -> Iterator[Fanout]:
    with ThreadPoolExecutor(max_workers=8) as executor:
        yield Fanout(executor, ProviderCaller(make_session()), http_hosts=("127.0.0.1",))


def _provider(sim: ProviderSimulator, pid: int, name: str, timeout_ms: int = 150) -> ProviderDef:
    return ProviderDef(pid=pid, name=name, data_source_id=900 + pid,
                       url=f"{sim.url}/providers/{name}", timeout_ms=timeout_ms, id_mode="uuid")


def test_request_body_never_forwards_p_keys() -> None:
    provider = ProviderDef(1, "p", 900, "https://x.example", signals=("c_*", "p_*", "h_referer"))
    body = json.loads(build_request_body(
        provider, uuid="1" * 38, dpuuid=None, partner_id="1352", region=7, tid="t",
        gdpr=0, gdpr_consent="ignored",
        signals={"c_a": ["1"], "p_income": ["9"], "h_referer": ["r"], "x": ["y"]},
    ))
    assert body["signals"] == {"c_a": ["1"], "h_referer": ["r"]}
    assert body["AAM_UUID"] == "1" * 38 and body["DataPartner_UUID"] is None
    assert body["User_DPID"] == 900 and body["Client_ID"] == "1352" and "gdpr_consent" not in body


def test_forwarded_signals_match_patterns_exactly() -> None:
    assert forwarded_signals(["c_*"], {"c_a": ["1"], "cx": ["2"], "p_c": ["3"]}) == {"c_a": ["1"]}


def test_parse_native_answer() -> None:
    answer = parse_answer(200, b'{"Segments":[{"Segment_ID":"77","Status":1},'
                               b'{"Segment_ID":12,"Status":0}],"ttl_seconds":600}', None)
    assert answer.realize == ("77",) and answer.remove == ("12",) and answer.ttl_seconds == 600


def test_parse_204_and_empty_are_nothing_known() -> None:
    assert parse_answer(204, b"", None).realize == ()
    assert parse_answer(200, b'{"Segments":[]}', None).realize == ()


def test_parse_segments_path() -> None:
    body = b'{"user":{"data":[{"segment":[{"id":"a"},{"id":"b"}]}]}}'
    assert parse_answer(200, body, "user.data[].segment[].id").realize == ("a", "b")


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [(500, b"", "http_status"), (200, b"{nope", "invalid_json"),
     (200, b'{"Segments":{"a":1}}', "wrong_shape"), (200, b"[1]", "wrong_shape"),
     (200, b'{"Segments":[{"Status":1}]}', "wrong_shape"),
     (200, b'{"Segments":[]}' + b" " * 70000, "body_too_large")],
)
def test_parse_contract_errors(status: int, body: bytes, kind: str) -> None:
    with pytest.raises(ContractError) as caught:
        parse_answer(status, body, None)
    assert caught.value.kind == kind


def test_parallel_calls_and_hanging_provider_held_to_budget(
    sim: ProviderSimulator, fanout: Fanout
) -> None:
    sim.configure("a", {"latency_ms": 80, "segments": ["s1"]})
    sim.configure("b", {"latency_ms": 80, "segments": ["s2"]})
    sim.configure("hang", {"mode": "hang"})
    plans = [CallPlan(_provider(sim, 1, "a"), b"{}"), CallPlan(_provider(sim, 2, "b"), b"{}"),
             CallPlan(_provider(sim, 3, "hang", timeout_ms=2000), b"{}")]
    started = time.monotonic()
    outcomes = fanout.start(plans, budget_ms=250).collect()
    elapsed_ms = (time.monotonic() - started) * 1000
    kinds = {o.pid: o.kind for o in outcomes}
    assert kinds == {1: "answered", 2: "answered", 3: "timeout"}
    # In parallel: two 80 ms answers and a hang finish at the 250 ms budget, not 410+ ms.
    assert elapsed_ms < 250 + 60
    assert outcomes[0].answer is not None and outcomes[0].answer.realize == ("s1",)


def test_per_provider_timeout_applies_before_budget(sim: ProviderSimulator, fanout: Fanout) -> None:
    sim.configure("late", {"latency_ms": 120, "segments": ["s"]})
    outcome = fanout.start([CallPlan(_provider(sim, 4, "late", timeout_ms=50), b"{}")], 250).collect()
    assert outcome[0].kind == "timeout"


def test_trickling_provider_cannot_hold_the_call(sim: ProviderSimulator) -> None:
    """A body trickling one byte per 100 ms defeats per-socket timeouts, not our clock."""
    sim.configure("trickle", {"mode": "trickle", "segments": ["s"]})
    caller = ProviderCaller(make_session())
    with ThreadPoolExecutor(max_workers=2) as executor:
        fan = Fanout(executor, caller, http_hosts=("127.0.0.1",))
        started = time.monotonic()
        outcome = fan.start([CallPlan(_provider(sim, 5, "trickle", timeout_ms=300), b"{}")],
                            1000).collect()[0]
        elapsed_ms = (time.monotonic() - started) * 1000
    assert outcome.kind == "timeout"
    assert elapsed_ms < 300 + 150  # the thread itself stopped reading at its deadline


@pytest.mark.parametrize(("mode", "detail"), [("error", "http_status"),
                                              ("invalid_json", "invalid_json")])
def test_failures_are_contained_and_named(
    sim: ProviderSimulator, fanout: Fanout, mode: str, detail: str
) -> None:
    sim.configure("bad", {"mode": mode})
    outcome = fanout.start([CallPlan(_provider(sim, 6, "bad"), b"{}")], 250).collect()[0]
    assert (outcome.kind, outcome.detail) == ("error", detail)


def test_refused_connection_is_an_error(fanout: Fanout) -> None:
    dead = ProviderDef(7, "dead", 907, "http://127.0.0.1:9/providers/x", id_mode="uuid")
    outcome = fanout.start([CallPlan(dead, b"{}")], 250).collect()[0]
    assert (outcome.kind, outcome.detail) == ("error", "connection")


def test_plain_http_only_for_allowed_hosts(fanout: Fanout) -> None:
    remote = ProviderDef(8, "remote", 908, "http://provider.example/x", id_mode="uuid")
    outcome = fanout.start([CallPlan(remote, b"{}")], 250).collect()[0]
    assert (outcome.kind, outcome.detail) == ("skipped", "insecure_url")


def test_deadline_header_sent(sim: ProviderSimulator, fanout: Fanout) -> None:
    sim.configure("hdr", {"latency_ms": 0})
    fanout.start([CallPlan(_provider(sim, 9, "hdr", timeout_ms=100), b'{"x":1}')], 250).collect()
    recorded = sim.state.requests["hdr"][-1]
    assert 0 < int(recorded["headers"]["X-Request-Deadline-Ms"]) <= 100
