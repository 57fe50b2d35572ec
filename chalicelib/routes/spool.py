"""The spool queue's event source; the handler is ``chalicelib/handlers/spool.py``.

Queue: ``RTDCS_SPOOL_QUEUE_NAME``, read when app.py is imported: Chalice wires the event
source from it at deploy/package time, with the stage's environment variables set.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint

from chalicelib.config import WorkerSettings

if TYPE_CHECKING:
    from chalicelib.handlers.spool import SpoolRuntime

spool = Blueprint(__name__)

BATCH_SIZE = 10


@spool.on_sqs_message(
    queue=WorkerSettings.from_env().spool_queue_name,
    batch_size=BATCH_SIZE,
    name="spool_replay",
)
def spool_replay(event: Any) -> dict[str, int]:
    from chalicelib.handlers.spool import replay  # first message loads it (cold start)

    return replay(event)


def install(runtime: SpoolRuntime | None) -> None:
    """Serve this runtime (tests), or None to build from the environment again."""
    from chalicelib.handlers import spool as handler

    handler.install(runtime)
