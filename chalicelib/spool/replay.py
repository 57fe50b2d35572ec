"""Applying a batch of spool messages (the queue handler's logic, without Chalice or SQS).

Each message is decoded and applied with ``ProfileRepository.replay``, which is idempotent:
realization stamps are unique Number Set elements (ADD twice = once), SET/REMOVE land on the
same values, and the one non-idempotent change, the realization counter ``ADD``, is guarded
by the event id. So a message delivered twice, or retried after a partial failure, changes
the profile once.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Protocol

from chalicelib.spool.codec import BadMessage, decode
from chalicelib.store.profiles import ProfileChanges, error_reason

logger = logging.getLogger("rtdcs.spool")

_OUTCOME_METRICS = {
    "replayed": "SpoolReplayed",
    "merged": "SpoolMerged",
    "duplicate": "SpoolDuplicates",
    "opted_out": "SpoolOptedOut",
    "deleted": "SpoolDeleted",  # an event older than the profile's deletion: dropped
}
# Must equal maxReceiveCount of the spool queue's redrive policy (infra/data-stack.yaml).
MAX_RECEIVE_COUNT = 5


class Replayer(Protocol):
    def replay(self, uuid: str, changes: ProfileChanges) -> str: ...


class Counter(Protocol):
    def count(self, name: str, value: float = 1) -> None: ...


@dataclass(frozen=True)
class SpoolRecord:
    message_id: str
    body: str
    receive_count: int = 1
    receipt_handle: str = ""


@dataclass
class BatchReport:
    outcomes: dict[str, str] = field(default_factory=dict)  # message id -> outcome
    failures: dict[str, str] = field(default_factory=dict)  # message id -> reason

    @property
    def succeeded(self) -> list[str]:
        return list(self.outcomes)


def replay_batch(
    records: list[SpoolRecord],
    profiles: Replayer,
    metrics: Counter,
    max_receive_count: int = MAX_RECEIVE_COUNT,
) -> BatchReport:
    """Apply every record; a failure is logged with its reason (and whether the queue will
    now move the message to the dead-letter queue) and reported, never raised."""
    report = BatchReport()
    for record in records:
        event_id = ""
        try:
            spooled = decode(record.body)
            event_id = spooled.changes.event_id
            outcome = profiles.replay(spooled.uuid, spooled.changes)
        except BadMessage as exc:
            reason = str(exc)
        except Exception as exc:  # noqa: BLE001 - report it; the queue retries the message
            reason = error_reason(exc)
        else:
            report.outcomes[record.message_id] = outcome
            metrics.count(_OUTCOME_METRICS.get(outcome, "SpoolReplayed"))
            continue
        report.failures[record.message_id] = reason
        metrics.count("SpoolReplayFailures")
        dead = record.receive_count >= max_receive_count
        if dead:
            metrics.count("SpoolDeadLettered")
        logger.error(
            json.dumps(
                {
                    "spool_failure": record.message_id,
                    "event_id": event_id,
                    "reason": reason,
                    "receive_count": record.receive_count,
                    "to_dead_letter_queue": dead,
                },
                separators=(",", ":"),
            )
        )
    return report
