"""Cached provider answers (provider-contract.md): ``ttl_seconds`` shortens the cache, errors
are never cached, a 204 (nothing known about this visitor) is. Issue 13: no test guarded these."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from chalicelib.store.catalog import CatalogRepository
from devtools.provider_sim import ProviderSimulator

FAST = 1  # the demo catalog's FastData provider (pid 1), answered by the simulator's "fast"


@pytest.fixture
def caching(tables: dict[str, str], simulator: ProviderSimulator,
            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RTDCS_CATALOG_REFRESH_SECONDS", "0")
    repository = CatalogRepository(boto3.resource("dynamodb").Table(tables["catalog"]))
    body = next(p for p in repository.list_kind("provider") if p["pid"] == FAST)
    repository.put("provider", FAST, {**body, "cacheTtlSeconds": 3600})
    repository.bump_version()


def _two_events(client: Any, simulator: ProviderSimulator) -> int:
    """Calls of the fast provider for two events of one visitor."""
    before = simulator.calls().get("fast", 0)
    first = json.loads(client.http.get("/event?d_rtbd=json&d_cts=1").body)
    client.http.get("/event?d_rtbd=json&d_cts=1",
                    headers={"Cookie": f"rtdcs_uuid={first['uuid']}"})
    return simulator.calls().get("fast", 0) - before


def test_an_answer_is_cached_for_cache_ttl_seconds(
    client: Any, simulator: ProviderSimulator, caching: None
) -> None:
    simulator.configure("fast", {"latency_ms": 0, "segments": ["auto-intender"],
                                 "ttl_seconds": None})
    assert _two_events(client, simulator) == 1


def test_the_providers_ttl_seconds_shortens_the_cache(
    client: Any, simulator: ProviderSimulator, caching: None
) -> None:
    simulator.configure("fast", {"latency_ms": 0, "segments": ["auto-intender"],
                                 "ttl_seconds": 0})
    assert _two_events(client, simulator) == 2


def test_errors_are_not_cached(client: Any, simulator: ProviderSimulator, caching: None) -> None:
    simulator.configure("fast", {"latency_ms": 0, "mode": "error", "status": 503})
    assert _two_events(client, simulator) == 2


def test_a_204_is_cached(client: Any, simulator: ProviderSimulator, caching: None) -> None:
    simulator.configure("fast", {"latency_ms": 0, "mode": "error", "status": 204})
    assert _two_events(client, simulator) == 1
