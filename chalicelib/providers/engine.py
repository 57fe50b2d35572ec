"""Wiring of the provider engine for one container (called from ``services.build_services``).

The executor and pooled session are shared for the container's life (``services``); the
breakers, QPS windows, secret cache and stats built here live as long as the ``Services``
object, which in AWS is the container's life (tests get fresh ones per ``services.reset``).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Sequence

from chalicelib.providers.breaker import BreakerBoard
from chalicelib.providers.extras import ExtrasLookup, ProviderExtras
from chalicelib.providers.fanout import Fanout, ProviderCaller
from chalicelib.providers.qps import QpsLimiter
from chalicelib.providers.secrets import SecretResolver
from chalicelib.providers.stats import StatsRegistry
from chalicelib.rules.catalog import CompiledCatalog

SECRET_TTL_SECONDS = 300.0


def default_ssm_client() -> Any:
    """An SSM client with short timeouts (created on the first ``ssm:`` secret only).

    The endpoint follows botocore's ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_SSM``, so the
    local stack and tests point it at moto.
    """
    from botocore.config import Config

    from chalicelib.runtime import aws

    config = Config(connect_timeout=1, read_timeout=1, retries={"max_attempts": 2})
    return aws.client("ssm", config=config)


def build_fanout(
    executor: ThreadPoolExecutor,
    caller: ProviderCaller,
    http_hosts: Sequence[str],
    catalog: Callable[[], CompiledCatalog],
    ssm_client: Callable[[], Any] = default_ssm_client,
    clock: Callable[[], float] = time.monotonic,
) -> Fanout:
    breakers = BreakerBoard(clock=clock)
    secrets = SecretResolver(
        ssm_client, clock=clock, ttl_seconds=SECRET_TTL_SECONDS, background=executor.submit
    )

    def prepare_secrets(table: dict[int, ProviderExtras]) -> None:
        secrets.prepare(e.auth.secret_ref for e in table.values() if e.auth is not None)

    return Fanout(
        executor,
        caller,
        clock,
        http_hosts,
        stats=StatsRegistry(breakers.snapshot),
        breakers=breakers,
        limiter=QpsLimiter(clock),
        extras=ExtrasLookup(catalog, prepare_secrets),
        secrets=secrets,
    )
