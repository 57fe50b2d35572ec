"""Error codes of dcs-protocol.md section 10."""

from __future__ import annotations

from typing import NamedTuple

# code -> message; "{}" stands for a quoted control value (never p_ data).
MESSAGES: dict[int, str] = {
    0: "Unspecified error",
    10: "Unable to evaluate traits",
    101: "Invalid Experience Cloud id passed in",
    102: "Invalid aam id passed in request",
    104: "All customer IDs are invalid",
    171: "Encountered opt out tag for id {}",
    199: "Requests from this country are not allowed",
    200: "Profile read failed",
    201: "Profile write failed",
    202: "ID map read failed",
    203: "ID map write failed",
    204: "Opt-out status unavailable",
    205: "Configuration unavailable",
    300: "Invalid customer id {}",
    301: "Maximum number of customer ids exceeded (max 10)",
    302: "Unauthorized customer id {}",
    309: "Customer id {} discarded",
    310: "Customer id {} discarded: more than 3 for namespace {}",
    311: "Request contains invalid parameters",
    312: "Request contains an invalid Global Device ID",
    313: "CMP ID is not in the CMP list",
    314: "CMP ID was deleted from the CMP list",
    315: "Consent string indicates no consent",
    901: "Invalid callback name",
    902: "Request too large",
    903: "Redirect target not allowed",
    904: "Request limits exceeded",
    905: "Third-party sharing suppressed by a privacy signal: {}",
    906: "Invalid privacy string {}",
    907: "Unknown org id {}",
}

_QUOTE_LIMIT = 64


# Not a dataclass: import cost on a cold start (chalicelib/core/records.py).
class DcsError(NamedTuple):
    code: int
    msg: str

    def as_json(self) -> dict[str, object]:
        return {"code": self.code, "msg": self.msg}


def error(code: int, *details: str) -> DcsError:
    """Build an error; each detail (a control value, never ``p_`` data) is cut to 64 chars."""
    template = MESSAGES[code]
    quoted = [detail[:_QUOTE_LIMIT] for detail in details]
    slots = template.count("{}")
    if slots:
        quoted = (quoted + [""] * slots)[:slots]
        return DcsError(code, template.format(*quoted))
    return DcsError(code, f"{template}: {quoted[0]}" if quoted and quoted[0] else template)
