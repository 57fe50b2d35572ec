"""The S2S queue's producer, used by ``/event`` and ``/optout`` (the consumer that POSTs to
partners is ``s2s_delivery.py``, another Lambda's code: not loaded on the API's cold start)."""

from __future__ import annotations

from typing import Any, Sequence

_SQS_BATCH = 10


class S2SQueue:
    """The producer side: queue message bodies on the S2S queue (batches of 10)."""

    def __init__(self, sqs: Any, queue_url: str) -> None:
        self._sqs = sqs
        self._queue_url = queue_url

    def send(self, bodies: Sequence[str]) -> None:
        for start in range(0, len(bodies), _SQS_BATCH):
            chunk = bodies[start:start + _SQS_BATCH]
            answer = self._sqs.send_message_batch(
                QueueUrl=self._queue_url,
                Entries=[{"Id": str(i), "MessageBody": b} for i, b in enumerate(chunk)],
            )
            if answer.get("Failed"):
                raise RuntimeError(f"{len(answer['Failed'])} S2S messages not queued")
