"""SSRF at call time (issue 13, defect 4): a DNS name is resolved once per connection, every
address it resolves to is checked, and the connection goes to exactly the checked address.

The resolver is injected, so no test touches real DNS: ``rebind.test`` plays a provider whose
name resolves to an internal address (here the loopback simulator)."""

from __future__ import annotations

import socket
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterator, Sequence

import pytest
import requests

from chalicelib.providers.definition import ProviderDef
from chalicelib.providers.fanout import CallPlan, Fanout, ProviderCaller
from chalicelib.providers.http_session import (
    AddressGuard,
    BlockedAddress,
    BlockedAddressError,
    is_blocked_address,
    make_pool,
    make_session,
)
from devtools.provider_sim import ProviderSimulator


class FakeDns:
    """Answers getaddrinfo from a table and counts the lookups."""

    def __init__(self, table: dict[str, Sequence[str]]) -> None:
        self.table = table
        self.lookups: list[str] = []

    def __call__(self, host: str, port: int, family: int = 0, kind: int = 0) -> list[Any]:
        self.lookups.append(host)
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "unknown name")
        return [(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                 (ip, port)) for ip in self.table[host]]


@pytest.fixture(scope="module")
def sim() -> Iterator[ProviderSimulator]:
    with ProviderSimulator(port=0) as simulator:
        yield simulator


def _provider(url: str) -> ProviderDef:
    return ProviderDef(pid=1, name="p", data_source_id=901, url=url, timeout_ms=200,
                       id_mode="uuid")


@pytest.mark.parametrize("answers", [["127.0.0.1"], ["169.254.169.254"], ["10.0.0.7"],
                                     ["fd00::1"], ["8.8.8.8", "192.168.0.1"]])
def test_a_name_resolving_to_any_internal_address_is_refused(answers: list[str]) -> None:
    guard = AddressGuard(resolve=FakeDns({"rebind.test": answers}))
    with pytest.raises(BlockedAddress):
        guard.addresses("rebind.test", 443)


def test_public_answers_and_exempt_names_pass() -> None:
    dns = FakeDns({"rt.example": ["8.8.8.8", "2001:4860:4860::8888"], "sim.local": ["127.0.0.1"]})
    assert [a[4][0] for a in AddressGuard(resolve=dns).addresses("rt.example", 443)] == [
        "8.8.8.8", "2001:4860:4860::8888"]
    assert AddressGuard(("sim.local",), resolve=dns).addresses("sim.local", 80)[0][4][0] == (
        "127.0.0.1")


def test_the_call_goes_to_the_checked_address_after_one_lookup(sim: ProviderSimulator) -> None:
    sim.configure("pinned", {"segments": ["s"]})
    dns = FakeDns({"pinned.test": ["127.0.0.1"]})
    session = make_session(guard=AddressGuard(("127.0.0.1",), resolve=dns))
    url = f"http://pinned.test:{sim.port}/providers/pinned"
    answer = session.post(url, data=b"{}", timeout=2)
    # pinned.test exists only in the fake table: the socket went to the address checked.
    assert answer.status_code == 200 and dns.lookups == ["pinned.test"]
    assert sim.calls()["pinned"] == 1


def test_a_refused_name_is_never_connected_to(sim: ProviderSimulator) -> None:
    sim.configure("internal", {"segments": ["s"]})
    before = sim.calls().get("internal", 0)
    dns = FakeDns({"rebind.test": ["127.0.0.1"]})
    session = make_session(guard=AddressGuard(resolve=dns))
    with pytest.raises(requests.ConnectionError) as caught:
        session.post(f"http://rebind.test:{sim.port}/providers/internal", data=b"{}", timeout=2)
    assert is_blocked_address(caught.value)
    assert sim.calls().get("internal", 0) == before


def test_the_fanout_names_the_refusal_and_calls_nothing(sim: ProviderSimulator) -> None:
    sim.configure("rebind", {"segments": ["s"]})
    before = sim.calls().get("rebind", 0)
    dns = FakeDns({"rebind.test": ["127.0.0.1"]})
    caller = ProviderCaller(make_pool(guard=AddressGuard(resolve=dns)))
    with ThreadPoolExecutor(max_workers=2) as executor:
        # rebind.test may use plain http (the save-time rule), but not reach loopback.
        fanout = Fanout(executor, caller, http_hosts=("rebind.test",))
        plan = CallPlan(_provider(f"http://rebind.test:{sim.port}/providers/rebind"), b"{}")
        outcome = fanout.start([plan], 500).collect()[0]
    assert (outcome.kind, outcome.detail) == ("error", "blocked_address")
    assert sim.calls().get("rebind", 0) == before


def test_the_default_session_exempts_nothing(sim: ProviderSimulator) -> None:
    with pytest.raises(requests.ConnectionError) as caught:
        make_session().post(f"http://127.0.0.1:{sim.port}/providers/x", data=b"{}", timeout=2)
    assert is_blocked_address(caught.value)


# The providers' urllib3 pool (the API's path) holds the same guard as the S2S session above.


def test_the_pool_calls_the_checked_address_after_one_lookup(sim: ProviderSimulator) -> None:
    sim.configure("pinned-pool", {"segments": ["s"]})
    dns = FakeDns({"pinned.test": ["127.0.0.1"]})
    pool = make_pool(guard=AddressGuard(("127.0.0.1",), resolve=dns))
    answer = pool.urlopen("POST", f"http://pinned.test:{sim.port}/providers/pinned-pool",
                          body=b"{}", timeout=2)
    assert answer.status == 200 and dns.lookups == ["pinned.test"]
    assert sim.calls()["pinned-pool"] == 1


def test_the_pool_never_connects_to_a_refused_name(sim: ProviderSimulator) -> None:
    sim.configure("internal-pool", {"segments": ["s"]})
    dns = FakeDns({"rebind.test": ["127.0.0.1"]})
    with pytest.raises(BlockedAddressError) as caught:
        make_pool(guard=AddressGuard(resolve=dns)).urlopen(
            "POST", f"http://rebind.test:{sim.port}/providers/internal-pool", body=b"{}",
            timeout=2)
    assert is_blocked_address(caught.value)
    assert sim.calls().get("internal-pool", 0) == 0


def test_the_default_pool_exempts_nothing(sim: ProviderSimulator) -> None:
    with pytest.raises(BlockedAddressError):
        make_pool().urlopen("POST", f"http://127.0.0.1:{sim.port}/providers/x", body=b"{}",
                            timeout=2)
