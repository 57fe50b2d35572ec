"""provider-contract.md sections 2, 3 and 5: request body, answer parsing, deadlines.

The fan-out talks to a real loopback simulator, so deadlines are measured on real sockets.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterator

import pytest
from urllib3 import PoolManager

from chalicelib.providers.auth import AuthSpec, verify_hmac
from chalicelib.providers.breaker import BreakerBoard
from chalicelib.providers.definition import ProviderDef
from chalicelib.providers.extras import NO_EXTRAS, ProviderExtras
from chalicelib.providers.fanout import CallPlan, Fanout, ProviderCaller
from chalicelib.providers.messages import (
    ContractError,
    build_request_body,
    forwarded_signals,
    parse_answer,
)
from chalicelib.providers.qps import QpsLimiter
from chalicelib.providers.secrets import SecretResolver
from devtools.provider_sim import ProviderSimulator
from tests.unit.loopback_session import make_pool


@pytest.fixture(scope="module")
def sim() -> Iterator[ProviderSimulator]:
    with ProviderSimulator(port=0) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def fanout() -> Iterator[Fanout]:
    with ThreadPoolExecutor(max_workers=8) as executor:
        yield Fanout(executor, ProviderCaller(make_pool()), http_hosts=("127.0.0.1",))


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


def test_forwarded_signals_agree_with_fnmatchcase_and_compile_each_pattern_set_once() -> None:
    import fnmatch

    from chalicelib.providers.messages import _patterns_matcher

    keys = ["c_a", "C_a", "c_", "cx", "h_referer", "h_ref", "a.b", "a(b", "x?", "p_c", "", "c_\n"]
    signals = {key: [key] for key in keys}
    for patterns in ([], ["c_*"], ["c_*", "h_referer"], ["?_*", "a.b"], ["[ch]_*"], ["a(b"],
                     ["[!c]*"], ["*"], ["", "x?"]):
        expected = {k: [k] for k in keys
                    if not k.startswith("p_") and any(fnmatch.fnmatchcase(k, p) for p in patterns)}
        assert forwarded_signals(patterns, signals) == expected, patterns
    _patterns_matcher.cache_clear()
    for _ in range(3):
        forwarded_signals(("c_*", "h_referer"), signals)
    assert _patterns_matcher.cache_info().misses == 1  # one compile for a provider's patterns


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
    # The hanging provider comes first: called one after the other, it would use the whole
    # budget and the two others would never answer. So the outcomes prove the parallelism.
    plans = [CallPlan(_provider(sim, 3, "hang", timeout_ms=2000), b"{}"),
             CallPlan(_provider(sim, 1, "a"), b"{}"), CallPlan(_provider(sim, 2, "b"), b"{}")]
    started = time.monotonic()
    outcomes = fanout.start(plans, budget_ms=250).collect()
    elapsed_ms = (time.monotonic() - started) * 1000
    kinds = {o.pid: (o.kind, o.detail) for o in outcomes}
    assert kinds == {1: ("answered", ""), 2: ("answered", ""), 3: ("timeout", "budget")}
    # Not held by the hang: a fan-out that waited for it would take its 2,000 ms timeout.
    # (The budget itself, 250 ms + a few ms, is measured by bench/fanout.py, not here.)
    assert elapsed_ms < 2000
    answered = {o.pid: o.answer for o in outcomes}
    assert answered[1] is not None and answered[1].realize == ("s1",)


def test_per_provider_timeout_applies_before_budget(sim: ProviderSimulator, fanout: Fanout) -> None:
    sim.configure("late", {"latency_ms": 120, "segments": ["s"]})
    plan = CallPlan(_provider(sim, 4, "late", timeout_ms=50), b"{}")
    outcome = fanout.start([plan], 250).collect()
    assert outcome[0].kind == "timeout"


def test_trickling_provider_cannot_hold_the_call(sim: ProviderSimulator) -> None:
    """A body trickling one byte per 100 ms defeats per-socket timeouts, not our clock."""
    sim.configure("trickle", {"mode": "trickle", "segments": ["s"]})
    caller = ProviderCaller(make_pool())
    with ThreadPoolExecutor(max_workers=2) as executor:
        fan = Fanout(executor, caller, http_hosts=("127.0.0.1",))
        started = time.monotonic()
        outcome = fan.start([CallPlan(_provider(sim, 5, "trickle", timeout_ms=300), b"{}")],
                            1000).collect()[0]
        elapsed_ms = (time.monotonic() - started) * 1000
    assert outcome.kind == "timeout"
    # The worker stopped reading at its own 300 ms deadline and settled the call: had it kept
    # reading (per-read timeouts never trip), collect would have waited for the 1,000 ms budget.
    assert elapsed_ms < 1000


@pytest.mark.parametrize(("mode", "detail"), [("error", "http_status"),
                                              ("invalid_json", "invalid_json"),
                                              ("wrong_shape", "wrong_shape"),
                                              ("refuse", "connection")])
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


# ---- signing, breaker, QPS cap, stats, abandoned calls ------------------------------------

SECRET = "k3y-for-tests"


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _engine(
    executor: ThreadPoolExecutor,
    extras: dict[int, ProviderExtras] | None = None,
    breaker_clock: FakeClock | None = None,
    secrets: SecretResolver | None = None,
    pool: PoolManager | None = None,
) -> Fanout:
    table = extras or {}
    return Fanout(
        executor, ProviderCaller(pool or make_pool()), http_hosts=("127.0.0.1",),
        breakers=BreakerBoard(clock=breaker_clock or FakeClock()),
        limiter=QpsLimiter(),
        extras=lambda provider: table.get(provider.pid, NO_EXTRAS),
        secrets=secrets or SecretResolver(env={"P_SECRET": SECRET}),
    )


HMAC = ProviderExtras(AuthSpec("hmac", "env:P_SECRET"))


def test_hmac_signed_request_verifies_at_the_provider(sim: ProviderSimulator) -> None:
    sim.configure("signed", {"segments": ["s"],
                             "verify": {"type": "hmac", "secret": SECRET}})
    with ThreadPoolExecutor(max_workers=2) as executor:
        fan = _engine(executor, {21: HMAC})
        outcome = fan.start([CallPlan(_provider(sim, 21, "signed"), b'{"AAM_UUID":"1"}')],
                            250).collect()[0]
    assert outcome.kind == "answered"
    recorded = sim.state.requests["signed"][-1]
    assert recorded["verified"] is True
    signature = recorded["headers"]["X-Signature"]
    assert verify_hmac(SECRET, b'{"AAM_UUID":"1"}', signature)
    # The same signature does not verify another body or under another secret.
    assert not verify_hmac(SECRET, b'{"AAM_UUID":"2"}', signature)
    assert not verify_hmac(SECRET + "x", b'{"AAM_UUID":"1"}', signature)


def test_wrong_secret_is_refused_by_the_provider(sim: ProviderSimulator) -> None:
    sim.configure("signed2", {"segments": ["s"],
                              "verify": {"type": "hmac", "secret": "another"}})
    with ThreadPoolExecutor(max_workers=2) as executor:
        fan = _engine(executor, {22: HMAC})
        outcome = fan.start([CallPlan(_provider(sim, 22, "signed2"), b"{}")], 250).collect()[0]
    assert (outcome.kind, outcome.detail) == ("error", "http_status")
    assert sim.state.requests["signed2"][-1]["verified"] is False


def test_bearer_token(sim: ProviderSimulator) -> None:
    sim.configure("bearer", {"segments": ["s"], "verify": {"type": "bearer", "secret": SECRET}})
    with ThreadPoolExecutor(max_workers=2) as executor:
        fan = _engine(executor, {23: ProviderExtras(AuthSpec("bearer", "env:P_SECRET"))})
        outcome = fan.start([CallPlan(_provider(sim, 23, "bearer"), b"{}")], 250).collect()[0]
    assert outcome.kind == "answered"
    assert sim.state.requests["bearer"][-1]["headers"]["Authorization"] == f"Bearer {SECRET}"


def test_missing_secret_or_bad_auth_sends_nothing(sim: ProviderSimulator) -> None:
    sim.configure("nosecret", {"segments": ["s"]})
    missing = ProviderExtras(AuthSpec("hmac", "env:NOT_SET_ANYWHERE"))
    broken = ProviderExtras(problem="auth.type must be hmac or bearer")
    with ThreadPoolExecutor(max_workers=2) as executor:
        fan = _engine(executor, {24: missing, 25: broken})
        outcomes = fan.start([CallPlan(_provider(sim, 24, "nosecret"), b"{}"),
                              CallPlan(_provider(sim, 25, "nosecret"), b"{}")], 250).collect()
    assert [(o.kind, o.detail) for o in outcomes] == [("error", "secret"),
                                                      ("error", "auth_config")]
    assert sim.calls().get("nosecret", 0) == 0
    assert fan.stats.snapshot()["providers"]["24"]["errors"] == {"secret": 1}


def test_breaker_opens_skips_then_a_trial_closes_it(sim: ProviderSimulator) -> None:
    sim.configure("flaky", {"mode": "error"})
    clock = FakeClock()
    plan = CallPlan(_provider(sim, 26, "flaky"), b"{}")
    with ThreadPoolExecutor(max_workers=2) as executor:
        fan = _engine(executor, breaker_clock=clock)
        kinds = [fan.start([plan], 250).collect()[0] for _ in range(6)]
        assert [(o.kind, o.detail) for o in kinds[:5]] == [("error", "http_status")] * 5
        assert (kinds[5].kind, kinds[5].detail) == ("skipped", "breaker")
        assert sim.calls()["flaky"] == 5  # the sixth never reached the provider
        clock.now += 30
        sim.configure("flaky", {"segments": ["s"]})
        trial = fan.start([plan], 250).collect()[0]
        after = fan.start([plan], 250).collect()[0]
    assert trial.kind == "answered" and after.kind == "answered"
    snapshot = fan.stats.snapshot()["providers"]["26"]
    assert snapshot["skips"] == {"breaker": 1} and snapshot["breaker"]["state"] == "closed"
    assert snapshot["calls"] == 7 and snapshot["errors"] == {"http_status": 5}


def test_qps_cap_skips_excess_calls(sim: ProviderSimulator) -> None:
    sim.configure("capped", {"segments": ["s"]})
    plan = CallPlan(_provider(sim, 27, "capped"), b"{}")
    with ThreadPoolExecutor(max_workers=2) as executor:
        fan = _engine(executor, {27: ProviderExtras(max_qps=2)})
        outcomes = [fan.start([plan], 250).collect()[0] for _ in range(3)]
    assert [o.kind for o in outcomes] == ["answered", "answered", "skipped"]
    assert outcomes[2].detail == "qps" and sim.calls()["capped"] == 2
    assert fan.stats.snapshot()["providers"]["27"]["skips"] == {"qps": 1}


def test_stats_complete_when_collect_returns(sim: ProviderSimulator) -> None:
    sim.configure("s-ok", {"segments": ["s"]})
    sim.configure("s-empty", {"segments": []})
    sim.configure("s-hang", {"mode": "hang"})
    with ThreadPoolExecutor(max_workers=4) as executor:
        fan = _engine(executor)
        outcomes = fan.start([CallPlan(_provider(sim, 28, "s-ok"), b"{}"),
                              CallPlan(_provider(sim, 29, "s-empty"), b"{}"),
                              CallPlan(_provider(sim, 30, "s-hang", timeout_ms=2000), b"{}")],
                             120).collect()
        providers = fan.stats.snapshot()["providers"]  # read before any worker could catch up
    assert [o.kind for o in outcomes] == ["answered", "empty", "timeout"]
    assert all(o.counted for o in outcomes)
    assert providers["28"]["answers"] == 1 and providers["29"]["empty_answers"] == 1
    assert providers["30"]["timeouts_by"] == {"budget": 1}


def test_abandoned_calls_free_their_thread_and_pool_slot(sim: ProviderSimulator) -> None:
    sim.configure("a-hang", {"mode": "hang"})
    sim.configure("a-trickle", {"mode": "trickle", "segments": ["s" * 50]})
    pool = make_pool(pool_size=2, hosts=4)
    with ThreadPoolExecutor(max_workers=2) as executor:
        fan = _engine(executor, pool=pool)
        for _ in range(3):  # more events than threads: a held thread would starve the next
            pending = fan.start([CallPlan(_provider(sim, 31, "a-hang", 2000), b"{}"),
                                 CallPlan(_provider(sim, 32, "a-trickle", 2000), b"{}")], 100)
            outcomes = pending.collect()
            assert [(o.kind, o.detail) for o in outcomes] == [("timeout", "budget")] * 2
            for _, future in pending.calls.values():
                future.result(timeout=0.1)  # each worker ends right after its deadline
        sim.configure("a-huge", {"mode": "huge"})
        for _ in range(3):  # cut by our own size cap, not by a urllib3 error
            outcome = fan.start([CallPlan(_provider(sim, 36, "a-huge"), b"{}")], 250).collect()
            assert outcome[0].detail == "body_too_large"
    manager = pool
    pools = [manager.pools[key] for key in manager.pools.keys() if key.key_port == sim.port]
    assert len(pools) == 1 and pools[0].num_requests == 9
    assert pools[0].pool is not None and pools[0].pool.qsize() == 2  # every slot is back


def test_call_that_never_left_the_queue(sim: ProviderSimulator) -> None:
    sim.configure("q-hang", {"mode": "hang"})
    with ThreadPoolExecutor(max_workers=1) as executor:
        fan = _engine(executor)
        outcomes = fan.start([CallPlan(_provider(sim, 33, "q-hang", 2000), b"{}"),
                              CallPlan(_provider(sim, 34, "q-hang", 2000), b"{}")], 80).collect()
    assert [o.detail for o in outcomes] == ["budget", "queued"]


def test_huge_body_is_cut_at_64_kib(sim: ProviderSimulator) -> None:
    sim.configure("huge", {"mode": "huge"})
    with ThreadPoolExecutor(max_workers=1) as executor:
        outcome = _engine(executor).start([CallPlan(_provider(sim, 35, "huge"), b"{}")],
                                          250).collect()[0]
    # An error, not a timeout: the read stopped at 64 KiB, well before the 250 ms budget (the
    # whole 10 MB body would not have been read by then on this machine).
    assert (outcome.kind, outcome.detail) == ("error", "body_too_large")


def test_providers_expected_to_answer_last_are_started_first() -> None:
    from concurrent.futures import Future

    from chalicelib.providers.fanout import Outcome
    from chalicelib.providers.stats import StatsRegistry

    submitted: list[int] = []

    class RecordingExecutor:
        def submit(self, fn: Any, call: Any) -> Future[Outcome]:
            submitted.append(call.plan.provider.pid)
            future: Future[Outcome] = Future()
            future.set_result(Outcome(call.plan.provider.pid, "", "empty", counted=True))
            return future

    stats = StatsRegistry()
    stats.record(Outcome(1, "fast", "answered", 10.0))
    stats.record(Outcome(2, "slow", "answered", 100.0))
    fan = Fanout(RecordingExecutor(), ProviderCaller(make_pool()),  # type: ignore[arg-type]
                 stats=stats)
    plans = [CallPlan(ProviderDef(pid, "p", 900, "https://p.example"), b"{}") for pid in (1, 2, 3)]
    fan.start(plans, 250)
    assert submitted == [3, 2, 1]  # never called (unknown) first, then the slow one
