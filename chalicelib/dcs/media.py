"""Media pixels on ``/event`` (dcs-protocol.md 4.9): ``d_event=imp`` and ``d_event=click``.

An impression is an ordinary event answered with the GIF whatever ``d_rtbd`` says (the
handler does that). A click is not evaluated: its ``d_rd`` target, after macro substitution,
is where the visitor is sent (302), if it is http(s) on a host in ``click_redirect_domains``;
otherwise 903 and the GIF. Pure functions: the handler passes settings and values in.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Sequence

from chalicelib.dcs.errors import DcsError, error
from chalicelib.dcs.params import ParsedRequest
from chalicelib.destinations.urls import consent_lookup, default_rnd, encode, expand

IMPRESSION = "imp"
CLICK = "click"
# %d_...% macros of a click target: each is the call's own parameter of that name.
_CALL_MACROS = ("d_creative", "d_campaign", "d_src", "d_site", "d_adgroup", "d_placement",
                "d_uuid")


class Click(NamedTuple):
    location: str | None  # where to send the visitor; None: answer with the GIF
    errors: list[DcsError]


def media_event(parsed: ParsedRequest) -> str | None:
    """``imp``, ``click`` or None (an ordinary event, or an unknown ``d_event``)."""
    value = (parsed.control("d_event") or "").strip().lower()
    return value if value in (IMPRESSION, CLICK) else None


def click_target(
    parsed: ParsedRequest,
    allowed_domains: Sequence[str],
    dcs_region: int,
    rnd: Callable[[], str] = default_rnd,
) -> Click:
    target = parsed.control("d_rd")
    if not target:
        return Click(None, [])
    values = {f"%{name.upper()}%": encode(parsed.control(name) or "") for name in _CALL_MACROS}
    values["%D_REGION%"] = str(dcs_region)
    gdpr = 1 if parsed.control("gdpr") == "1" else 0
    consent = consent_lookup(gdpr, parsed.control("gdpr_consent"))

    def lookup(token: str) -> str | None:
        if token == "%R_RAND%":
            return rnd()
        if token in values:
            return values[token]
        return consent(token)

    from chalicelib.dcs.redirects import redirect_target  # media clicks only: not every cold start

    location = redirect_target(expand(target, lookup), allowed_domains, allow_http=True)
    return Click(location, [] if location else [error(903)])
