"""Test helpers: DynamoDB/SQS faults through botocore's event system, and draining the spool.

Faults are injected on a client's own event emitter (``client.meta.events``), so only that
client sees them and no code is patched:
* ``before-call`` handlers that return a response short-circuit the call: the request never
  reaches the service (a write that did *not* happen);
* ``after-call`` handlers turn a successful answer into a 500 (a write that *did* happen but
  whose answer was lost: what a retry must not count twice).
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse

from chalicelib.store.packed import decode_guard

THROTTLE = ("ProvisionedThroughputExceededException", 400)
ERRORS = (
    THROTTLE,
    ("ThrottlingException", 400),
    ("InternalServerError", 500),
    ("ServiceUnavailable", 503),
)


def error_response(code: str, status: int) -> tuple[AWSResponse, dict[str, Any]]:
    http = AWSResponse("https://dynamodb.invalid/", status, {}, None)
    parsed = {
        "Error": {"Code": code, "Message": "injected fault"},
        "ResponseMetadata": {"HTTPStatusCode": status, "RetryAttempts": 0},
    }
    return http, parsed


@dataclass
class FaultInjector:
    """Fails a share of ``operation`` calls on ``client`` (seeded, so runs repeat)."""

    client: Any
    operation: str = "PutItem"
    fail_rate: float = 0.3
    lost_answer_rate: float = 0.0  # of the calls that go through: answer replaced by a 500
    # Share of *events* whose every write attempt fails (picked by a hash of the event id,
    # the String Set value of the update): DynamoDB refusing one event for its whole budget.
    sticky_rate: float = 0.0
    seed: int = 7
    predicate: Callable[[dict[str, Any]], bool] = lambda params: True
    calls: int = 0
    failed: int = 0
    lost_answers: int = 0
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        service = self.client.meta.service_model.service_id.hyphenize()
        self._before = f"before-call.{service}.{self.operation}"
        self._after = f"after-call.{service}.{self.operation}"

    def __enter__(self) -> "FaultInjector":
        # unique ids are per emitter, not per event name: one for each handler
        self.client.meta.events.register(self._before, self._before_call,
                                         unique_id=f"{id(self)}-before")
        self.client.meta.events.register(self._after, self._after_call,
                                         unique_id=f"{id(self)}-after")
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.meta.events.unregister(self._before, unique_id=f"{id(self)}-before")
        self.client.meta.events.unregister(self._after, unique_id=f"{id(self)}-after")

    def _before_call(self, params: dict[str, Any], **kwargs: Any) -> Any:
        if not self.predicate(params):
            return None
        self.calls += 1
        if self.sticky_rate > 0 and _bucket(_event_id(params)) < self.sticky_rate:
            self.failed += 1
            return error_response(*THROTTLE)
        if self._rng.random() < self.fail_rate:
            self.failed += 1
            return error_response(*self._rng.choice(ERRORS))
        return None

    def _after_call(self, http_response: Any, parsed: dict[str, Any], **kwargs: Any) -> None:
        if http_response.status_code >= 300 or self.lost_answer_rate <= 0:
            return
        if self._rng.random() < self.lost_answer_rate:
            self.lost_answers += 1
            http_response.status_code = 500
            parsed.clear()
            parsed.update(error_response("InternalServerError", 500)[1])


def _event_id(params: dict[str, Any]) -> str:
    """The event id of a profile PutItem (the last entry of its replay guard ``g``), or ''."""
    body = params.get("body") or b"{}"
    document = json.loads(body.decode() if isinstance(body, bytes) else body)
    guard = document.get("Item", {}).get("g", {}).get("B")
    if not guard:
        return ""
    entries = decode_guard(base64.b64decode(guard)).entries
    return entries[0][1] if entries else ""


def _bucket(key: str) -> float:
    """A stable number in [0, 1) for ``key`` (not Python's salted hash)."""
    import zlib

    return (zlib.crc32(key.encode()) % 10_000) / 10_000 if key else 1.0


def sqs_event(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The Lambda event SQS would deliver for ``messages`` (from ReceiveMessage)."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {
                    "ApproximateReceiveCount": m.get("Attributes", {}).get(
                        "ApproximateReceiveCount", "1"
                    )
                },
                "messageAttributes": {},
                "eventSource": "aws:sqs",
            }
            for m in messages
        ]
    }


def receive(sqs: Any, queue_url: str, visibility_timeout: int = 0) -> list[dict[str, Any]]:
    answer = sqs.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=10,
        VisibilityTimeout=visibility_timeout,
        WaitTimeSeconds=0,
        MessageSystemAttributeNames=["ApproximateReceiveCount"],
    )
    return list(answer.get("Messages", []))


@dataclass
class DrainReport:
    batches: int = 0
    failed_batches: int = 0
    applied: int = 0
    errors: list[str] = field(default_factory=list)  # why batches failed (for messages)


def drain(
    sqs: Any,
    queue_url: str,
    invoke: Callable[[dict[str, Any]], Any],
    max_batches: int = 500,
) -> DrainReport:
    """Deliver the queue to the handler the way Lambda's SQS poller does: a batch that
    returns is deleted; a batch that raises stays (the handler deleted its successes) and
    comes back. Bounded by ``max_batches``."""
    report = DrainReport()
    while report.batches < max_batches:
        messages = receive(sqs, queue_url)
        if not messages:
            return report
        report.batches += 1
        try:
            invoke(sqs_event(messages))
        except Exception as exc:  # noqa: BLE001 - the poller only sees "the batch failed"
            report.failed_batches += 1
            report.errors.append(f"{type(exc).__name__}: {exc}"[:300])
            continue
        report.applied += len(messages)
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                     for i, m in enumerate(messages)],
        )
    raise AssertionError(f"spool not drained after {max_batches} batches")


def bodies(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [json.loads(m["Body"]) for m in messages]
