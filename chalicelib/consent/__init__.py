"""IAB TCF v2 consent: the TC string decoder and the gates of dcs-protocol.md section 7."""

from chalicelib.consent.gates import (
    CmpAllowlist,
    ConsentDecision,
    ConsentSettings,
    evaluate_consent,
    vendor_allowed,
)
from chalicelib.consent.tcf import ConsentError, PublisherRestriction, TCString, decode_tc_string
from chalicelib.consent.vendor_set import VendorSet

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
