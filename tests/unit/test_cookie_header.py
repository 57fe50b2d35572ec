"""parse_cookie_header: the plain-pairs fast path (no http.cookies on a cold start, issue 17)
answers exactly what SimpleCookie (with the split fallback) answers, for any header."""

from __future__ import annotations

import subprocess
import sys
from http.cookies import Morsel
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.dcs import cookies
from chalicelib.dcs.cookies import parse_cookie_header

ROOT = Path(__file__).resolve().parents[2]


def _simple_cookie(header: str) -> dict[str, str]:
    """The parser before issue 17, SimpleCookie with its plain-split fallback."""
    return cookies.parse_with_simple_cookie(header)


_NAMES = st.one_of(st.sampled_from(["rtdcs_uuid", "a", "A-b", "x_1", "Path", "secure",
                                    "Max-Age", "$Version", "expires", "n"]),
                   st.text("abcXYZ019_-$.", min_size=1, max_size=6))
_VALUES = st.one_of(st.sampled_from(["", "1", "0.5-x", '"quoted"', '"a\\"b"', "a b", "x=y",
                                     "Wed, 21 Oct 2026 07:28:00 GMT", "é", "1,2"]),
                    st.text("abc019_.-=\" ,\\;", max_size=8))
_SEPARATORS = st.sampled_from([";", "; ", " ;", ";;", " ; ", ";\t", ","])


@st.composite
def _headers(draw: st.DrawFn) -> str:
    pairs = draw(st.lists(st.tuples(_NAMES, _VALUES), min_size=1, max_size=4))
    parts = [f"{name}={value}" if draw(st.booleans()) or not value else name
             for name, value in pairs]
    header = parts[0]
    for part in parts[1:]:
        header += draw(_SEPARATORS) + part
    return draw(st.sampled_from(["", " ", "\t"])) + header + draw(st.sampled_from(["", ";", " "]))


@settings(max_examples=600, deadline=None)
@given(_headers())
def test_any_header_parses_as_simple_cookie_did(header: str) -> None:
    assert parse_cookie_header(header) == _simple_cookie(header)


_PLAIN_NAME = st.one_of(st.sampled_from(["Path", "secure", "DOMAIN", "max-age", "Version"]),
                       st.text("aZ09_-", min_size=1, max_size=5))
_PLAIN_HEADER = st.lists(
    st.tuples(st.sampled_from(["", " ", "  ", "\t"]), _PLAIN_NAME, st.text("aZ09_.-", max_size=5),
              st.sampled_from(["", " "])), min_size=1, max_size=5,
).map(lambda pairs: ";".join(f"{a}{n}={v}{b}" for a, n, v, b in pairs))


@settings(max_examples=400, deadline=None)
@given(_PLAIN_HEADER, st.sampled_from(["", ";", "; ", " "]))
def test_plain_pair_headers_parse_as_simple_cookie_did(header: str, end: str) -> None:
    assert parse_cookie_header(header + end) == _simple_cookie(header + end)


def test_plain_headers_and_their_edges() -> None:
    for header in ("rtdcs_uuid=123; a=1", " a=1 ;b=2; ", "a=1; a=2", "a=", "a=1;;b=2",
                   "a =1", "a=1; Path=/", "path=/; a=1", "a=1; $Version=1", 'a="x"', "a=x y"):
        assert parse_cookie_header(header) == _simple_cookie(header), header


def test_attribute_names_are_simple_cookies_reserved_keys() -> None:
    assert cookies._ATTRIBUTES == frozenset(Morsel._reserved)  # type: ignore[attr-defined]


def test_a_plain_header_does_not_load_http_cookies() -> None:
    probe = ("import sys; from chalicelib.dcs.cookies import parse_cookie_header; "
             "parse_cookie_header('rtdcs_uuid=1; a=b'); print('http.cookies' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                         text=True, check=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr
