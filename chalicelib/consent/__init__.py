"""IAB TCF v2 consent: the TC string decoder and the gates of dcs-protocol.md section 7."""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from chalicelib.consent.gates import (
    CmpAllowlist,
    ConsentDecision,
    ConsentSettings,
    evaluate_consent,
    vendor_allowed,
)

if TYPE_CHECKING:
    from chalicelib.consent.tcf import (
        ConsentError,
        PublisherRestriction,
        TCString,
        decode_tc_string,
    )
    from chalicelib.consent.vendor_set import VendorSet

# The decoder's names load on first use (PEP 562): the first request without gdpr=1 does not
# import the TC string decoder.
_LAZY = {"ConsentError": "tcf", "PublisherRestriction": "tcf", "TCString": "tcf",
         "decode_tc_string": "tcf", "VendorSet": "vendor_set"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{module}"), name)

__all__ = [
    "CmpAllowlist",
    "ConsentDecision",
    "ConsentError",
    "ConsentSettings",
    "PublisherRestriction",
    "TCString",
    "VendorSet",
    "decode_tc_string",
    "evaluate_consent",
    "vendor_allowed",
]
