"""Pytest plugin: the local stack (moto server, provider simulator, ``chalice local``).

Fixtures:
- ``local_stack`` (session): a started ``devtools.stack.LocalStack`` on free loopback ports
  (``.dcs_url``, ``.sim_url``, ``.moto_url``, ``.tables``, ``.env``, ``.admin_token``,
  ``.log_dir``); stopped at the end of the session. Started only if a test asks for it.
  The admin token is ``$RTDCS_ADMIN_TOKEN`` if set, else random: read ``.admin_token``.
- ``sim``: a ``devtools.provider_sim.SimulatorClient`` for the stack's simulator, reset to
  the default behaviours (and zero call counts) before and after each test using it.
- ``stack_dynamodb``: a boto3 DynamoDB resource pointed at the stack's moto server.
- ``stack_http``: a ``requests.Session`` that never uses proxies (loopback only).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from devtools.provider_sim import SimulatorClient
from devtools.seed import DEMO_CATALOG
from devtools.stack import LocalStack, free_port

# Ports the developer's own `make run` stack uses; tests never take them.
_RESERVED_PORTS = (8000, 5055, 8081)


def _stack_ports() -> tuple[int, int, int]:
    taken: list[int] = list(_RESERVED_PORTS)
    ports = []
    for _ in range(3):
        port = free_port(exclude=tuple(taken))
        taken.append(port)
        ports.append(port)
    return ports[0], ports[1], ports[2]


# The demo's providers answer in 30-90 ms, inside FastData's 150 ms timeout and the 250 ms
# budget; but a CI machine running two test workers, each with its own stack and Chromium, can
# stall a call past them (seen once: FastData's segment missing from a browser test's answer).
# The tests check what the answer holds, not how fast it came (bench/event_budget.py measures
# that), so the test stack gives the demo providers and the budget room: a hang or a 1 s answer
# still misses them.
TEST_PROVIDER_TIMEOUT_MS = 700
TEST_BUDGET_MS = 800


def _test_catalog(directory: Path) -> Path:
    catalog = json.loads(DEMO_CATALOG.read_text())
    for provider in catalog.get("provider", []):
        provider["timeoutMs"] = TEST_PROVIDER_TIMEOUT_MS
    path = directory / "test_catalog.json"
    path.write_text(json.dumps(catalog))
    return path


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    dcs_port, moto_port, sim_port = _stack_ports()
    stack = LocalStack(
        dcs_port=dcs_port,
        moto_port=moto_port,
        sim_port=sim_port,
        quiet=True,
        extra_env={"RTDCS_RT_BUDGET_MS": str(TEST_BUDGET_MS)},
        catalog_path=_test_catalog(tmp_path_factory.mktemp("stack")),
    )
    try:
        stack.start()
    except Exception as exc:
        pytest.fail(f"local stack did not start: {exc} (logs: {stack.log_dir})", pytrace=False)
    try:
        yield stack
    finally:
        dead = stack.dead_children()
        stack.stop()
        if dead:
            print(
                f"\nlocal stack: {', '.join(dead)} died during the session; logs in {stack.log_dir}"
            )


def _require_alive(stack: LocalStack) -> None:
    dead = stack.dead_children()
    if dead:
        tails = "\n".join(f"--- {name} ---\n{stack.log_tail(name, 2000)}" for name in dead)
        pytest.fail(f"local stack process(es) died: {', '.join(dead)}\n{tails}", pytrace=False)


@pytest.fixture
def sim(local_stack: LocalStack) -> Iterator[SimulatorClient]:
    _require_alive(local_stack)
    client = SimulatorClient(local_stack.sim_url)
    client.reset()
    yield client
    client.reset()


@pytest.fixture
def stack_dynamodb(local_stack: LocalStack) -> Any:
    _require_alive(local_stack)
    return local_stack.dynamodb()


@pytest.fixture
def stack_http() -> Iterator[requests.Session]:
    session = requests.Session()
    session.trust_env = False  # no proxies, no .netrc: loopback only
    yield session
    session.close()
