"""``GET /v1/settings``: the deployment settings, secrets omitted (admin-api.md)."""

from __future__ import annotations

import json
import re
from typing import Any

from chalicelib.config import Settings

# Any setting whose name says it holds a secret is left out, whatever new settings appear.
_SECRET_NAME = re.compile(r"token|secret|password|passwd|credential|private|(^|_)key$", re.I)


def public_settings(settings: Settings) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in settings._fields:  # Settings is a NamedTuple
        if _SECRET_NAME.search(name):
            continue
        out[name] = _plain(getattr(settings, name))
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
