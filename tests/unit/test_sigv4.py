"""``chalicelib.store.sigv4`` against AWS's published SigV4 test suite and botocore's signer.

1. The AWS "aws-sig-v4-test-suite" vectors in ``tests/fixtures/sigv4/``, copied byte for byte
   from boto/botocore ``tests/unit/auth/aws4_testsuite/`` at commit
   0e6e2404b85dc336dd2889814e089bde7d1a4c55 (see that directory's README, LICENSE, NOTICE).
   Cases for features the signer does not have (duplicate header names, path
   normalization, percent-encoding a raw path, an already percent-encoded query) are not
   copied.
2. ``botocore.auth.SigV4Auth`` for the DynamoDB JSON POSTs ``dynamo_http`` sends, through
   its public ``canonical_request`` / ``string_to_sign`` / ``signature`` (``add_auth`` reads
   the real clock).
3. The per-day signing-key cache: a new day (or secret) gets a new key.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import json
import re
from pathlib import Path
from typing import NamedTuple

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials
from botocore.credentials import ReadOnlyCredentials  # what the signer is given in production

from chalicelib.store.sigv4 import (
    Credentials,
    SigV4Signer,
    amz_date,
    canonical_query,
)

SUITE_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "sigv4"
SUITE_CREDENTIALS = ReadOnlyCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                                        None)
SUITE_REGION = "us-east-1"
SUITE_SERVICE = "service"
SUITE_STAMP = "20150830T123600Z"

# Every case copied into tests/fixtures/sigv4 (one directory each), all of them run.
SUITE_CASES = [
    "get-vanilla",
    "get-vanilla-query",
    "get-vanilla-empty-query-key",
    "get-vanilla-query-order-key-case",
    "get-vanilla-query-order-key",
    "get-vanilla-query-order-value",
    "get-vanilla-query-unreserved",
    "get-vanilla-utf8-query",
    "get-unreserved",
    "get-header-value-trim",
    "get-header-value-multiline",
    "get-vanilla-with-session-token",
    "post-vanilla",
    "post-vanilla-query",
    "post-vanilla-empty-query-value",
    "post-header-key-case",
    "post-header-key-sort",
    "post-header-value-case",
    "post-x-www-form-urlencoded",
    "post-x-www-form-urlencoded-parameters",
    "post-sts-header-before",
    "post-sts-header-after",
]

# The session token of the suite's post-sts-token cases (post-sts-token/readme.txt).
STS_TOKEN = (
    "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxf"
    "pSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0K"
    "PkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lI"
    "ZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA=="
)


class SuiteCase(NamedTuple):
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    stamp: str
    token: str | None
    creq: str
    sts: str
    authz: str


def _read(name: str, ext: str) -> bytes:
    return (SUITE_DIR / name / f"{name}.{ext}").read_bytes()


def _parse_request(raw: bytes) -> tuple[str, str, list[tuple[str, str]], bytes]:
    """Method, request target, header lines (a folded line joined with "\\n") and body."""
    head, _, body = raw.partition(b"\n\n")
    request_line, *lines = head.decode("utf-8").split("\n")
    start, _, version = request_line.rpartition(" ")
    assert version == "HTTP/1.1", request_line
    method, _, target = start.partition(" ")
    headers: list[tuple[str, str]] = []
    for line in lines:
        if line[:1] in (" ", "\t"):  # obs-fold: continues the previous header's value
            name, value = headers[-1]
            headers[-1] = (name, f"{value}\n{line}")
        else:
            name, _, value = line.partition(":")
            headers.append((name, value))
    return method, target, headers, body


def load_case(name: str) -> SuiteCase:
    method, target, header_lines, body = _parse_request(_read(name, "req"))
    creq = _read(name, "creq").decode("utf-8")
    headers: dict[str, str] = {}
    stamp = ""
    token = None
    for header, value in header_lines:
        assert header.lower() not in {h.lower() for h in headers}, f"{name}: duplicate {header}"
        if header.lower() == "x-amz-date":
            stamp = value
        elif header.lower() == "x-amz-security-token":
            token = value
        else:
            headers[header] = value
    if token is None:
        # get-vanilla-with-session-token signs a token its .req does not show (botocore's
        # runner reads it from the .creq the same way).
        found = re.search(r"^x-amz-security-token:(.*)$", creq, re.MULTILINE)
        token = found.group(1) if found else None
    path, _, query = target.partition("?")
    return SuiteCase(method, path, query, headers, body, stamp, token, creq,
                     _read(name, "sts").decode("utf-8"), _read(name, "authz").decode("utf-8"))


def _signature(authorization: str) -> str:
    return authorization.rpartition("Signature=")[2]


def _signed_headers(authorization: str) -> str:
    found = re.search(r"SignedHeaders=([^,]*),", authorization)
    assert found, authorization
    return found.group(1)


def test_every_copied_case_is_run() -> None:
    on_disk = sorted(path.name for path in SUITE_DIR.iterdir() if path.is_dir())
    assert on_disk == sorted(SUITE_CASES)


@pytest.mark.parametrize("name", SUITE_CASES)
def test_suite_vector_authorization(name: str) -> None:
    case = load_case(name)
    assert case.stamp == SUITE_STAMP
    credentials = SUITE_CREDENTIALS._replace(token=case.token)
    signer = SigV4Signer(SUITE_SERVICE, SUITE_REGION)

    signed = signer.sign(case.method, case.path, case.query, case.headers, case.body,
                         credentials, case.stamp)

    assert signed["Authorization"] == case.authz
    assert signed["X-Amz-Date"] == case.stamp
    assert signed.get("X-Amz-Security-Token") == case.token
    for header, value in case.headers.items():  # the given headers are returned unchanged
        assert signed[header] == value
    assert set(signed) == set(case.headers) | {"X-Amz-Date", "Authorization"} | (
        {"X-Amz-Security-Token"} if case.token else set())


@pytest.mark.parametrize("name", SUITE_CASES)
def test_suite_vector_signing_key_and_parts(name: str) -> None:
    """The suite's .sts hashes its .creq, and the signer's key signs that .sts into the
    .authz signature; the .creq's signed headers and query are the signer's."""
    case = load_case(name)
    creq_lines = case.creq.split("\n")
    assert case.sts.split("\n") == [
        "AWS4-HMAC-SHA256", SUITE_STAMP, f"{SUITE_STAMP[:8]}/{SUITE_REGION}/{SUITE_SERVICE}/"
        "aws4_request", hashlib.sha256(case.creq.encode("utf-8")).hexdigest()]
    key = SigV4Signer(SUITE_SERVICE, SUITE_REGION).signing_key(
        SUITE_CREDENTIALS.secret_key, SUITE_STAMP[:8])
    expected = hmac.new(key, case.sts.encode("utf-8"), hashlib.sha256).hexdigest()
    assert _signature(case.authz) == expected
    assert creq_lines[2] == canonical_query(case.query)
    assert creq_lines[-2] == _signed_headers(case.authz)
    assert creq_lines[-1] == hashlib.sha256(case.body).hexdigest()


def test_sts_token_is_signed_before_not_after() -> None:
    """The signer puts the token in the canonical request (the suite's
    post-sts-header-before, what botocore does); post-sts-header-after's signature is the
    token-less one, which is not what a signer given a token produces."""
    before = load_case("post-sts-header-before")
    after = load_case("post-sts-header-after")
    assert before.token == STS_TOKEN
    assert after.token is None
    signer = SigV4Signer(SUITE_SERVICE, SUITE_REGION)
    with_token = signer.sign("POST", "/", "", {"Host": "example.amazonaws.com"}, b"",
                             SUITE_CREDENTIALS._replace(token=STS_TOKEN), SUITE_STAMP)
    assert with_token["Authorization"] == before.authz
    assert with_token["X-Amz-Security-Token"] == STS_TOKEN
    assert with_token["Authorization"] != after.authz


def test_signing_key_matches_aws_documented_example() -> None:
    # AWS General Reference, "Examples of how to derive a signing key for Signature
    # Version 4": secret wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, 20120215, us-east-1, iam.
    key = SigV4Signer("iam", "us-east-1").signing_key(SUITE_CREDENTIALS.secret_key, "20120215")
    assert key.hex() == "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"


# --- botocore's SigV4Auth on DynamoDB-shaped requests ------------------------------------

CONTENT_TYPE = "application/x-amz-json-1.0"
TOKEN = "FwoGZXIvYXdzEBYaDE+/tok=en//with+odd/chars=="
KEYS = ReadOnlyCredentials("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", None)
STAMP = "20240607T101112Z"

BODIES: dict[str, bytes] = {
    "empty-object": b"{}",
    "empty": b"",
    "get-item": json.dumps({"TableName": "profiles", "Key": {"uuid": {"S": "1" * 38}},
                            "ConsistentRead": True}, separators=(",", ":")).encode(),
    "put-item-utf8": json.dumps(
        {"TableName": "profiles", "Item": {"uuid": {"S": "caf\u00e9-\u6771\u4eac-\U0001f600"},
                                           "n": {"S": "Zo\u00eb \u00fcber \u0434\u0430"}}},
        ensure_ascii=False).encode("utf-8"),
    "put-item-escaped": json.dumps({"TableName": "t", "Item": {"s": {"S": "\u00e9\u2603"}}},
                                   separators=(",", ":")).encode(),
}
ENDPOINTS = [  # (endpoint URL, the Host header dynamo_http sends for it)
    ("https://dynamodb.us-east-1.amazonaws.com", "dynamodb.us-east-1.amazonaws.com"),
    ("https://dynamodb.us-east-1.amazonaws.com:443/", "dynamodb.us-east-1.amazonaws.com"),
    ("http://127.0.0.1:5055", "127.0.0.1:5055"),
    ("http://localhost:8000/", "localhost:8000"),
]


class BotoSigned(NamedTuple):
    canonical_request: str
    signed_headers: str
    authorization: str


def botocore_sign(url: str, headers: dict[str, str], body: bytes, credentials: Credentials,
                  stamp: str, region: str = "us-east-1") -> BotoSigned:
    """What ``SigV4Auth.add_auth`` computes at ``stamp``: it sets X-Amz-Date (and
    X-Amz-Security-Token when there is a token) before the canonical request, so the
    token is signed; Host comes from the URL (default port dropped)."""
    request = AWSRequest(method="POST", url=url, data=body, headers=dict(headers))
    request.context["timestamp"] = stamp
    request.headers["X-Amz-Date"] = stamp
    if credentials.token:
        request.headers["X-Amz-Security-Token"] = credentials.token
    auth = SigV4Auth(BotoCredentials(credentials.access_key, credentials.secret_key,
                                     credentials.token), "dynamodb", region)
    canonical = auth.canonical_request(request)
    signature = auth.signature(auth.string_to_sign(request, canonical), request)
    signed_headers = auth.signed_headers(auth.headers_to_sign(request))
    authorization = (f"AWS4-HMAC-SHA256 Credential={auth.scope(request)}, "
                     f"SignedHeaders={signed_headers}, Signature={signature}")
    return BotoSigned(canonical, signed_headers, authorization)


def _dynamo_headers(target: str = "GetItem") -> dict[str, str]:
    return {"Content-Type": CONTENT_TYPE, "X-Amz-Target": f"DynamoDB_20120810.{target}"}


@pytest.mark.parametrize("token", [None, TOKEN], ids=["keys", "session"])
@pytest.mark.parametrize("url,host", ENDPOINTS)
@pytest.mark.parametrize("body_name", sorted(BODIES))
def test_matches_botocore(body_name: str, url: str, host: str, token: str | None) -> None:
    body = BODIES[body_name]
    credentials = KEYS._replace(token=token)
    signed = SigV4Signer("dynamodb", "us-east-1").sign(
        "POST", "/", "", {"Host": host, **_dynamo_headers()}, body, credentials, STAMP)
    expected = botocore_sign(url, _dynamo_headers(), body, credentials, STAMP)
    assert signed["Authorization"] == expected.authorization
    assert f"\nhost:{host}\n" in expected.canonical_request


def test_botocore_signs_the_session_token() -> None:
    """Apples to apples: botocore's canonical request holds x-amz-security-token when the
    credentials carry a token, and so does the signer's."""
    url, host = ENDPOINTS[2]
    credentials = KEYS._replace(token=TOKEN)
    expected = botocore_sign(url, _dynamo_headers(), b"{}", credentials, STAMP)
    assert f"\nx-amz-security-token:{TOKEN}\n" in expected.canonical_request
    assert expected.signed_headers == (
        "content-type;host;x-amz-date;x-amz-security-token;x-amz-target")
    signed = SigV4Signer("dynamodb", "us-east-1").sign(
        "POST", "/", "", {"Host": host, **_dynamo_headers()}, b"{}", credentials, STAMP)
    assert _signed_headers(signed["Authorization"]) == expected.signed_headers
    no_token = SigV4Signer("dynamodb", "us-east-1").sign(
        "POST", "/", "", {"Host": host, **_dynamo_headers()}, b"{}", KEYS, STAMP)
    assert "X-Amz-Security-Token" not in no_token
    assert _signed_headers(no_token["Authorization"]) == "content-type;host;x-amz-date;x-amz-target"


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1", "ap-southeast-2"])
def test_matches_botocore_in_other_regions(region: str) -> None:
    url = f"https://dynamodb.{region}.amazonaws.com"
    headers = _dynamo_headers("PutItem")
    signed = SigV4Signer("dynamodb", region).sign(
        "POST", "/", "", {"Host": url[8:], **headers}, BODIES["put-item-utf8"],
        KEYS._replace(token=TOKEN), STAMP)
    expected = botocore_sign(url, headers, BODIES["put-item-utf8"], KEYS._replace(token=TOKEN),
                             STAMP, region)
    assert signed["Authorization"] == expected.authorization


def test_utf8_body_is_signed_as_its_bytes() -> None:
    """The payload hash is of the bytes sent: a body differing in one UTF-8 character gets
    another signature, and each matches botocore's."""
    url, host = ENDPOINTS[2]
    signer = SigV4Signer("dynamodb", "us-east-1")
    first = '{"k":{"S":"\u00e9"}}'.encode()
    second = '{"k":{"S":"\u00e8"}}'.encode()
    signatures = []
    for body in (first, second):
        signed = signer.sign("POST", "/", "", {"Host": host, **_dynamo_headers()}, body,
                             KEYS, STAMP)
        assert signed["Authorization"] == botocore_sign(
            url, _dynamo_headers(), body, KEYS, STAMP).authorization
        signatures.append(_signature(signed["Authorization"]))
    assert signatures[0] != signatures[1]


@pytest.mark.parametrize("pairs", [
    [("b", "2"), ("a", "1")],
    [("a/b", "c d"), ("x", "y/z+w"), ("A", "")],
    [("\u1234", "bar"), ("k", "\u00e9=\u00e8")],
])
def test_canonical_query_matches_botocore(pairs: list[tuple[str, str]]) -> None:
    """For raw (not percent-encoded) query pairs, ``canonical_query`` is what botocore's
    public ``canonical_query_string`` gives for the same pairs as request params."""
    request = AWSRequest(method="GET", url="https://example.amazonaws.com/", params=pairs)
    auth = SigV4Auth(BotoCredentials(KEYS.access_key, KEYS.secret_key), "dynamodb", "us-east-1")
    query = "&".join(f"{name}={value}" for name, value in pairs)
    assert canonical_query(query) == auth.canonical_query_string(request)


# --- the signing-key cache ------------------------------------------------------------------

def _epoch(year: int, month: int, day: int, hour: int, minute: int, second: int) -> int:
    return calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))


def test_amz_date() -> None:
    assert amz_date(_epoch(2024, 2, 29, 23, 59, 59) + 0.999) == "20240229T235959Z"
    assert amz_date(_epoch(2024, 3, 1, 0, 0, 0)) == "20240301T000000Z"
    assert amz_date(1440938160) == SUITE_STAMP


def _derived_key(secret: str, day: str, region: str, service: str) -> bytes:
    key = ("AWS4" + secret).encode("utf-8")
    for part in (day, region, service, "aws4_request"):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return key


def test_new_day_gets_a_new_signing_key() -> None:
    """One signer across midnight UTC (and back): each signature matches botocore's, so the
    key of the new day is derived anew rather than the cached one reused."""
    url, host = ENDPOINTS[0]
    signer = SigV4Signer("dynamodb", "us-east-1")
    credentials = KEYS._replace(token=TOKEN)
    stamps = [amz_date(_epoch(2024, 2, 29, 23, 59, 59)), amz_date(_epoch(2024, 3, 1, 0, 0, 1)),
              amz_date(_epoch(2024, 3, 1, 12, 0, 0)), amz_date(_epoch(2024, 2, 29, 23, 59, 58))]
    authorizations = []
    for stamp in stamps:
        signed = signer.sign("POST", "/", "", {"Host": host, **_dynamo_headers()},
                             BODIES["get-item"], credentials, stamp)
        assert signed["Authorization"] == botocore_sign(
            url, _dynamo_headers(), BODIES["get-item"], credentials, stamp).authorization
        assert f"/{stamp[:8]}/us-east-1/dynamodb/aws4_request," in signed["Authorization"]
        authorizations.append(signed["Authorization"])
    assert len(set(authorizations)) == len(stamps)

    first_day = signer.signing_key(KEYS.secret_key, "20240229")
    second_day = signer.signing_key(KEYS.secret_key, "20240301")
    assert first_day != second_day
    assert first_day == _derived_key(KEYS.secret_key, "20240229", "us-east-1", "dynamodb")
    assert second_day == _derived_key(KEYS.secret_key, "20240301", "us-east-1", "dynamodb")
    assert signer.signing_key(KEYS.secret_key, "20240301") == second_day


def test_new_secret_gets_a_new_signing_key() -> None:
    """Rotated credentials on the same day: the cached key of the old secret is not used."""
    url, host = ENDPOINTS[2]
    signer = SigV4Signer("dynamodb", "us-east-1")
    rotated = ReadOnlyCredentials("ASIAROTATEDEXAMPLE", "another/secret+key", TOKEN)
    for credentials in (KEYS, rotated, KEYS):
        signed = signer.sign("POST", "/", "", {"Host": host, **_dynamo_headers()},
                             BODIES["empty-object"], credentials, STAMP)
        assert signed["Authorization"] == botocore_sign(
            url, _dynamo_headers(), BODIES["empty-object"], credentials, STAMP).authorization
    assert (signer.signing_key(KEYS.secret_key, STAMP[:8])
            != signer.signing_key(rotated.secret_key, STAMP[:8]))
