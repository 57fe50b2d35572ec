"""The spool queue handler: applies profile writes that failed on the event path.

The queue is wired in ``chalicelib/routes/spool.py``; its URL is ``RTDCS_SPOOL_QUEUE_URL``.
Each message is applied idempotently (``chalicelib/spool``).
When some messages of a batch fail, the ones that succeeded are deleted and the handler
raises, so SQS redelivers only the failures; after ``MAX_RECEIVE_COUNT`` receives the queue's
redrive policy moves a message to the dead-letter queue, and the last failure's log line says
why (``to_dead_letter_queue: true``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.config import Settings, aws_endpoint_url
from chalicelib.runtime import observability
from chalicelib.runtime.env_cached import EnvCached
from chalicelib.spool.queue import sqs_client
from chalicelib.spool.replay import SpoolRecord, replay_batch
from chalicelib.store.dynamo import profile_table, write_table
from chalicelib.store.profiles import ProfileRepository


class SpoolBatchFailed(RuntimeError):
    """Some messages of the batch failed; SQS will deliver them again."""


@dataclass
class SpoolRuntime:
    profiles: ProfileRepository
    metrics: Any
    sqs: Any
    queue_url: str


def build_runtime() -> SpoolRuntime:
    settings = Settings.from_env()
    sink = observability.metrics()
    profiles = ProfileRepository(
        profile_table(settings.profiles_table),
        write_table=write_table(settings.profiles_table),
        metrics=sink,
    )
    return SpoolRuntime(profiles, sink, sqs_client(), settings.spool_queue_url)


_runtime = EnvCached(build_runtime, lambda: (Settings.from_env(), aws_endpoint_url()))
get_runtime = _runtime.get
install = _runtime.install


def _record(raw: dict[str, Any]) -> SpoolRecord:
    attributes = raw.get("attributes") or {}
    return SpoolRecord(
        message_id=str(raw.get("messageId", "")),
        body=str(raw.get("body", "")),
        receive_count=int(attributes.get("ApproximateReceiveCount", "1") or 1),
        receipt_handle=str(raw.get("receiptHandle", "")),
    )


def replay(event: Any) -> dict[str, int]:
    runtime = get_runtime()
    records = [_record(record.to_dict()) for record in event]
    report = replay_batch(records, runtime.profiles, runtime.metrics)
    runtime.metrics.flush()
    if report.failures:
        done = [r for r in records if r.message_id in report.outcomes and r.receipt_handle]
        if done and runtime.queue_url:
            runtime.sqs.delete_message_batch(
                QueueUrl=runtime.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": r.receipt_handle}
                         for i, r in enumerate(done)],
            )
        raise SpoolBatchFailed(
            f"{len(report.failures)} of {len(records)} spool messages failed: "
            + ", ".join(sorted(set(report.failures.values())))
        )
    return {"applied": len(report.outcomes)}
