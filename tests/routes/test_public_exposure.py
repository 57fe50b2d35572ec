"""What a page may learn about the customer's set-up (issue 13, defect 5): the catalog's names
only on the local stage, provider names in Server-Timing only when asked for."""

from __future__ import annotations

from typing import Any

from chalice.test import Client

from app import app
from chalicelib.config import Settings
from chalicelib.handlers.event import server_timing
from chalicelib.providers.fanout import Outcome

OUTCOMES = [Outcome(1, "FastData", "answered", 12.34), Outcome(2, "Slow\"Data", "timeout", 150.0)]


def test_the_demo_catalog_is_served_on_the_local_stage_only(client: Any) -> None:
    assert client.http.get("/demo/catalog.json").status_code == 200  # client: local stage
    with Client(app, stage_name="prod") as prod:
        response = prod.http.get("/demo/catalog.json")
    assert response.status_code == 404 and b"FastData" not in response.body


def test_server_timing_names_providers_only_when_asked() -> None:
    named = server_timing(OUTCOMES, mode="names")
    assert 'desc="FastData: answered"' in named and 'desc="SlowData: timeout"' in named
    anonymous = server_timing(OUTCOMES, mode="anonymous")
    assert "FastData" not in anonymous and "Slow" not in anonymous
    assert 'rt-1;dur=12.3;desc="answered"' in anonymous and "rt-total;dur=150.0" in anonymous
    assert server_timing(OUTCOMES, mode="off") == ""


def test_server_timing_default_is_names_on_local_and_anonymous_elsewhere() -> None:
    assert Settings.from_env({"RTDCS_STAGE": "local"}).server_timing == "names"
    assert Settings.from_env({"RTDCS_STAGE": "prod"}).server_timing == "anonymous"
    assert Settings.from_env({}).server_timing == "anonymous"
    assert Settings.from_env({"RTDCS_STAGE": "prod",
                              "RTDCS_SERVER_TIMING": "names"}).server_timing == "names"
    assert Settings.from_env({"RTDCS_SERVER_TIMING": "off"}).server_timing == "off"
