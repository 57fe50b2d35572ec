"""Fuzz ``/id``'s request parsing like the other routes (test_fuzz_numeric_fields.py): seeded
requests whose parameters hold digits of every script, mangled escapes, over-long values,
separators and privacy strings, as GET and as form POST. Not one may answer 5xx, none may carry
error 0, and every answer is JSON (or the JSONP wrapper of a valid callback)."""

from __future__ import annotations

import json
import random
from typing import Any

from tests.routes.test_fuzz_numeric_fields import VALUES

REQUESTS = 1_500
SEED = 20261218
EXTRA = [
    "*", "0123456789ABCDEF01234567@AdobeOrg", "1" * 38, "0" * 38, "1" * 37, "١" * 38,
    "crm\x01u-1\x011", "crm\x01u-1\x013", "77\x01u\x01", "\x01\x01", "s_c_il[0]._setX",
    "s_c_il[x]", "a" * 70, "x" * 3000, "MC", "AAM", "true", "%ZZ", "%00", "%C3%28", "\u0000",
    "AVID\x01abc", "MC,AAM", "\"quoted\"", "%25esid!",
]
KEYS = ["d_orgid", "d_mid", "d_cid_ic", "d_cid", "d_cb", "d_blob", "d_fieldgroup", "d_ver",
        "d_visid_ver", "d_nsid", "d_coppa", "gdpr", "gdpr_consent", "gpp", "gpp_sid", "ts",
        "d_uuid", "d_rtbd", "mcorgid"]


def _encode(value: str, rng: random.Random) -> str:
    if rng.random() < 0.1:
        return value.replace("\x01", "%01")  # raw: broken escapes reach the parser
    return "".join(c if c.isalnum() and c.isascii() else
                   "".join(f"%{b:02X}" for b in c.encode("utf-8")) for c in value)


def _query(rng: random.Random) -> str:
    pairs = ["d_orgid=0123456789ABCDEF01234567%40AdobeOrg"] if rng.random() < 0.7 else []
    for _ in range(rng.randint(1, 6)):
        pairs.append(f"{rng.choice(KEYS)}={_encode(rng.choice(VALUES + EXTRA), rng)}")
    rng.shuffle(pairs)
    return "&".join(pairs)


def _readable(response: Any) -> bool:
    text = response.body.decode("utf-8")
    if text.startswith("/**/"):
        text = text[text.index("(") + 1:-2]
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


def test_id_parsing_never_gives_5xx_or_error_0(client: Any) -> None:
    rng = random.Random(SEED)
    failures: list[tuple[str, int, str | None]] = []
    seen: dict[str, int] = {}
    for _ in range(REQUESTS):
        query = _query(rng)
        cookie = {"Cookie": f"rtdcs_uuid={rng.choice(['1' * 38, 'NOTARGET', 'x', '9' * 38])}"}
        if rng.random() < 0.3:
            response = client.http.post(
                "/id?d_rtbd=json", body=query.encode("utf-8"),
                headers={"Content-Type": rng.choice(["application/x-www-form-urlencoded",
                                                     "text/plain"]), **cookie})
        else:
            response = client.http.get(f"/id?{query}", headers=cookie)
        errors = (response.headers.get("X-Error") or "").split(",")
        for code in errors:
            seen[code] = seen.get(code, 0) + 1
        if b'"d_mid"' in response.body:
            seen["mid"] = seen.get("mid", 0) + 1
        if response.status_code >= 500 or "0" in errors or not _readable(response):
            failures.append((query, response.status_code, response.headers.get("X-Error")))
    assert failures == [], failures[:10]
    # the fuzz reaches every outcome: MIDs, discarded requests, bad org ids, opt-outs
    assert all(seen.get(k, 0) >= 20 for k in ("mid", "311", "907", "171", "101")), seen
