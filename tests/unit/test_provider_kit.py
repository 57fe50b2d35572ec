"""The provider kit: the reference provider speaks the contract, and the contract checker
finds it conforming and names every fault the simulator can show."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator

import pytest
import requests

from chalicelib.providers.auth import AuthSpec
from chalicelib.providers.definition import ProviderDef
from chalicelib.providers.extras import ProviderExtras
from chalicelib.providers.fanout import CallPlan, Fanout, ProviderCaller
from chalicelib.providers.messages import build_request_body
from chalicelib.providers.secrets import SecretResolver
from devtools.contract_check import check, main, sign
from devtools.provider_sim import ProviderSimulator
from examples.reference_provider import ReferenceProvider
from tests.unit.loopback_session import make_pool

SECRET = "ref-secret-1"


@pytest.fixture(scope="module")
def reference() -> Iterator[ReferenceProvider]:
    with ReferenceProvider(secret=SECRET) as provider:
        yield provider


@pytest.fixture(scope="module")
def sim() -> Iterator[ProviderSimulator]:
    with ProviderSimulator(port=0) as simulator:
        yield simulator


def _post(url: str, body: bytes, signature: str | None) -> requests.Response:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-Signature"] = signature
    session = requests.Session()
    session.trust_env = False
    with session:
        return session.post(url, data=body, headers=headers, timeout=5)


def _request(**signals: list[str]) -> bytes:
    provider = ProviderDef(1, "ref", 900, "https://x", signals=("c_*",))
    return build_request_body(provider, uuid="1" * 38, dpuuid=None, partner_id="1352", region=7,
                              tid="t", gdpr=0, gdpr_consent=None, signals=signals)


def test_reference_provider_answers_signed_requests(reference: ReferenceProvider) -> None:
    body = _request(c_section=["sports"])
    response = _post(reference.url, body, sign(SECRET, body))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    segments = {s["Segment_ID"]: s["Status"] for s in response.json()["Segments"]}
    assert segments == {"sports-fan": 1, "auto-intender": 1}


@pytest.mark.parametrize("tamper", ["body", "secret", "missing"])
def test_reference_provider_refuses_bad_signatures(
    reference: ReferenceProvider, tamper: str
) -> None:
    body = _request(c_section=["sports"])
    signature = {"body": sign(SECRET, _request(c_section=["autos"])),
                 "secret": sign(SECRET + "x", body), "missing": None}[tamper]
    assert _post(reference.url, body, signature).status_code == 401


def test_engine_signs_what_the_reference_provider_verifies(reference: ReferenceProvider) -> None:
    provider = ProviderDef(2, "ref", 900, reference.url, id_mode="uuid")
    extras = ProviderExtras(AuthSpec("hmac", "env:REF_SECRET"))
    outcomes = []
    for secret in (SECRET, "not-the-secret"):
        with ThreadPoolExecutor(max_workers=1) as executor:
            fan = Fanout(executor, ProviderCaller(make_pool()), http_hosts=("127.0.0.1",),
                         extras=lambda p: extras,
                         secrets=SecretResolver(env={"REF_SECRET": secret}))
            outcomes.append(fan.start([CallPlan(provider, _request())], 250).collect()[0])
    assert outcomes[0].kind == "answered" and outcomes[0].answer is not None
    assert outcomes[0].answer.realize == ("auto-intender",)
    assert outcomes[0].answer.ttl_seconds == 600
    assert (outcomes[1].kind, outcomes[1].detail) == ("error", "http_status")


def test_contract_check_finds_the_reference_provider_conforming(
    reference: ReferenceProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    # Latency against timeoutMs is checked by the "slow" case below; here the shape is what
    # matters, so a loaded test machine gets a generous timeoutMs.
    report = check(reference.url, SECRET, count=8, timeout_ms=1000, seed=1)
    assert report.conforming, report.text()
    assert not report.warnings  # it also refused the forged signature
    assert report.percentile(0.5) is not None and report.percentile(0.99) is not None
    code = main([reference.url, "--secret", SECRET, "--count", "4", "--timeout-ms", "1000"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.rstrip().endswith("conforming") and "NOT" not in out


def test_contract_check_with_the_wrong_secret_says_so(
    reference: ReferenceProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([reference.url, "--secret", "wrong", "--count", "2", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["conforming"] is False
    assert [p["code"] for p in report["problems"]] == ["http_status"]
    assert "401" in report["problems"][0]["text"] and "secret" in report["problems"][0]["text"]


@pytest.mark.parametrize(("mode", "code"), [
    ("slow", "slow"), ("hang", "no_answer"), ("trickle", "slow_body"), ("refuse", "connection"),
    ("error", "http_status"), ("invalid_json", "invalid_json"), ("wrong_shape", "wrong_shape"),
    ("huge", "body_too_large"),
])
def test_contract_check_names_each_simulator_fault(
    sim: ProviderSimulator, mode: str, code: str
) -> None:
    sim.configure(mode, {"mode": mode, "segments": ["a"],
                         "latency_ms": 200 if mode == "slow" else 0,
                         "verify": {"type": "hmac", "secret": SECRET}})
    report = check(f"{sim.url}/providers/{mode}", SECRET, count=2, max_wait_ms=400, seed=2)
    assert not report.conforming
    assert report.codes == {code}, report.text()


def test_contract_check_flags_bad_segment_fields() -> None:
    from devtools.contract_check import Report, judge_document

    report = Report("u", 1, 150)

    def problem(code: str, text: str) -> None:
        report.problems[(code, text)] += 1

    judge_document({"Segments": [{"Segment_ID": ["x"], "Status": 2}, {"Segment_ID": "a"},
                                 {"Segment_ID": 7, "Status": 1}], "ttl_seconds": "600"},
                   problem, report)
    assert report.codes == {"segment_id", "status_value", "ttl_seconds"}
    assert report.warnings  # a numeric Segment_ID is accepted with a warning


def test_simulator_ok_mode_is_conforming(sim: ProviderSimulator) -> None:
    sim.configure("good", {"segments": ["a"], "verify": {"type": "hmac", "secret": SECRET}})
    report = check(f"{sim.url}/providers/good", SECRET, count=3, timeout_ms=1000, seed=3)
    assert report.conforming, report.text()
