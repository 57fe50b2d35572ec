"""Sending a failed profile write to the SQS spool queue (``RTDCS_SPOOL_QUEUE_URL``)."""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any, Callable

from chalicelib.store.profiles import ProfileChanges

logger = logging.getLogger("rtdcs.spool")


class SqsSpool:
    """``send`` queues one event's changes; raises if SQS does not take them."""

    def __init__(
        self,
        client_factory: Callable[[], Any],
        queue_url: str,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._client_factory = client_factory
        self._client: Any = None
        self._queue_url = queue_url
        self._now = wall_clock
        self._lock = threading.Lock()

    def _sqs(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._client_factory()
        return self._client

    def send(self, uuid: str, changes: ProfileChanges, reason: str) -> None:
        # Imported once a write has failed: not on every cold start.
        from chalicelib.spool.codec import encode

        body = encode(uuid, changes, reason, self._now())
        self._sqs().send_message(
            QueueUrl=self._queue_url,
            MessageBody=body,
            MessageAttributes={
                "event_id": {"DataType": "String", "StringValue": changes.event_id or "-"},
            },
        )
        logger.warning(
            json.dumps({"spooled": changes.event_id, "reason": reason}, separators=(",", ":"))
        )


_client_lock = threading.Lock()
_sqs_client: Any = None


def sqs_client() -> Any:
    """One SQS client per container, short timeouts; the endpoint follows botocore's
    ``AWS_ENDPOINT_URL`` variables (moto locally)."""
    global _sqs_client
    if _sqs_client is None:
        with _client_lock:
            if _sqs_client is None:
                from botocore.config import Config

                from chalicelib.runtime import aws

                config = Config(
                    connect_timeout=1,
                    read_timeout=2,
                    retries={"max_attempts": 2, "mode": "standard"},
                )
                _sqs_client = aws.client("sqs", config=config)
    return _sqs_client



def reset_for_tests() -> None:
    global _sqs_client
    with _client_lock:
        _sqs_client = None
