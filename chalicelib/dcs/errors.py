"""Error codes of dcs-protocol.md section 10."""

from __future__ import annotations

from dataclasses import dataclass

MESSAGES: dict[int, str] = {
    0: "Unspecified error",
    10: "Unable to evaluate traits",
    101: "Invalid Experience Cloud id passed in",
    102: "Invalid aam id passed in request",
    171: "Encountered opt out tag for id {}",
    200: "Profile read failed",
    201: "Profile write failed",
    205: "Configuration unavailable",
    311: "Request contains invalid parameters",
    315: "Consent string indicates no consent",
    901: "Invalid callback name",
    902: "Request too large",
    904: "Request limits exceeded",
}

_QUOTE_LIMIT = 64


@dataclass(frozen=True)
class DcsError:
    code: int
    msg: str

    def as_json(self) -> dict[str, object]:
        return {"code": self.code, "msg": self.msg}


def error(code: int, detail: str = "") -> DcsError:
    """Build an error; ``detail`` (a control value, never ``p_`` data) is truncated to 64 chars."""
    template = MESSAGES[code]
    quoted = detail[:_QUOTE_LIMIT]
    if "{}" in template:
        return DcsError(code, template.format(quoted))
    return DcsError(code, f"{template}: {quoted}" if quoted else template)
