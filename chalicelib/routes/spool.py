"""The spool queue's event source; the handler is ``chalicelib/handlers/spool.py``.

Queue: ``RTDCS_SPOOL_QUEUE_NAME``, read when app.py is imported: Chalice wires the event
source from it at deploy/package time, with the stage's environment variables set.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from chalice import Blueprint

if TYPE_CHECKING:
    from chalicelib.handlers.spool import SpoolRuntime

spool = Blueprint(__name__)

QUEUE_NAME_ENV = "RTDCS_SPOOL_QUEUE_NAME"
DEFAULT_QUEUE_NAME = "rtdcs-local-spool"
BATCH_SIZE = 10


@spool.on_sqs_message(
    queue=os.environ.get(QUEUE_NAME_ENV) or DEFAULT_QUEUE_NAME,
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
