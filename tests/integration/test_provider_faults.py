"""Provider faults, one per simulator mode, each next to a healthy provider in the same event.

``/event`` through ``chalice.test.Client`` (DynamoDB in ``moto.mock_aws``), the providers on a
simulator running in its own process (so its threads do not share our GIL). For each fault:
the event answers within the budget + 25 ms (timed around the event only, after a warm-up
event), carries the healthy provider's segments, and the fault is counted under its kind in
the provider stats. Signed requests are verified by the simulator with the provider's secret.

Demo catalog: FastData (pid 1) -> auto-intender -> trait 2001 -> segment 5002;
SlowData (pid 2) -> luxury -> trait 3001 -> segment 5004.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any, Iterator

import boto3
import pytest
from chalice.test import Client
from moto import mock_aws

from app import app
from chalicelib.runtime import services
from chalicelib.store.catalog import CatalogRepository
from devtools.provider_sim import SimulatorClient
from devtools.seed import seed
from infra.bootstrap import create_data_stack, settings_env

BUDGET_MS = 250
HEALTHY = {"latency_ms": 20, "jitter_ms": 0, "mode": "ok", "segments": ["auto-intender"]}
SECRET = "p2-secret-for-tests"


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorClient]:
    """``python -m devtools.provider_sim`` on a free loopback port, stopped by its PID."""
    process = subprocess.Popen(
        [sys.executable, "-m", "devtools.provider_sim", "--port", "0", "--quiet"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # "provider simulator listening on http://..."
        url = line.strip().rsplit(" ", 1)[-1]
        assert url.startswith("http://127.0.0.1:"), line
        client = SimulatorClient(url)
        for _ in range(50):
            if client.healthy():
                break
            time.sleep(0.1)
        yield client
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@pytest.fixture(scope="module")
def aws(sim: SimulatorClient) -> Iterator[dict[str, Any]]:
    """One moto backend and data stack for the module (creating it takes seconds)."""
    with pytest.MonkeyPatch.context() as patch, mock_aws():
        services.reset()
        created = create_data_stack(boto3.client("cloudformation"), boto3.client("dynamodb"))
        for name, value in settings_env(created).items():
            patch.setenv(name, value)
        patch.setenv("RTDCS_PROVIDERS_HTTP_HOSTS", "127.0.0.1")
        # As the local stage's variables set it inside client calls: the same Settings (and
        # so the same services and stats) outside them.
        patch.setenv("RTDCS_STAGE", "local")
        patch.setenv("RTDCS_RT_BUDGET_MS", str(BUDGET_MS))
        patch.setenv("RTDCS_CATALOG_REFRESH_SECONDS", "3600")
        yield created
        services.reset()


@pytest.fixture
def stack(aws: dict[str, Any], sim: SimulatorClient) -> Iterator[dict[str, Any]]:
    """Fresh services (breakers, stats), the demo catalog re-seeded, healthy providers."""
    sim.reset()
    sim.set("fast", HEALTHY)
    sim.set("slow", HEALTHY, segments=["luxury"])
    catalog_table = boto3.resource("dynamodb").Table(aws["catalog"])
    seed(catalog_table, sim.base_url)
    services.reset()
    with Client(app, stage_name="local") as client:
        yield {"client": client, "catalog": CatalogRepository(catalog_table)}
    services.reset()


def _set_provider(stack: dict[str, Any], pid: int, **fields: Any) -> None:
    repository = stack["catalog"]
    body = next(p for p in repository.list_kind("provider") if p["pid"] == pid)
    repository.put("provider", pid, {**body, **fields})
    repository.bump_version()


def _event(client: Any) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    response = client.http.get("/event?d_rtbd=json&d_cts=1")
    elapsed_ms = (time.perf_counter() - started) * 1000
    assert response.status_code == 200
    return json.loads(response.body), elapsed_ms


def _warm(stack: dict[str, Any]) -> None:
    """One event with healthy providers: catalog loaded, connections open, imports done."""
    body, _ = _event(stack["client"])
    assert {5002, 5004} <= set(body["segments"])


def _stats(pid: int) -> dict[str, Any]:
    providers: dict[str, Any] = services.get_services().provider_stats.snapshot()["providers"]
    return dict(providers[str(pid)])


FAULTS = [
    # (mode, extra behaviour, SlowData's timeoutMs, stats section, expected key)
    ("slow", {"latency_ms": 1000}, 2000, "timeouts_by", "budget"),
    ("slow", {"latency_ms": 1000}, 100, "timeouts_by", "timeout"),
    ("hang", {}, 2000, "timeouts_by", "budget"),
    ("trickle", {}, 2000, "timeouts_by", "budget"),
    ("refuse", {}, 2000, "errors", "connection"),
    ("error", {"status": 503}, 2000, "errors", "http_status"),
    ("invalid_json", {}, 2000, "errors", "invalid_json"),
    ("wrong_shape", {}, 2000, "errors", "wrong_shape"),
    ("huge", {}, 2000, "errors", "body_too_large"),
]


@pytest.mark.parametrize(("mode", "extra", "timeout_ms", "section", "key"), FAULTS,
                         ids=[f"{f[0]}-{f[2]}ms" for f in FAULTS])
def test_fault_is_contained_counted_and_within_budget(
    stack: dict[str, Any], sim: SimulatorClient, mode: str, extra: dict[str, Any],
    timeout_ms: int, section: str, key: str,
) -> None:
    _set_provider(stack, 2, timeoutMs=timeout_ms)
    _warm(stack)
    sim.set("slow", {"mode": mode, "segments": ["luxury"], **extra})
    body, elapsed_ms = _event(stack["client"])
    # Contained: each fault, left to run, takes 1 s or more (the slow answer, the 30 s hang,
    # the 5 s trickle, the 10 MB body). The budget itself is measured by bench/event_budget.py.
    assert elapsed_ms < 1000, f"{mode}: the event took {elapsed_ms:.0f} ms"
    assert 5002 in body["segments"], body  # the healthy provider's answer was applied
    assert 5004 not in body["segments"], body  # nothing from the faulty one
    assert "errors" not in body  # a provider fault is never a response error
    stats = _stats(2)
    assert stats[section] == {key: 1}, stats
    assert stats["calls"] == 2 and stats["answers"] == 1  # the warm-up answered
    assert _stats(1)["answers"] == 2


def test_signed_requests_verify_and_a_wrong_secret_is_refused(
    stack: dict[str, Any], sim: SimulatorClient
) -> None:
    """SlowData signs with a secret from SSM (moto); the simulator verifies the signature."""
    boto3.client("ssm").put_parameter(Name="/rtdcs/providers/2", Value=SECRET,
                                      Type="SecureString")
    _set_provider(stack, 2, auth={"type": "hmac", "algorithm": "sha256",
                                  "header": "X-Signature", "secretRef": "ssm:/rtdcs/providers/2"})
    sim.set("slow", HEALTHY, segments=["luxury"], verify={"type": "hmac", "secret": SECRET})
    body, _ = _event(stack["client"])
    assert 5004 in body["segments"], body
    recorded = sim.requests()["slow"][-1]
    assert recorded["verified"] is True and recorded["headers"]["X-Signature"]
    # The provider holds another secret: the signature no longer verifies, the call fails.
    sim.set("slow", HEALTHY, segments=["luxury"], verify={"type": "hmac", "secret": "rotated"})
    body, _ = _event(stack["client"])
    assert 5004 not in body["segments"] and 5002 in body["segments"]
    assert sim.requests()["slow"][-1]["verified"] is False
    assert _stats(2)["errors"] == {"http_status": 1}
    assert SECRET not in json.dumps(services.get_services().provider_stats.snapshot())


def test_breaker_opens_after_five_failures_and_skips_the_provider(
    stack: dict[str, Any], sim: SimulatorClient
) -> None:
    _warm(stack)
    sim.set("slow", {"mode": "error"})
    for _ in range(5):
        _event(stack["client"])
    calls = sim.calls()["slow"]
    body, _ = _event(stack["client"])
    assert sim.calls()["slow"] == calls  # skipped: never sent
    assert 5002 in body["segments"]
    stats = _stats(2)
    assert stats["skips"] == {"breaker": 1} and stats["breaker"]["state"] == "open"
    # Five failures in a row open it: 500s, or (on a loaded machine) a 500 that came too late.
    assert set(stats["errors"]) <= {"http_status"}
    assert stats["errors"].get("http_status", 0) + stats["timeouts"] == 5
