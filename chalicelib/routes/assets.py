"""Page assets (tag, iframe, demo) and health (dcs-protocol.md section 9).

The files are served from here; what needs the settings or the catalog is in
``chalicelib/handlers/assets.py``, loaded on first use.
"""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.dcs.assets import static_asset
from chalicelib.dcs.content_types import HTML, JS

assets = Blueprint(__name__)

_DEMO_CSP = (
    "default-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self' https: data:; "
    "style-src 'self' 'unsafe-inline'; frame-src 'self' https:"
)


@assets.route("/tag.js", methods=["GET"])
def tag_js() -> Response:
    return static_asset("tag.js", JS, 3600, compact=True)


@assets.route("/dest.html", methods=["GET"])
def dest_html() -> Response:
    from chalicelib.handlers.assets import dest_page  # first call loads it (cold start)

    return dest_page()


@assets.route("/dest5.html", methods=["GET"])
def dest5_html() -> Response:
    return dest_html()


@assets.route("/dest.js", methods=["GET"])
def dest_js() -> Response:
    return static_asset("dest.js", JS, 86400)


@assets.route("/demo", methods=["GET"])
def demo_page() -> Response:
    return static_asset("demo.html", HTML, 0, {"Content-Security-Policy": _DEMO_CSP})


@assets.route("/demo.js", methods=["GET"])
def demo_js() -> Response:
    return static_asset("demo.js", JS, 0)


@assets.route("/demo/catalog.json", methods=["GET"])
def demo_catalog() -> Response:
    from chalicelib.handlers.assets import demo_catalog_names

    return demo_catalog_names()


@assets.route("/healthz", methods=["GET"])
def healthz() -> Response:
    from chalicelib.handlers.assets import health

    return health(assets.current_request.query_params or {})
