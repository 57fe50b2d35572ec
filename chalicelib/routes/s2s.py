"""The S2S queue's event source; the handler is ``chalicelib/handlers/s2s.py``.

Queue: ``RTDCS_S2S_QUEUE_NAME``, read when app.py is imported, because Chalice needs the name
to wire the event source at deploy time: export it when running ``chalice deploy``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint

from chalicelib.config import WorkerSettings

if TYPE_CHECKING:
    from chalicelib.handlers.s2s import S2SRuntime

s2s = Blueprint(__name__)

# Each message holds up to 10 visitors already; 10 records a batch keeps a run bounded:
# at worst 10 groups x 2 attempts x 3 s (set the function's lambda_timeout above 60 s).
BATCH_SIZE = 10


@s2s.on_sqs_message(
    queue=WorkerSettings.from_env().s2s_queue_name,
    batch_size=BATCH_SIZE,
    name="s2s_delivery",
)
def s2s_delivery(event: Any) -> None:
    from chalicelib.handlers.s2s import deliver  # first message loads it (cold start)

    deliver(event)


def install(runtime: S2SRuntime | None) -> None:
    """Serve this runtime (tests), or None to build from the environment again."""
    from chalicelib.handlers import s2s as handler

    handler.install(runtime)
