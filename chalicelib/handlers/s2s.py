"""The S2S queue handler: POSTs queued real-time messages to S2S destinations.

The queue is wired in ``chalicelib/routes/s2s.py``; dead letters: ``RTDCS_S2S_DLQ_URL``. The
collaborators are built lazily on the first message and reused by the container; tests may
``install`` their own.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from botocore.config import Config

from chalicelib.config import Settings, WorkerSettings, aws_endpoint_url
from chalicelib.destinations.compiled import DestinationCatalog, destinations_for
from chalicelib.destinations.s2s_delivery import (
    DeadLetters,
    S2SConsumer,
    S2SSender,
)
from chalicelib.providers.http_session import AddressGuard, make_session
from chalicelib.providers.secrets import SecretResolver
from chalicelib.runtime import aws
from chalicelib.runtime.catalog_cache import CatalogCache
from chalicelib.runtime.env_cached import EnvCached
from chalicelib.store.catalog import CatalogRepository
from chalicelib.store.dynamo import table

logger = logging.getLogger("rtdcs.s2s")

_SQS_CONFIG = Config(connect_timeout=1, read_timeout=3, retries={"max_attempts": 3})


@dataclass
class S2SRuntime:
    consumer: S2SConsumer


def build_runtime() -> S2SRuntime:
    settings = Settings.from_env()
    worker = WorkerSettings.from_env()
    dlq_url = worker.s2s_dlq_url
    if not dlq_url:
        raise RuntimeError("RTDCS_S2S_DLQ_URL is not set")
    sqs = aws.client("sqs", config=_SQS_CONFIG)
    secrets = SecretResolver(ssm_client=lambda: aws.client("ssm", config=_SQS_CONFIG))
    sender = S2SSender(
        make_session(pool_size=8, guard=AddressGuard(settings.provider_http_hosts)),
        secrets,
        http_hosts=settings.provider_http_hosts,
        timeout_s=worker.s2s_timeout_s,
        retry_delay_s=worker.s2s_retry_delay_s,
    )

    # Only the catalog: not the /event wiring (profiles, providers, id map) it does not use.
    catalog_cache = CatalogCache(CatalogRepository(table(settings.catalog_table)),
                                 settings.catalog_refresh_seconds)

    def catalog() -> DestinationCatalog:
        return destinations_for(catalog_cache.get())

    return S2SRuntime(S2SConsumer(catalog, sender, DeadLetters(sqs, dlq_url),
                                  partner_id=settings.partner_id))


def _runtime_key() -> tuple[object, ...]:
    return (Settings.from_env(), WorkerSettings.from_env(), aws_endpoint_url())


_runtime = EnvCached(build_runtime, _runtime_key)
get_runtime = _runtime.get
install = _runtime.install


def deliver(event: Any) -> None:
    report = get_runtime().consumer.handle([record.body for record in event])
    logger.info(
        "s2s batch: delivered=%d dead_lettered=%d dropped=%d posts=%d",
        report.delivered, report.dead_lettered, report.dropped, report.posts,
    )
