"""provider-contract.md 1-2: auth objects, signing, secret references, per-version extras."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.providers.auth import (
    AuthConfigError,
    AuthSpec,
    auth_headers,
    hmac_signature,
    parse_auth,
    verify_hmac,
)
from chalicelib.providers.engine import default_ssm_client
from chalicelib.providers.extras import NO_EXTRAS, ExtrasLookup, extras_from_raw
from chalicelib.providers.secrets import SecretResolver, SecretUnavailable, parse_ref
from chalicelib.rules.catalog import compile_catalog

SECRET = "s3cr3t-value-9f2"


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class FakeSsm:
    """Counts GetParameter calls; ``fail`` makes them raise."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.calls: list[str] = []
        self.fail = False

    def get_parameter(self, Name: str, WithDecryption: bool) -> dict[str, Any]:  # noqa: N803
        self.calls.append(Name)
        assert WithDecryption
        if self.fail or Name not in self.values:
            raise RuntimeError(f"ParameterNotFound {Name}")
        return {"Parameter": {"Name": Name, "Value": self.values[Name]}}


def test_hmac_signature_is_base64_hmac_sha256_of_the_raw_body() -> None:
    body = b'{"AAM_UUID":"1"}'
    expected = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
    assert hmac_signature(SECRET, body) == expected
    spec = parse_auth({"type": "hmac", "algorithm": "sha256", "header": "X-Sig",
                       "secretRef": "env:P1"})
    assert auth_headers(spec, SECRET, body) == {"X-Sig": expected}  # type: ignore[arg-type]
    assert verify_hmac(SECRET, body, expected)
    assert not verify_hmac(SECRET, body + b" ", expected)
    assert not verify_hmac(SECRET + "x", body, expected)


def test_bearer_header() -> None:
    spec = parse_auth({"type": "bearer", "secretRef": "env:P1"})
    assert spec == AuthSpec("bearer", "env:P1")
    assert auth_headers(spec, SECRET, b"{}") == {"Authorization": f"Bearer {SECRET}"}


@pytest.mark.parametrize("raw", [
    "hmac", {"type": "hmac"}, {"type": "basic", "secretRef": "env:A"},
    {"type": "hmac", "algorithm": "md5", "secretRef": "env:A"},
    {"type": "hmac", "header": "Bad Header", "secretRef": "env:A"},
    {"type": "hmac", "header": "Content-Type", "secretRef": "env:A"},
])
def test_malformed_auth_is_refused(raw: Any) -> None:
    with pytest.raises(AuthConfigError):
        parse_auth(raw)


def test_auth_defaults() -> None:
    assert parse_auth(None) is None
    spec = parse_auth({"type": "hmac", "secretRef": " ssm:/p "})
    assert spec == AuthSpec("hmac", "ssm:/p", "X-Signature", "sha256")


@pytest.mark.parametrize(("ref", "parsed"), [
    ("env:PROVIDER_1", ("env", "PROVIDER_1")), ("PROVIDER_1", ("env", "PROVIDER_1")),
    ("ssm:/rtdcs/p1", ("ssm", "/rtdcs/p1")), ("/rtdcs/p1", ("ssm", "/rtdcs/p1")),
    ("ssm:name", ("ssm", "name")),
])
def test_secret_refs(ref: str, parsed: tuple[str, str]) -> None:
    assert parse_ref(ref) == parsed


def test_env_secret_is_read_at_each_call(monkeypatch: pytest.MonkeyPatch) -> None:
    resolver = SecretResolver()
    monkeypatch.setenv("RT_TEST_SECRET", SECRET)
    assert resolver.resolve("env:RT_TEST_SECRET") == SECRET
    monkeypatch.setenv("RT_TEST_SECRET", "rotated")
    assert resolver.resolve("env:RT_TEST_SECRET") == "rotated"
    monkeypatch.delenv("RT_TEST_SECRET")
    with pytest.raises(SecretUnavailable):
        resolver.resolve("env:RT_TEST_SECRET")


def test_ssm_secret_cached_for_its_ttl_then_fetched_again() -> None:
    clock = FakeClock()
    ssm = FakeSsm({"/rtdcs/p1": SECRET})
    resolver = SecretResolver(lambda: ssm, clock=clock, ttl_seconds=300)
    assert resolver.resolve("ssm:/rtdcs/p1") == SECRET
    clock.now += 299
    assert resolver.resolve("ssm:/rtdcs/p1") == SECRET
    assert ssm.calls == ["/rtdcs/p1"]
    ssm.values["/rtdcs/p1"] = "rotated"
    clock.now += 2
    assert resolver.resolve("ssm:/rtdcs/p1") == "rotated"
    assert len(ssm.calls) == 2


def test_ssm_failure_keeps_serving_the_old_value_and_does_not_hammer() -> None:
    clock = FakeClock()
    ssm = FakeSsm({"/p": SECRET})
    resolver = SecretResolver(lambda: ssm, clock=clock, ttl_seconds=60, retry_seconds=10)
    resolver.resolve("/p")
    ssm.fail = True
    clock.now += 61
    assert resolver.resolve("/p") == SECRET  # stale beats nothing
    assert resolver.resolve("/p") == SECRET
    assert len(ssm.calls) == 2  # one failed refresh, then it waits retry_seconds
    clock.now += 10
    resolver.resolve("/p")
    assert len(ssm.calls) == 3


def test_missing_parameter_is_remembered() -> None:
    clock = FakeClock()
    ssm = FakeSsm({})
    resolver = SecretResolver(lambda: ssm, clock=clock, retry_seconds=10)
    for _ in range(3):
        with pytest.raises(SecretUnavailable) as caught:
            resolver.resolve("ssm:/missing")
        assert "/missing" in str(caught.value)
    assert ssm.calls == ["/missing"]


def test_failures_carry_no_secret_and_no_exception_chain() -> None:
    clock = FakeClock()
    ssm = FakeSsm({"/p": SECRET})
    resolver = SecretResolver(lambda: ssm, clock=clock, ttl_seconds=1, retry_seconds=1)
    assert resolver.resolve("/p") == SECRET
    ssm.fail = True
    fresh = SecretResolver(lambda: ssm, clock=clock)
    with pytest.raises(SecretUnavailable) as caught:
        fresh.resolve("/p")
    assert SECRET not in str(caught.value) and SECRET not in repr(caught.value)
    # No chained SSM exception that a logger could print along with it.
    assert caught.value.__cause__ is None and caught.value.__context__ is None


def test_ssm_client_is_created_only_when_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    created: list[int] = []

    def factory() -> FakeSsm:
        created.append(1)
        return FakeSsm({"/p": SECRET})

    resolver = SecretResolver(factory, clock=FakeClock())
    monkeypatch.setenv("RT_TEST_SECRET", SECRET)
    resolver.resolve("env:RT_TEST_SECRET")
    assert created == []
    resolver.resolve("ssm:/p")
    resolver.resolve("ssm:/p")
    assert created == [1]


def test_default_ssm_client_reads_a_secure_string_from_moto() -> None:
    with mock_aws():
        boto3.client("ssm").put_parameter(Name="/rtdcs/providers/1", Value=SECRET,
                                          Type="SecureString")
        resolver = SecretResolver(default_ssm_client, clock=FakeClock())
        assert resolver.resolve("ssm:/rtdcs/providers/1") == SECRET


def _catalog(version: int, providers: list[dict[str, Any]]) -> Any:
    return compile_catalog({"provider": providers}, version)


def _provider(pid: int, **extra: Any) -> dict[str, Any]:
    return {"pid": pid, "name": f"p{pid}", "dataSourceId": 900 + pid,
            "url": "https://p.example", **extra}


def test_extras_from_the_raw_catalog_rebuilt_per_version() -> None:
    auth = {"type": "hmac", "secretRef": "env:P1"}
    current = [_catalog(1, [_provider(1, auth=auth, maxQps=5), _provider(2)])]
    lookup = ExtrasLookup(lambda: current[0])
    first = current[0].providers
    assert lookup(first[0]).auth == AuthSpec("hmac", "env:P1")
    assert lookup(first[0]).max_qps == 5
    assert lookup(first[1]) == NO_EXTRAS
    current[0] = _catalog(2, [_provider(1, maxQps=1)])
    second = current[0].providers
    assert lookup(second[0]).auth is None and lookup(second[0]).max_qps == 1


def test_extras_lookup_reads_the_catalog_only_for_a_new_snapshot() -> None:
    reads: list[int] = []
    catalog = _catalog(1, [_provider(1, maxQps=3)])

    def get() -> Any:
        reads.append(1)
        return catalog

    lookup = ExtrasLookup(get)
    for _ in range(5):
        assert lookup(catalog.providers[0]).max_qps == 3
    assert reads == [1]  # the per-event path never touches the catalog cache


def test_new_version_hook_sees_the_secret_refs() -> None:
    seen: list[dict[int, Any]] = []
    catalog = _catalog(4, [_provider(1, auth={"type": "bearer", "secretRef": "ssm:/b"}),
                           _provider(2)])
    lookup = ExtrasLookup(lambda: catalog, seen.append)
    lookup(catalog.providers[1])
    lookup(catalog.providers[0])
    assert len(seen) == 1 and seen[0][1].auth == AuthSpec("bearer", "ssm:/b")


def test_malformed_extras_carry_a_problem() -> None:
    assert extras_from_raw(_provider(1, auth={"type": "nope"})).problem
    assert extras_from_raw(_provider(1, maxQps="lots")).problem
    assert extras_from_raw(_provider(1, maxQps=None)).problem is None


class Deferred:
    """A background runner that runs jobs only when told to."""

    def __init__(self) -> None:
        self.jobs: list[Any] = []

    def __call__(self, job: Any) -> None:
        self.jobs.append(job)

    def run(self) -> None:
        jobs, self.jobs = self.jobs, []
        for job in jobs:
            job()


def test_prepare_creates_the_client_now_and_fetches_in_the_background() -> None:
    ssm = FakeSsm({"/p": SECRET})
    created: list[int] = []
    later = Deferred()

    def factory() -> FakeSsm:
        created.append(1)
        return ssm

    resolver = SecretResolver(factory, clock=FakeClock(), background=later)
    resolver.prepare(["ssm:/p", "env:NOT_SSM", "nonsense ref"])
    assert created == [1] and ssm.calls == []  # client ready, fetch queued
    later.run()
    assert ssm.calls == ["/p"]
    assert resolver.resolve("ssm:/p") == SECRET and ssm.calls == ["/p"]
    resolver.prepare(["ssm:/p"])  # already known: nothing to do
    assert later.jobs == []


def test_expired_value_serves_while_refreshed_in_the_background() -> None:
    clock = FakeClock()
    ssm = FakeSsm({"/p": SECRET})
    later = Deferred()
    resolver = SecretResolver(lambda: ssm, clock=clock, ttl_seconds=60, background=later)
    assert resolver.resolve("/p") == SECRET  # the first value is fetched inline
    ssm.values["/p"] = "rotated"
    clock.now += 61
    assert resolver.resolve("/p") == SECRET  # stale, never waits on SSM
    assert resolver.resolve("/p") == SECRET
    assert len(later.jobs) == 1  # one refresh queued, not one per call
    later.run()
    assert resolver.resolve("/p") == "rotated"
    assert ssm.calls == ["/p", "/p"]
