"""Strict JSON request bodies: one object, UTF-8, no duplicate keys, no NaN/Infinity, bounded
in size and depth. Every failure is a 4xx with a JSON error, never a 500."""

from __future__ import annotations

import json
import math
from typing import Any, Mapping

from chalicelib.admin.errors import ApiError, bad_request

MAX_BODY_BYTES = 262_144  # a 65,536-character segment rule fits with room to spare
_JSON_TYPES = ("application/json",)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _parse_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def content_type_of(headers: Mapping[str, str]) -> str:
    raw = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    return raw.split(";", 1)[0].strip().lower()


def parse_json_object(raw: bytes | None, headers: Mapping[str, str]) -> dict[str, Any]:
    content_type = content_type_of(headers)
    if content_type and content_type not in _JSON_TYPES:
        raise ApiError(415, "unsupported_media_type",
                       f"the body must be application/json, not {content_type}")
    data = raw or b""
    if len(data) > MAX_BODY_BYTES:
        raise ApiError(413, "payload_too_large",
                       f"the body must be at most {MAX_BODY_BYTES} bytes")
    if not data.strip():
        raise bad_request("invalid_json", "the body must be a JSON object")
    try:
        text = data.decode("utf-8")
        value = json.loads(
            text,
            parse_constant=_reject_constant,
            parse_float=_parse_float,
            object_pairs_hook=_no_duplicates,
        )
    except UnicodeDecodeError as exc:
        raise bad_request("invalid_json", "the body is not UTF-8") from exc
    except RecursionError as exc:
        raise bad_request("invalid_json", "the body is nested too deeply") from exc
    except ValueError as exc:  # JSONDecodeError, huge integers, the hooks above
        raise bad_request("invalid_json", f"the body is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise bad_request("invalid_body", "the body must be a JSON object")
    return value
