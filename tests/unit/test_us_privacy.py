"""The US Privacy (uspv1) string parser, chalicelib/consent/us_privacy.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.consent.us_privacy import UsPrivacy, UsPrivacyError, parse_us_privacy

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "gpp" / "reference_decodes.json"


@pytest.mark.parametrize(("raw", "expected", "opted_out"), [
    ("1YNN", UsPrivacy(1, "Y", "N", "N"), False),
    ("1---", UsPrivacy(1, "-", "-", "-"), False),
    ("1NYN", UsPrivacy(1, "N", "Y", "N"), True),
    ("1YYY", UsPrivacy(1, "Y", "Y", "Y"), True),
    ("1Y-N", UsPrivacy(1, "Y", "-", "N"), False),
])
def test_valid_strings(raw: str, expected: UsPrivacy, opted_out: bool) -> None:
    parsed = parse_us_privacy(raw)
    assert parsed == expected
    assert parsed.opted_out is opted_out


@pytest.mark.parametrize("raw", [
    "", "1", "1YN", "1YNNN", "2YNN", "0YNN", "YNN1", "1yNN", "1YnN", "1XNN", "1Y N", "1YN ",
    " 1YN", "1YN\u00e9", "1YN\u0000", "\u0661YNN", "１YNN",
])
def test_invalid_strings(raw: str) -> None:
    with pytest.raises(UsPrivacyError):
        parse_us_privacy(raw)


def test_the_gpp_reference_strings_read_the_same() -> None:
    """Every uspv1 section the reference decoder read: same letters, same version."""
    results = json.loads(FIXTURE.read_text(encoding="utf-8"))["results"]
    sections = [s for r in results for s in r["sections"] if s["name"] == "uspv1"]
    assert len(sections) >= 10
    for section in sections:
        fields = section["fields"]
        if set(section["encoded"][1:]) <= set("YN-"):
            parsed = parse_us_privacy(section["encoded"])
            assert (parsed.version, parsed.notice, parsed.opt_out_sale, parsed.lspa) == (
                fields["Version"], fields["Notice"], fields["OptOutSale"], fields["LspaCovered"])
        else:  # '1XNN': the reference decoder takes any letter, this parser does not
            with pytest.raises(UsPrivacyError):
                parse_us_privacy(section["encoded"])


@given(st.text(max_size=8))
def test_anything_else_raises_only_us_privacy_error(raw: str) -> None:
    try:
        parsed = parse_us_privacy(raw)
    except UsPrivacyError:
        return
    assert raw == f"1{parsed.notice}{parsed.opt_out_sale}{parsed.lspa}"
