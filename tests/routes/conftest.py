"""Route tests: the Chalice app through ``chalice.test.Client``, DynamoDB in ``moto.mock_aws``
(tables created from infra/data-stack.yaml), providers on an in-process loopback simulator."""

from __future__ import annotations

from typing import Any, Iterator

import boto3
import pytest
from chalice.test import Client
from moto import mock_aws

from app import app
from chalicelib.runtime import services
from devtools import moto_patches
from devtools.provider_sim import ProviderSimulator
from devtools.seed import seed
from infra.bootstrap import create_data_stack, settings_env

moto_patches.install()  # transactions cost what they touch, as in DynamoDB


@pytest.fixture
def simulator() -> Iterator[ProviderSimulator]:
    with ProviderSimulator(port=0) as sim:
        # Deterministic latencies for route tests.
        sim.configure("fast", {"latency_ms": 5, "jitter_ms": 0, "mode": "ok",
                               "segments": ["auto-intender"],
                               "when_signal": {"sports-fan": ["c_section", "sports"]}})
        sim.configure("slow", {"latency_ms": 10, "jitter_ms": 0, "mode": "ok",
                               "segments": ["luxury"]})
        yield sim


@pytest.fixture
def tables(monkeypatch: pytest.MonkeyPatch, simulator: ProviderSimulator) -> Iterator[dict[str, str]]:
    with mock_aws():
        services.reset()
        created = create_data_stack(boto3.client("cloudformation"), boto3.client("dynamodb"))
        for name, value in settings_env(created).items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("RTDCS_PROVIDERS_HTTP_HOSTS", "127.0.0.1")
        monkeypatch.setenv("RTDCS_STAGE", "local")  # as inside client calls (same services)
        monkeypatch.setenv("RTDCS_COOKIE_SECURE", "true")
        monkeypatch.setenv("RTDCS_CORS_ALLOWED_ORIGINS", "https://pub.example")
        seed(boto3.resource("dynamodb").Table(created["catalog"]), simulator.url)
        yield created
        services.reset()


@pytest.fixture
def client(tables: dict[str, str]) -> Iterator[Any]:
    with Client(app, stage_name="local") as test_client:
        yield test_client


@pytest.fixture
def profiles_table(tables: dict[str, str]) -> Any:
    return boto3.resource("dynamodb").Table(tables["profiles"])
