"""Audience insight: the stream aggregator and the ``/v1/reports/*`` views (docs/insight.md).

The aggregator (``insight_aggregator``, fed by the profile table's DynamoDB Stream; wired in
``chalicelib/routes/insight.py``) builds only what it uses: the insight table, the catalog
(trait -> data source), metrics. Not the /event wiring. The report views are the API's,
behind the admin API's auth (``handlers/admin.py``); deployed, their math runs in the
``insight_reports`` function (:func:`serve_report`, ``chalicelib/insight/remote.py``).
"""

from __future__ import annotations

import logging
from typing import Any, Mapping, NamedTuple

from chalice import Response

from chalicelib.config import InsightSettings, Settings, aws_endpoint_url
from chalicelib.insight.aggregator import Aggregator, BatchReport, catalog_sources
from chalicelib.insight.repository import InsightRepository
from chalicelib.runtime import observability
from chalicelib.runtime.catalog_cache import CatalogCache
from chalicelib.runtime.env_cached import EnvCached
from chalicelib.store.catalog import CatalogRepository
from chalicelib.store.dynamo import table

logger = logging.getLogger("rtdcs.insight")


class InsightRuntime(NamedTuple):
    aggregator: Aggregator
    metrics: Any


def _repository() -> InsightRepository:
    return InsightRepository(table(InsightSettings.from_env().table))


def _catalog_cache() -> CatalogCache:
    settings = Settings.from_env()
    return CatalogCache(CatalogRepository(table(settings.catalog_table)),
                        settings.catalog_refresh_seconds)


def build_runtime() -> InsightRuntime:
    catalog = _catalog_cache()
    aggregator = Aggregator(_repository(), lambda: catalog_sources(catalog.get()))
    return InsightRuntime(aggregator, observability.metrics())


def _runtime_key() -> tuple[object, ...]:
    return (Settings.from_env(), InsightSettings.from_env(), aws_endpoint_url())


_runtime = EnvCached(build_runtime, _runtime_key)
get_runtime = _runtime.get
install = _runtime.install

_reports_repository = EnvCached(_repository,
                                lambda: (InsightSettings.from_env(), aws_endpoint_url()))
install_reports_repository = _reports_repository.install


def aggregate(event: Any) -> dict[str, int]:
    """One stream batch (a Chalice DynamoDBEvent, or a list of record dicts)."""
    runtime = get_runtime()
    records = [r.to_dict() if hasattr(r, "to_dict") else r for r in event]
    report = runtime.aggregator.handle(records)
    _record_metrics(runtime.metrics, report)
    logger.info("insight batch: records=%d counted=%d keys=%d writes=%d conflicts=%d "
                "wcu=%d cpu_ms=%.1f", report.records, report.counted, report.keys,
                report.writes, report.conflicts, report.write_units, report.cpu_ms)
    return {"records": report.records, "counted": report.counted, "writes": report.writes}


def _record_metrics(metrics: Any, report: BatchReport) -> None:
    metrics.count("InsightRecords", report.records)
    metrics.count("InsightCounted", report.counted)
    metrics.count("InsightSketchWrites", report.writes)
    metrics.count("InsightWriteConflicts", report.conflicts)
    metrics.flush()


# ---- reports ---------------------------------------------------------------------------------
_reports_catalog_cache = EnvCached(_catalog_cache,
                                   lambda: (Settings.from_env(), aws_endpoint_url()))


def _lambda_client() -> Any:
    from chalicelib.runtime import aws

    return aws.client("lambda")


_lambda = EnvCached(_lambda_client, lambda: (aws_endpoint_url(),))
install_lambda_client = _lambda.install


def serve_report(event: Mapping[str, Any]) -> dict[str, Any]:
    """The insight-reports function (``insight_reports``): one report for the API."""
    from chalicelib.insight.remote import answer
    from chalicelib.insight.reports import Reports, known_ids

    reports = Reports(_reports_repository.get(), known_ids(_reports_catalog_cache.get().get()))
    return answer(reports, event)


def report_view(name: str, request: Any) -> Response:
    from chalicelib.handlers.admin import admin_view, json_response  # the admin API's auth
    from chalicelib.insight.remote import RemoteReports, run

    def view(services: Any, req: Any) -> Response:
        query = dict(req.query_params or {})
        function = InsightSettings.from_env().reports_function
        if function:  # deployed: the function that carries DataSketches
            return json_response(RemoteReports(_lambda.get(), function)(name, query))
        from chalicelib.insight.reports import Reports, known_ids

        reports = Reports(_reports_repository.get(), known_ids(services.catalog.get()))
        return json_response(run(reports, name, query))

    return admin_view(request, view)
