"""The console (docs/console.md): its page and files under ``/console``, and its API beyond
the catalog: event capture (``/v1/debug/*``), the overview numbers, rule checks and the
provider test call. Handlers: ``chalicelib/handlers/console.py`` (loaded on first use)."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.dcs.console_files import console_file

console = Blueprint(__name__)
ANY_TYPE = ["*/*"]


# The page's links are relative ("console/app.js", "v1/..."), so that it works under a stage
# prefix too; they resolve only from ".../console", where "/console/" and
# "/console/index.html" are sent.
_TO_PAGE = Response(body="", status_code=302,
                    headers={"Location": "../console", "Cache-Control": "no-store"})


def _path() -> str:
    context = console.current_request.context or {}
    return str(context.get("path") or context.get("resourcePath") or "")


@console.route("/console", methods=["GET"])
def console_page() -> Response:
    return _TO_PAGE if _path().endswith("/") else console_file("index.html")


@console.route("/console/{name}", methods=["GET"])
def console_asset(name: str) -> Response:
    if not name or name == "index.html":
        return _TO_PAGE
    return console_file(name)


@console.route("/console/vendor/{name}", methods=["GET"])
def console_vendor(name: str) -> Response:
    return console_file(f"vendor/{name}")


@console.route("/v1/debug/capture", methods=["GET", "POST"], content_types=ANY_TYPE)
def debug_capture() -> Response:
    from chalicelib.handlers.console import capture_view

    return capture_view(console.current_request)


@console.route("/v1/debug/events", methods=["GET"], content_types=ANY_TYPE)
def debug_events() -> Response:
    from chalicelib.handlers.console import events_view

    return events_view(console.current_request)


@console.route("/v1/stats/overview", methods=["GET"], content_types=ANY_TYPE)
def stats_overview() -> Response:
    from chalicelib.handlers.console import overview_view

    return overview_view(console.current_request)


@console.route("/v1/rules/validate", methods=["POST"], content_types=ANY_TYPE)
def rules_validate() -> Response:
    from chalicelib.handlers.console import validate_rule_view

    return validate_rule_view(console.current_request)


@console.route("/v1/providers/{pid}/test", methods=["POST"], content_types=ANY_TYPE)
def provider_test_call(pid: str) -> Response:
    from chalicelib.handlers.console import test_call_view

    return test_call_view(console.current_request, pid)
