"""The S2S queue handler: POSTs queued real-time messages to S2S destinations.

The queue is wired in ``chalicelib/routes/s2s.py``; dead letters: ``RTDCS_S2S_DLQ_URL``. The
collaborators are built lazily on the first message and reused by the container; tests may
``install`` their own.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

from botocore.config import Config

from chalicelib import aws
from chalicelib.config import Settings
from chalicelib.destinations.compiled import DestinationCatalog, destinations_for
from chalicelib.destinations.s2s_delivery import (
    DEFAULT_RETRY_DELAY_S,
    DEFAULT_TIMEOUT_S,
    DeadLetters,
    S2SConsumer,
    S2SSender,
)
from chalicelib.env_cached import EnvCached
from chalicelib.providers.http_session import AddressGuard, make_session
from chalicelib.providers.secrets import SecretResolver
from chalicelib.services import get_services

logger = logging.getLogger("rtdcs.s2s")

_SQS_CONFIG = Config(connect_timeout=1, read_timeout=3, retries={"max_attempts": 3})


@dataclass
class S2SRuntime:
    consumer: S2SConsumer


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "")
    return float(raw) if raw.strip() else default


def build_runtime() -> S2SRuntime:
    settings = Settings.from_env()
    dlq_url = os.environ.get("RTDCS_S2S_DLQ_URL", "")
    if not dlq_url:
        raise RuntimeError("RTDCS_S2S_DLQ_URL is not set")
    sqs = aws.client("sqs", config=_SQS_CONFIG)
    secrets = SecretResolver(ssm_client=lambda: aws.client("ssm", config=_SQS_CONFIG))
    sender = S2SSender(
        make_session(pool_size=8, guard=AddressGuard(settings.provider_http_hosts)),
        secrets,
        http_hosts=settings.provider_http_hosts,
        timeout_s=_env_float("RTDCS_S2S_TIMEOUT_SECONDS", DEFAULT_TIMEOUT_S),
        retry_delay_s=_env_float("RTDCS_S2S_RETRY_DELAY_SECONDS", DEFAULT_RETRY_DELAY_S),
    )

    def catalog() -> DestinationCatalog:
        return destinations_for(get_services().catalog.get())

    return S2SRuntime(S2SConsumer(catalog, sender, DeadLetters(sqs, dlq_url),
                                  partner_id=settings.partner_id))


def _runtime_key() -> tuple[object, ...]:
    return (Settings.from_env(), os.environ.get("AWS_ENDPOINT_URL"),
            os.environ.get("RTDCS_S2S_DLQ_URL"), os.environ.get("RTDCS_S2S_TIMEOUT_SECONDS"),
            os.environ.get("RTDCS_S2S_RETRY_DELAY_SECONDS"))


_runtime = EnvCached(build_runtime, _runtime_key)
get_runtime = _runtime.get
install = _runtime.install


def deliver(event: Any) -> None:
    report = get_runtime().consumer.handle([record.body for record in event])
    logger.info(
        "s2s batch: delivered=%d dead_lettered=%d dropped=%d posts=%d",
        report.delivered, report.dead_lettered, report.dropped, report.posts,
    )
