"""The legacy IAB US Privacy string (CCPA, "uspv1"): the ``us_privacy`` parameter and GPP section 6.

Four characters: the version ``1``, then Notice, OptOutSale and LspaCovered, each ``Y``, ``N``
or ``-`` (not applicable). privacy-signals.md section 3: a third character ``Y`` is an opt-out.

Strict on purpose (the spec: a malformed value fails closed). IAB's reference GPP decoder takes
any letter in the last three places (``1XNN``); this parser refuses anything but ``Y``, ``N``
and ``-``, lower case included, so that a value we cannot read is never taken for "not opted
out".
"""

from __future__ import annotations

from typing import NamedTuple

US_PRIVACY_LENGTH = 4
SUPPORTED_VERSION = "1"
_FLAGS = frozenset("YN-")


class UsPrivacyError(ValueError):
    """The string is not a version 1 US Privacy string (the message says why, without it)."""


class UsPrivacy(NamedTuple):
    version: int
    notice: str  # 'Y' | 'N' | '-'
    opt_out_sale: str  # 'Y' | 'N' | '-'
    lspa: str  # 'Y' | 'N' | '-'

    @property
    def opted_out(self) -> bool:
        """The visitor opted out of the sale of their data (third character ``Y``)."""
        return self.opt_out_sale == "Y"


def parse_us_privacy(raw: str) -> UsPrivacy:
    """Parse ``1YNN`` and the like, or raise ``UsPrivacyError``."""
    if len(raw) != US_PRIVACY_LENGTH:
        raise UsPrivacyError(f"US Privacy string is not {US_PRIVACY_LENGTH} characters long")
    version, notice, opt_out_sale, lspa = raw[0], raw[1], raw[2], raw[3]
    if version != SUPPORTED_VERSION:
        raise UsPrivacyError(f"US Privacy string version is not {SUPPORTED_VERSION}")
    if not _FLAGS.issuperset((notice, opt_out_sale, lspa)):
        raise UsPrivacyError("US Privacy string flags must be 'Y', 'N' or '-'")
    return UsPrivacy(int(version), notice, opt_out_sale, lspa)
