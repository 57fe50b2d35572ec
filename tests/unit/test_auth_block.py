"""One definition of the ``auth`` block (issue 13, defect 6): what the admin schema saves,
delivery accepts and signs; what delivery refuses, the schema refuses at save time."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import pytest

from chalicelib.admin.errors import ApiError
from chalicelib.admin.schemas import DESTINATION_AUTH, PROVIDER_AUTH
from chalicelib.providers.auth import (
    DESTINATION_HMAC_ALGORITHMS,
    PROVIDER_HMAC_ALGORITHMS,
    AuthConfigError,
    auth_headers,
    parse_auth,
)

BODY = b'{"uuid":"1"}'


def _saved(schema: Any, raw: dict[str, Any]) -> dict[str, Any] | None:
    try:
        return dict(schema.check(raw, "auth"))
    except ApiError:
        return None


def _delivered(raw: dict[str, Any], algorithms: tuple[str, ...]) -> bool:
    try:
        return parse_auth(raw, algorithms) is not None
    except AuthConfigError:
        return False


CASES = [
    {"type": "hmac", "secretRef": "env:S"},
    {"type": "hmac", "secretRef": "env:S", "algorithm": "sha384"},
    {"type": "hmac", "secretRef": "env:S", "algorithm": "sha512"},
    {"type": "hmac", "secretRef": "env:S", "algorithm": "md5"},
    {"type": "hmac", "secretRef": "env:S", "header": "X-" + "a" * 62},  # 64 characters
    {"type": "hmac", "secretRef": "env:S", "header": "X-" + "a" * 63},  # 65
    {"type": "hmac", "secretRef": "env:S", "header": "X-" + "a" * 126},  # 128
    {"type": "hmac", "secretRef": "env:S", "header": "Bad Header"},
]


@pytest.mark.parametrize("raw", CASES)
@pytest.mark.parametrize("schema,algorithms", [(PROVIDER_AUTH, PROVIDER_HMAC_ALGORITHMS),
                                               (DESTINATION_AUTH, DESTINATION_HMAC_ALGORITHMS)],
                         ids=["provider", "destination"])
def test_saved_exactly_when_delivery_accepts_it(raw: dict[str, Any], schema: Any,
                                                algorithms: tuple[str, ...]) -> None:
    saved = _saved(schema, raw)
    assert (saved is not None) == _delivered(raw, algorithms), raw
    if saved is not None:
        assert _delivered(saved, algorithms)  # with the schema's defaults filled in


@pytest.mark.parametrize("algorithm", ["sha256", "sha384", "sha512"])
def test_s2s_hmac_signs_with_the_saved_algorithm(algorithm: str) -> None:
    spec = parse_auth({"type": "hmac", "secretRef": "env:S", "algorithm": algorithm,
                       "header": "X-Sig"}, DESTINATION_HMAC_ALGORITHMS)
    assert spec is not None
    expected = base64.b64encode(hmac.new(b"k", BODY, getattr(hashlib, algorithm)).digest())
    assert auth_headers(spec, "k", BODY) == {"X-Sig": expected.decode()}
