"""Page assets (tag, iframe, demo) and health (dcs-protocol.md section 9)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Mapping

from chalice import Blueprint, Response

from chalicelib.catalog_cache import CatalogUnavailable
from chalicelib.services import get_services

assets = Blueprint(__name__)

_STATIC = Path(__file__).resolve().parent.parent / "static"
_JS = "application/javascript; charset=utf-8"
_HTML = "text/html; charset=utf-8"
_DEST_CSP = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; img-src https: data:; "
    "frame-src https:"
)
_DEMO_CSP = (
    "default-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self' https: data:; "
    "style-src 'self' 'unsafe-inline'; frame-src 'self' https:"
)


@functools.lru_cache(maxsize=None)
def _static(name: str) -> str:
    """Read once per container: these files ship inside chalicelib/."""
    return (_STATIC / name).read_text(encoding="utf-8")


def _asset(
    name: str, content_type: str, max_age: int, extra: dict[str, str] | None = None
) -> Response:
    headers: dict[str, str | list[str]] = {
        "Content-Type": content_type,
        "Cache-Control": f"public, max-age={max_age}",
    }
    headers.update(extra or {})
    return Response(body=_static(name), status_code=200, headers=headers)


@assets.route("/tag.js", methods=["GET"])
def tag_js() -> Response:
    return _asset("tag.js", _JS, 3600)


def _frame_ancestors(allowed_origins: tuple[str, ...]) -> str:
    """Only pages allowed to call /event may frame the iframe that reads its answers."""
    if "*" in allowed_origins:
        return "*"
    return " ".join(("'self'", *allowed_origins))


@assets.route("/dest.html", methods=["GET"])
def dest_html() -> Response:
    ancestors = _frame_ancestors(get_services().settings.cors_allowed_origins)
    csp = f"{_DEST_CSP}; frame-ancestors {ancestors}"
    return _asset("dest.html", _HTML, 86400, {"Content-Security-Policy": csp})


@assets.route("/dest5.html", methods=["GET"])
def dest5_html() -> Response:
    return dest_html()


@assets.route("/dest.js", methods=["GET"])
def dest_js() -> Response:
    return _asset("dest.js", _JS, 86400)


@assets.route("/demo", methods=["GET"])
def demo_page() -> Response:
    return _asset("demo.html", _HTML, 0, {"Content-Security-Policy": _DEMO_CSP})


@assets.route("/demo.js", methods=["GET"])
def demo_js() -> Response:
    return _asset("demo.js", _JS, 0)


@assets.route("/demo/catalog.json", methods=["GET"])
def demo_catalog() -> Response:
    """Names for the demo page: which traits come from which provider, segment rules."""
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
        {"sid": s.sid, "name": s.name, "segmentRule": rules.get(s.sid, "")}
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


@assets.route("/healthz", methods=["GET"])
def healthz() -> Response:
    services = get_services()
    query: Mapping[str, str] = assets.current_request.query_params or {}
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
