"""The assets that need the settings or the catalog: the iframe's CSP, the demo's names and
the health check (routes in routes/assets.py)."""

from __future__ import annotations

from typing import Any, Mapping

from chalice import Response

from chalicelib.dcs.assets import static_asset
from chalicelib.dcs.content_types import HTML
from chalicelib.runtime.catalog_cache import CatalogUnavailable
from chalicelib.runtime.services import get_services

_DEST_CSP = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; img-src https: data:; "
    "frame-src https:"
)


def _frame_ancestors(allowed_origins: tuple[str, ...]) -> str:
    """Only pages allowed to call /event may frame the iframe that reads its answers."""
    if "*" in allowed_origins:
        return "*"
    return " ".join(("'self'", *allowed_origins))


def dest_page() -> Response:
    ancestors = _frame_ancestors(get_services().settings.cors_allowed_origins)
    csp = f"{_DEST_CSP}; frame-ancestors {ancestors}"
    return static_asset("dest.html", HTML, 86400, {"Content-Security-Policy": csp})


def demo_catalog_names() -> Response:
    """Names for the demo page: which traits come from which provider, segment rules.
    The local stage only: elsewhere the catalog is the customer's business (404)."""
    if get_services().settings.stage != "local":
        return Response(body={"error": "not found"}, status_code=404)
    try:
        catalog = get_services().catalog.get()
    except CatalogUnavailable:
        return Response(body={"error": "configuration unavailable"}, status_code=503)
    providers_by_ds = {p.data_source_id: p for p in catalog.providers}
    traits: list[dict[str, Any]] = []
    for trait in sorted(catalog.traits.values(), key=lambda t: t.sid):
        provider = None if trait.rule_based else providers_by_ds.get(trait.data_source_id)
        traits.append(
            {
                "sid": trait.sid,
                "name": trait.name,
                "traitType": trait.trait_type,
                "dataSourceId": trait.data_source_id,
                "providerId": provider.pid if provider else None,
                "providerName": provider.name if provider else None,
            }
        )
    rules = {int(raw["sid"]): str(raw.get("segmentRule", ""))
             for raw in catalog.raw.get("segment", ()) if "sid" in raw}
    segments = [
        {"sid": s.sid, "name": s.name, "segmentRule": rules.get(s.sid, ""),
         "mergeRuleId": s.merge_rule_id}
        for s in catalog.segments
    ]
    providers = [
        {"pid": p.pid, "name": p.name, "dataSourceId": p.data_source_id} for p in catalog.providers
    ]
    return Response(
        body={"traits": traits, "segments": segments, "providers": providers},
        status_code=200,
        headers={"Cache-Control": "no-store"},
    )


def health(query: Mapping[str, str]) -> Response:
    services = get_services()
    deep = query.get("deep") == "1"
    try:
        catalog = services.catalog.get()
        if deep:
            services.catalog_repository.version()
    except Exception:  # noqa: BLE001 - any failure to load config is "degraded"
        return Response(
            body={"status": "degraded", "version": services.settings.version},
            status_code=503,
            headers={"Cache-Control": "no-store"},
        )
    return Response(
        body={
            "status": "ok",
            "version": services.settings.version,
            "config_version": str(catalog.version),
        },
        status_code=200,
        headers={"Cache-Control": "no-store"},
    )
