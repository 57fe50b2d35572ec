"""The cheaper front doors: a Lambda function URL or an HTTP API in front of Chalice's handler.

Chalice's handler understands API Gateway REST events (payload format 1.0) and finds the view
by ``requestContext.resourcePath``, the route *template* (``/v1/profiles/{uuid}``) that the REST
API matched. The other front doors do not give it that:

* a **function URL** (and an HTTP API with payload format 2.0) sends format 2.0: ``rawPath``,
  ``rawQueryString``, ``cookies``, lower-case ``headers`` with repeated values comma-joined;
* an **HTTP API** with payload format 1.0 and one ``$default`` route sends format 1.0, but its
  ``resource`` / ``resourcePath`` is ``$default``.

:func:`front_door_handler` turns either into the REST event Chalice expects, matching the path
against the app's own route table (literal segments before ``{params}``), and turns a format
2.0 answer's ``multiValueHeaders`` into ``headers`` + ``cookies`` (format 2.0 has no
multi-value headers: each ``Set-Cookie`` goes in ``cookies``). REST events pass through as
they are, so ``chalice deploy``'s REST API path is unchanged. docs/deploy.md, "Front doors".
"""

from __future__ import annotations

import json
import re
import urllib.parse
from typing import Any, Callable, Mapping

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]

_PARAM = re.compile(r"^\{(\w+)\}$")


class RouteTable:
    """The app's route templates, matched against a request path segment by segment."""

    def __init__(self, templates: list[str]) -> None:
        parsed = [(t, t.split("/")) for t in templates]
        # A literal segment beats a parameter at the same place: /v1/catalog/export before
        # /v1/{collection}/{id}.
        self._routes = sorted(parsed, key=lambda r: [bool(_PARAM.match(s)) for s in r[1]])

    def match(self, path: str) -> tuple[str, dict[str, str]] | None:
        segments = path.split("/")
        for template, parts in self._routes:
            if len(parts) != len(segments):
                continue
            params: dict[str, str] = {}
            for part, segment in zip(parts, segments, strict=True):
                name = _PARAM.match(part)
                if name:
                    if not segment:
                        break
                    params[name.group(1)] = urllib.parse.unquote(segment)
                elif part != segment:
                    break
            else:
                return template, params
        return None


def _query(raw: str) -> tuple[dict[str, str] | None, dict[str, list[str]] | None]:
    """Single- and multi-value query parameters, as API Gateway REST gives them."""
    pairs = urllib.parse.parse_qsl(raw, keep_blank_values=True)
    if not pairs:
        return None, None
    multi: dict[str, list[str]] = {}
    for key, value in pairs:
        multi.setdefault(key, []).append(value)
    return {k: v[-1] for k, v in multi.items()}, multi


def rest_event_from_v2(event: Mapping[str, Any], routes: RouteTable) -> dict[str, Any] | None:
    """A format 2.0 event as the REST event Chalice reads; None when no route matches."""
    context = event.get("requestContext") or {}
    http = context.get("http") or {}
    path = urllib.parse.unquote(event.get("rawPath") or http.get("path") or "/")
    matched = routes.match(path)
    if matched is None:
        return None
    template, params = matched
    headers = {k.lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    if event.get("cookies"):
        headers["cookie"] = "; ".join(event["cookies"])
    single, multi = _query(event.get("rawQueryString") or "")
    return {
        "resource": template,
        "path": path,
        "httpMethod": http.get("method", "GET"),
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": single,
        "multiValueQueryStringParameters": multi,
        "pathParameters": params or None,
        "stageVariables": None,
        "body": event.get("body"),
        "isBase64Encoded": bool(event.get("isBase64Encoded")),
        "requestContext": {
            "resourcePath": template,
            "httpMethod": http.get("method", "GET"),
            "path": path,
            "stage": context.get("stage", "$default"),
            "requestId": context.get("requestId", ""),
            "domainName": context.get("domainName", ""),
            "requestTimeEpoch": context.get("timeEpoch"),
            "identity": {"sourceIp": http.get("sourceIp", ""),
                         "userAgent": http.get("userAgent", "")},
        },
    }


def v2_answer(answer: Mapping[str, Any]) -> dict[str, Any]:
    """Chalice's format 1.0 answer as format 2.0: multi-value headers joined, cookies apart."""
    headers = {str(k): str(v) for k, v in (answer.get("headers") or {}).items()}
    cookies: list[str] = []
    for name, values in (answer.get("multiValueHeaders") or {}).items():
        if str(name).lower() == "set-cookie":
            cookies.extend(str(v) for v in values)
        else:
            headers[str(name)] = ", ".join(str(v) for v in values)
    for name in [k for k in headers if k.lower() == "set-cookie"]:
        cookies.append(headers.pop(name))
    result: dict[str, Any] = {
        "statusCode": answer.get("statusCode", 200),
        "headers": headers,
        "body": answer.get("body", ""),
        "isBase64Encoded": bool(answer.get("isBase64Encoded", False)),
    }
    if cookies:
        result["cookies"] = cookies
    return result


def _not_found(path: str) -> dict[str, Any]:
    body = {"Code": "NotFoundError", "Message": f"no route for {path[:200]}"}
    return {"statusCode": 404, "headers": {"Content-Type": "application/json"},
            "body": json.dumps(body), "isBase64Encoded": False}


def front_door_handler(app: Any) -> Handler:
    """A Lambda handler for ``app`` behind a function URL, an HTTP API, or the REST API."""
    table: list[RouteTable] = []  # built on the first call: every blueprint is registered

    def routes() -> RouteTable:
        if not table:
            table.append(RouteTable(list(app.routes)))
        return table[0]

    def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
        if event.get("version") == "2.0":
            rest = rest_event_from_v2(event, routes())
            if rest is None:
                return _not_found(str(event.get("rawPath", "")))
            return v2_answer(app(rest, context))
        context_part = event.get("requestContext") or {}
        if context_part.get("resourcePath") not in app.routes:  # HTTP API 1.0, $default route
            matched = routes().match(str(event.get("path") or ""))
            if matched is None:
                return _not_found(str(event.get("path", "")))
            template, params = matched
            event = dict(event, resource=template, pathParameters=params or None,
                         requestContext=dict(context_part, resourcePath=template))
            event.setdefault("stageVariables", None)
        answer: dict[str, Any] = app(event, context)
        return answer

    return handle
