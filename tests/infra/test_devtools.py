"""Dev tools used by the local stack: demo catalog seeding and the provider simulator."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.store.catalog import CatalogRepository
from devtools.provider_sim import ProviderSimulator, SimulatorClient
from devtools.seed import ID_FIELDS, load_catalog, seed
from infra.bootstrap import create_data_stack

REGION = "us-east-1"
REQUEST = {
    "AAM_UUID": "07955261652886032950143702505894272138",
    "DataPartner_UUID": None,
    "User_DPID": 900,
    "Client_ID": "1352",
    "AAM_Region": 7,
    "tid": "sV1P2PgsT2s=",
    "signals": {"c_section": ["sports"], "h_referer": ["https://news.example/a"]},
}


# ---- seed --------------------------------------------------------------------------------


def test_demo_catalog_objects_have_ids_and_sim_placeholders() -> None:
    catalog = load_catalog("http://127.0.0.1:9999/")
    assert set(catalog) == set(ID_FIELDS)
    for kind, objects in catalog.items():
        ids = [obj[ID_FIELDS[kind]] for obj in objects]
        assert len(ids) == len(set(ids)), kind
    urls = {p["name"]: p["url"] for p in catalog["provider"]}
    assert urls == {
        "FastData": "http://127.0.0.1:9999/providers/fast",
        "SlowData": "http://127.0.0.1:9999/providers/slow",
    }


def test_seed_puts_every_object_and_bumps_the_version_once() -> None:
    with mock_aws():
        tables = create_data_stack(
            boto3.client("cloudformation", region_name=REGION),
            boto3.client("dynamodb", region_name=REGION),
        )
        table = boto3.resource("dynamodb", region_name=REGION).Table(tables["catalog"])
        seed(table, "http://127.0.0.1:8081")

        repo = CatalogRepository(table)
        loaded = repo.load_all()
        expected = load_catalog("http://127.0.0.1:8081")
        for kind, objects in expected.items():
            key = ID_FIELDS[kind]
            assert sorted(loaded[kind], key=lambda o: o[key]) == sorted(
                objects, key=lambda o: o[key]
            )
        assert repo.version() == 1


# ---- provider simulator -----------------------------------------------------------------


@pytest.fixture
def simulator() -> Iterator[ProviderSimulator]:
    with ProviderSimulator(port=0) as sim:
        yield sim


def _post(url: str, payload: Any, timeout: float = 5.0) -> tuple[int, bytes]:
    req = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_simulator_default_behaviours(simulator: ProviderSimulator) -> None:
    status, body = _post(f"{simulator.url}/providers/fast", REQUEST)
    assert status == 200
    answer = json.loads(body)
    assert answer["Segments"] == [
        {"Segment_ID": "auto-intender", "Status": 1},
        {"Segment_ID": "sports-fan", "Status": 1},
    ]
    assert answer["ttl_seconds"] == 600

    no_sports = dict(REQUEST, signals={"c_section": ["news"]})
    _, body = _post(f"{simulator.url}/providers/fast", no_sports)
    assert [s["Segment_ID"] for s in json.loads(body)["Segments"]] == ["auto-intender"]

    _, body = _post(f"{simulator.url}/providers/slow", REQUEST)
    assert json.loads(body)["Segments"] == [{"Segment_ID": "luxury", "Status": 1}]
    assert simulator.calls() == {"fast": 2, "slow": 1}


def test_simulator_control_api(simulator: ProviderSimulator) -> None:
    client = SimulatorClient(simulator.url)
    assert client.healthy()
    client.set("fast", latency_ms=0, mode="error")
    status, _ = _post(client.provider_url("fast"), REQUEST)
    assert status == 500

    client.set("fast", mode="invalid_json")
    status, body = _post(client.provider_url("fast"), REQUEST)
    assert status == 200
    with pytest.raises(ValueError):
        json.loads(body)

    client.set("new", segments=["x"])  # unknown providers are created
    _, body = _post(client.provider_url("new"), REQUEST)
    assert json.loads(body)["Segments"] == [{"Segment_ID": "x", "Status": 1}]
    assert client.calls() == {"fast": 2, "slow": 0, "new": 1}
    assert client.requests()["new"][0]["body"] == REQUEST

    with pytest.raises(urllib.error.HTTPError) as bad:
        client.set("fast", mode="sometimes")
    assert bad.value.code == 400

    client.reset()
    assert client.calls() == {"fast": 0, "slow": 0}
    assert client.config()["fast"]["mode"] == "ok"


def test_simulator_latency(simulator: ProviderSimulator) -> None:
    client = SimulatorClient(simulator.url)
    client.update("slow", latency_ms=120, jitter_ms=0)
    started = time.perf_counter()
    status, _ = _post(client.provider_url("slow"), REQUEST)
    assert status == 200
    assert 0.11 <= time.perf_counter() - started < 1.0


def test_simulator_hang_does_not_block_other_calls(simulator: ProviderSimulator) -> None:
    client = SimulatorClient(simulator.url)
    client.set("slow", mode="hang")
    outcome: dict[str, Any] = {}

    def call_hanging() -> None:
        try:
            _post(client.provider_url("slow"), REQUEST, timeout=2.0)
        except OSError as exc:  # the client gives up: the simulator never answered
            outcome["error"] = exc

    hanging = threading.Thread(target=call_hanging)
    hanging.start()
    time.sleep(0.05)
    status, _ = _post(client.provider_url("fast"), REQUEST)
    assert status == 200
    assert hanging.is_alive()  # the fast call was answered while the hanging one still hung
    hanging.join(timeout=10)
    assert "error" in outcome


def test_seed_rewrites_references_to_objects_that_got_another_id() -> None:
    from devtools.seed import _IdMap

    ids = _IdMap()
    ids.ids[("datasource", 1)] = 57
    ids.ids[("trait", 1001)] = 1201
    ids.ids[("segment", 5001)] = 5101
    trait = ids.rewrite("trait", {"sid": 1002, "dataSourceId": 1})
    assert trait == {"sid": 1002, "dataSourceId": 57}
    rule = ids.rewrite("segment", {"sid": 5003, "segmentRule": "1001T AND 2002t OR 11001T"})
    assert rule["segmentRule"] == "1201T AND 2002t OR 11001T"
    mapping = ids.rewrite("mapping", {"mappingId": 1, "destinationId": 52, "sid": 5001})
    assert mapping == {"mappingId": 1, "destinationId": 52, "sid": 5101}
