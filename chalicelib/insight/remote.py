"""Reports computed in the insight-reports function (docs/insight.md, "Where reports run").

The report math needs DataSketches and numpy (49 MB unzipped). They ship in a Lambda layer
attached to the two insight functions only, so the API function's package stays small and
its cold start does not carry them. Deployed (``RTDCS_INSIGHT_REPORTS_FUNCTION`` names the
function), the API checks the caller, then invokes ``insight_reports`` (RequestResponse) with
the report's name and query, and answers what it returns; locally the same code runs in the
API's process. Either way a bad query gets the same 400/404 (:func:`answer` carries it over).
"""

from __future__ import annotations

import json
from typing import Any, Callable, Mapping

from chalicelib.admin.errors import ApiError
from chalicelib.admin.paths import REPORT_NAMES

Query = Mapping[str, str]
ReportRunner = Callable[[str, Query], dict[str, Any]]


def run(reports: Any, name: str, query: Query) -> dict[str, Any]:
    """One report of ``reports`` (an ``insight.reports.Reports``)."""
    if name not in REPORT_NAMES:
        raise ApiError(404, "not_found", f"no report {name!r}")
    handler: Callable[[Query], dict[str, Any]] = getattr(reports, name)
    return handler(dict(query))


def answer(reports: Any, event: Mapping[str, Any]) -> dict[str, Any]:
    """The insight-reports function's answer to ``{"report": name, "query": {...}}``:
    ``{"ok": report}`` or ``{"error": {"status", "code", "message", "field"?}}``."""
    name = str(event.get("report", ""))
    query = event.get("query") or {}
    if not isinstance(query, dict) or not all(isinstance(v, str) for v in query.values()):
        return {"error": {"status": 400, "code": "invalid_query",
                          "message": "query must map names to strings"}}
    try:
        return {"ok": run(reports, name, query)}
    except ApiError as error:
        return {"error": {"status": error.status, **error.body()["error"]}}


class RemoteReports:
    """The API's side: one synchronous invoke per report. ``client``: a boto3 Lambda client."""

    def __init__(self, client: Any, function_name: str) -> None:
        self._client = client
        self._function = function_name

    def __call__(self, name: str, query: Query) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        payload = json.dumps({"report": name, "query": dict(query)}).encode()
        try:
            response = self._client.invoke(FunctionName=self._function,
                                           InvocationType="RequestResponse", Payload=payload)
            body = json.loads(response["Payload"].read() or b"null")
        except (BotoCoreError, ClientError, ValueError) as exc:
            raise ApiError(503, "insight_unavailable",
                           f"the reports function could not be called ({type(exc).__name__})"
                           ) from None
        if response.get("FunctionError") or not isinstance(body, dict):
            raise ApiError(502, "insight_failed", "the reports function failed")
        if "error" in body:
            raise _api_error(body["error"])
        result: dict[str, Any] = body["ok"]
        return result


def _api_error(error: Mapping[str, Any]) -> ApiError:
    """The function's error back as the API's own (its extra fields, e.g. ``ids``, too)."""
    known = ("status", "code", "message", "field", "position")
    api_error = ApiError(int(error["status"]), str(error["code"]), str(error["message"]),
                         error.get("field"), error.get("position"))
    api_error.extra = {k: v for k, v in error.items() if k not in known}
    return api_error
