"""UUIDs (38 decimal digits) and transaction ids (dcs-protocol.md 1 and 4.5)."""

from __future__ import annotations

import base64
import re
import secrets

_UUID_RE = re.compile(r"^[0-9]{38}$")
OPT_OUT_VALUE = "NOTARGET"


def is_valid_uuid(value: str | None) -> bool:
    return bool(value) and bool(_UUID_RE.match(value or "")) and (value or "").strip("0") != ""


def new_uuid() -> str:
    """A CSPRNG draw in [1, 10**38), zero-padded to 38 digits."""
    return str(secrets.randbelow(10**38 - 1) + 1).zfill(38)


def new_tid() -> str:
    """Standard base64 of 8 random bytes: 12 characters."""
    return base64.b64encode(secrets.token_bytes(8)).decode("ascii")
