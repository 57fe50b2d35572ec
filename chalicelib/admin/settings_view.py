"""``GET /v1/settings``: the deployment settings, secrets omitted (admin-api.md)."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

from chalicelib.config import Settings

# Any setting whose name says it holds a secret is left out, whatever new settings appear.
_SECRET_NAME = re.compile(r"token|secret|password|passwd|credential|private|(^|_)key$", re.I)


def public_settings(settings: Settings) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in dataclasses.fields(settings):
        if _SECRET_NAME.search(item.name):
            continue
        out[item.name] = _plain(getattr(settings, item.name))
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):
        value = sorted(value, key=str)
    if isinstance(value, tuple):
        value = list(value)
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return str(value)
    return value
