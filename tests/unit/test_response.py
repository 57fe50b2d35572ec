"""dcs-protocol.md 4.5 and 4.6: JSON, JSONP, GIF and X-Error."""

from __future__ import annotations

import json

from chalicelib.dcs.errors import error
from chalicelib.dcs.response import GIF, render


def test_gif_by_default_with_x_error() -> None:
    out = render({"stuff": []}, [error(904)], rtbd=None, callback=None, accept="image/*")
    assert out.status == 200 and out.body == GIF and len(GIF) == 43
    assert out.headers["X-Error"] == "904" and out.headers["Cache-Control"] == "no-store"


def test_gif_body_empty_when_accept_excludes_it() -> None:
    for accept in ("text/html", None):
        out = render({}, [], rtbd=None, callback=None, accept=accept)
        assert out.body == b"" and out.headers["Content-Type"].startswith("text/plain")


def test_json_carries_errors() -> None:
    out = render({"tid": "x"}, [error(102, "abc")], rtbd="json", callback=None, accept=None)
    assert json.loads(out.body) == {"tid": "x", "errors": [
        {"code": 102, "msg": "Invalid aam id passed in request: abc"}]}


def test_jsonp_wraps_with_comment_prefix() -> None:
    out = render({"a": 1}, [], rtbd="json", callback="my.cb_$1", accept=None)
    assert out.body == b'/**/my.cb_$1({"a":1});'
    assert out.headers["Content-Type"].startswith("application/javascript")
    assert out.headers["X-Content-Type-Options"] == "nosniff"


def test_invalid_callback_is_never_echoed() -> None:
    for bad in ["1bad", "alert(1)//", "a" * 65, "x-y", "</script>"]:
        out = render({"a": 1}, [error(901)], rtbd="json", callback=bad, accept=None)
        assert bad.encode() not in out.body
        assert json.loads(out.body)["errors"][0]["code"] == 901
