"""The privacy decision of one request: GPP, ``us_privacy`` and Global Privacy Control
(privacy-signals.md section 3), as plain Python over the request's values.

Four activities: ``collect`` (first party: always goes on here; TCF and the opt-out decide it
elsewhere), ``share`` (provider calls and their onboarded traits), ``sync`` (``/ibs``, ``ibs``
and ``dests``) and ``s2s``. A **US opt-out** stops the last three for this request only:
nothing is stored as an opt-out. A malformed ``gpp`` or ``us_privacy`` fails closed the same
way, with 906 instead of 905. ``tcf_string`` is the ``tcfeuv2`` section when ``gpp_sid`` lists
2: the TCF gates take it when no ``gdpr_consent`` is sent.
"""

# Annotations are evaluated (no ``from __future__ import annotations``): typing.NamedTuple
# then skips compiling a ForwardRef per field at import, a cold-start cost (issue 17).

from typing import TYPE_CHECKING, Callable, Mapping, NamedTuple

if TYPE_CHECKING:
    from chalicelib.consent.gpp import GppString

SUPPRESSED = 905  # info: third-party sharing suppressed by a privacy signal
INVALID = 906  # info: invalid privacy string (suppressed too: fail closed)
_TCF_SECTION = 2
_LOGGED_CHARS = 32  # never more of a string than this in a log line


class PrivacySignals(NamedTuple):
    """What the request carried (None: absent)."""

    gpp: str | None = None
    gpp_sid: str | None = None
    us_privacy: str | None = None
    gpc: bool = False  # ``Sec-GPC: 1``


class PrivacyDecision(NamedTuple):
    share: bool
    sync: bool
    s2s: bool
    outcome: str  # pass | us_optout | invalid
    error_code: int | None  # 905 | 906 | None
    detail: str  # the signals that decided (905), or what was invalid (906)
    present: tuple[str, ...]  # the signals present: "gpp:7,8", "us_privacy", "gpc"
    gpp: str | None  # the GPP string to forward (providers, macros), when valid
    gpp_sid: str  # the applicable ids, comma-separated ("" when none)
    tcf_string: str | None  # the tcfeuv2 section's TC string, when gpp_sid lists 2

    @property
    def suppressed(self) -> tuple[str, ...]:
        return tuple(name for name, allowed in (("share", self.share), ("sync", self.sync),
                                                ("s2s", self.s2s)) if not allowed)


NO_SIGNALS = PrivacyDecision(True, True, True, "pass", None, "", (), None, "", None)


def signals_from(
    control: Callable[[str], str | None], headers: Mapping[str, str]
) -> PrivacySignals:
    """The privacy inputs of a request: its ``gpp``, ``gpp_sid`` and ``us_privacy`` controls
    and its ``Sec-GPC`` header (any case)."""
    gpc = next((v for k, v in headers.items() if k.lower() == "sec-gpc"), "")
    return PrivacySignals(control("gpp"), control("gpp_sid"), control("us_privacy"),
                          gpc.strip() == "1")


def tcf_inputs(
    gdpr: str | None, gdpr_consent: str | None, decision: PrivacyDecision
) -> tuple[str | None, str | None]:
    """TCF through GPP: with ``gpp_sid`` listing 2 and no ``gdpr_consent``, the request is
    handled as ``gdpr=1`` with the ``tcfeuv2`` section; ``gdpr_consent`` wins when sent."""
    if decision.tcf_string is not None and gdpr_consent is None:
        return "1", decision.tcf_string
    return gdpr, gdpr_consent


def evaluate_privacy(signals: PrivacySignals, honour_gpc: bool = True) -> PrivacyDecision:
    """The decision for one request's ``signals``; ``honour_gpc``: config ``privacy.gpc``."""
    if signals.gpp is None and signals.us_privacy is None and not signals.gpc:
        return NO_SIGNALS
    # The decoders load with the first request that carries a signal (not every cold start).
    from chalicelib.consent.gpp import GppError, decode_gpp, parse_gpp_sid
    from chalicelib.consent.mspa import us_decision
    from chalicelib.consent.us_privacy import UsPrivacyError, parse_us_privacy

    present: list[str] = []
    invalid: list[str] = []
    reasons: list[str] = []  # denials of every activity
    share_reasons: list[str] = []  # denials of share (and s2s) only: sensitive data
    gpp: GppString | None = None
    applicable: tuple[int, ...] = ()
    if signals.gpp is not None:
        try:
            applicable = parse_gpp_sid(signals.gpp_sid or "")
            gpp = decode_gpp(signals.gpp, applicable)
        except GppError:
            invalid.append("gpp " + signals.gpp[:_LOGGED_CHARS])
        present.append("gpp:" + ",".join(str(sid) for sid in applicable))
        if gpp is not None:
            if gpp.missing:
                # a listed section the string lacks: invalid (906), fail closed
                invalid.append("gpp_sid " + ",".join(str(sid) for sid in gpp.missing))
            else:
                decision = us_decision(gpp, applicable)
                why = list(decision.reasons) or ["gpp"]
                if not decision.sync:
                    reasons.extend(why)
                elif not decision.share:
                    share_reasons.extend(why)
    if signals.us_privacy is not None:
        present.append("us_privacy")
        try:
            if parse_us_privacy(signals.us_privacy).opted_out:
                reasons.append("us_privacy")
        except UsPrivacyError:
            invalid.append("us_privacy " + signals.us_privacy[:_LOGGED_CHARS])
    if signals.gpc:
        present.append("gpc")
        if honour_gpc:
            reasons.append("gpc")
    sid_text = ",".join(str(sid) for sid in applicable)
    valid_gpp = signals.gpp if gpp is not None else None
    tcf = _tcf_section(gpp, applicable)
    if invalid:
        return PrivacyDecision(False, False, False, "invalid", INVALID, "; ".join(invalid),
                               tuple(present), valid_gpp, sid_text, tcf)
    if reasons or share_reasons:
        # Prebid's transmitUfpd covers share and s2s, syncUser covers sync: the sensitive
        # data rules deny the first only.
        return PrivacyDecision(False, not reasons, False, "us_optout", SUPPRESSED,
                               ", ".join(reasons + share_reasons), tuple(present), valid_gpp,
                               sid_text, tcf)
    return PrivacyDecision(True, True, True, "pass", None, "", tuple(present), valid_gpp,
                           sid_text, tcf)


def _tcf_section(gpp: "GppString | None", applicable: tuple[int, ...]) -> str | None:
    if gpp is None or _TCF_SECTION not in applicable:
        return None
    section = gpp.sections.get(_TCF_SECTION)
    return section.encoded if section is not None else None
