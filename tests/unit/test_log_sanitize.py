"""Issue 17: the log line's sanitizer keeps its verdict per key and tests plain values by exact
type first; what it writes is what the original comprehension wrote."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Mapping

from chalicelib.runtime import observability
from chalicelib.runtime.observability import REDACTED, sanitize

SECRET = "s3cr3t-value-xyz"


def _reference(value: Any, secrets: list[str]) -> Any:
    """The sanitizer as it was before the verdict cache."""
    parts = ("token", "secret", "password", "authorization", "cookie", "signature")
    if isinstance(value, Mapping):
        return {
            str(k): _reference(v, secrets)
            for k, v in value.items()
            if not str(k).lower().startswith("p_")
            and not any(part in str(k).lower() for part in parts)
        }
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        return [_reference(v, secrets) for v in items]
    if isinstance(value, str) and any(s in value for s in secrets):
        return REDACTED
    return value


class _Text(str):
    pass


RECORD = {
    "tid": "abc", "uuid": None, "n": {"signals": 3, "traits": 0}, "ok": True, "ms": 1.5,
    "P_Hidden": 1, "p_x": {"a": 1}, "X-Api-Token": "t", "MyPassword": "p", "Cookie": "c",
    "signals": OrderedDict([("c_page", f"https://x/?k={SECRET}"), ("c_ok", "fine"),
                            ("h_authorization", "Bearer"), (7, "int key")]),
    "providers": [{"name": "p1", "detail": _Text(SECRET)}, ("t", 1), {3, 1, 2}],
    "segments": frozenset({"b", "a"}),
}


def test_the_line_is_the_one_the_original_sanitizer_wrote() -> None:
    env = {"RTDCS_ADMIN_TOKEN": SECRET}
    for _ in range(2):  # verdicts computed, then read back
        assert sanitize(RECORD, env) == _reference(RECORD, [SECRET])
    assert sanitize(RECORD, {}) == _reference(RECORD, [])
    cleaned = sanitize(RECORD, env)
    assert cleaned["signals"]["c_page"] == REDACTED
    assert cleaned["providers"][0]["detail"] == REDACTED
    assert "X-Api-Token" not in cleaned and "P_Hidden" not in cleaned and "7" in cleaned["signals"]


def test_key_verdicts_are_kept_and_bounded(monkeypatch: Any) -> None:
    monkeypatch.setattr(observability, "_KEY_VERDICTS", {})
    sanitize({"tid": 1, "p_x": 2, "secretKey": 3}, {})
    assert observability._KEY_VERDICTS == {"tid": True, "p_x": False, "secretKey": False}
    monkeypatch.setattr(observability, "_KEY_VERDICTS_KEPT", 3)
    assert sanitize({"other": 4}, {}) == {"other": 4}  # judged, not kept: the cache is full
    assert len(observability._KEY_VERDICTS) == 3
