"""Audience insight (docs/insight.md): the profile table's stream aggregator and the
``/v1/reports/*`` routes; the work is in ``chalicelib/handlers/insight.py``.

Stream: ``RTDCS_INSIGHT_STREAM_ARN``, read when app.py is imported (Chalice wires the event
source at deploy/package time; ``infra/package.py`` points it at the stack's stream).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint, Response

from chalicelib.admin.paths import REPORT_NAMES, REPORTS_PREFIX
from chalicelib.config import InsightSettings

if TYPE_CHECKING:
    from chalicelib.handlers.insight import InsightRuntime

insight = Blueprint(__name__)

# At most one sketch write per (kind, id, day) a batch touches, so bigger batches write less:
# 1,000 records per batch cut the write units per record 8.4x against the spec's 100 at
# 100,000 visitors (bench/insight.py --batch; docs/insight.md). Lambda also caps a batch
# at 6 MB of records.
BATCH_SIZE = 1000
# Up to 10 s to fill a batch: fewer, fuller batches (fewer sketch writes) within the 60 s
# freshness goal.
BATCHING_WINDOW_S = 10
ANY_TYPE = ["*/*"]


@insight.on_dynamodb_record(
    stream_arn=InsightSettings.from_env().stream_arn,
    batch_size=BATCH_SIZE,
    starting_position="LATEST",
    name="insight_aggregator",
    maximum_batching_window_in_seconds=BATCHING_WINDOW_S,
)
def insight_aggregator(event: Any) -> dict[str, int]:
    from chalicelib.handlers.insight import aggregate  # first batch loads it (cold start)

    return aggregate(event)


@insight.lambda_function(name="insight_reports")
def insight_reports(event: Any, context: Any) -> dict[str, Any]:
    """The reports' math, invoked by the API (chalicelib/insight/remote.py): it carries the
    DataSketches layer, so the API function does not."""
    from chalicelib.handlers.insight import serve_report

    return serve_report(event)


def _register(name: str) -> None:
    def view() -> Response:
        from chalicelib.handlers.insight import report_view

        return report_view(name, insight.current_request)

    insight.route(f"{REPORTS_PREFIX}/{name}", methods=["GET"], content_types=ANY_TYPE,
                  name=f"report_{name}")(view)


for _name in REPORT_NAMES:
    _register(_name)


def install(runtime: InsightRuntime | None) -> None:
    """Serve this runtime (tests), or None to build from the environment again."""
    from chalicelib.handlers import insight as handler

    handler.install(runtime)
