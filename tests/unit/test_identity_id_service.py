"""IdService (``/id``) over fake collaborators: the ``identity.org_ids`` allow-list (907), the
``d_blob`` signer (env secret, SSM parameter through an injected client, no secret), and the
storage failures (throttle 429, unreadable opt-out marker 204, link write 203)."""

from __future__ import annotations

from typing import Any, Sequence

import pytest

from chalicelib.config import Settings
from chalicelib.dcs.params import parse_request
from chalicelib.identity.blob import BlobSigner, sign_blob
from chalicelib.identity.id_service import IdService, org_allowed
from chalicelib.identity.values import DeclaredId
from chalicelib.rules.catalog import CompiledCatalog, compile_catalog
from chalicelib.store.idmap import LinkRecord
from chalicelib.store.profiles import Profile, ProfileChanges

NOW = 1_800_000_000.0
ORG = "ABC@AdobeOrg"
CATALOG = compile_catalog({"datasource": [
    {"dataSourceId": 77, "name": "CRM", "idType": "CROSS_DEVICE", "integrationCode": "crm"}]}, 1)


class _Catalog:
    def get(self) -> CompiledCatalog:
        return CATALOG


class _Down(Exception):
    pass


class _Throttled(Exception):
    pass


class _Profiles:
    def __init__(self, fail_load: BaseException | None = None) -> None:
        self.fail_load = fail_load
        self.applied: list[ProfileChanges] = []

    def load(self, uuid: str, now: float) -> Profile:
        if self.fail_load is not None:
            raise self.fail_load
        return Profile(uuid)

    def apply(self, uuid: str, changes: ProfileChanges, stored: Profile | None = None,
              retention: Any = None) -> None:
        self.applied.append(changes)

    def is_opted_out(self, uuid: str) -> bool:
        return False


class _IdMap:
    def __init__(self, fail_link: bool = False) -> None:
        self.fail_link = fail_link
        self.linked: list[tuple[list[DeclaredId], str]] = []

    def read(self, ids: Sequence[DeclaredId], now: float) -> dict[tuple[int, str], LinkRecord]:
        return {}

    def link(self, ids: Sequence[DeclaredId], uuid: str, existing: Any, now: float) -> None:
        if self.fail_link:
            raise _Down()
        self.linked.append((list(ids), uuid))


def _service(org_ids: str = ORG, profiles: _Profiles | None = None,
             idmap: _IdMap | None = None) -> IdService:
    settings = Settings.from_env({"RTDCS_IDENTITY_ORG_IDS": org_ids,
                                  "RTDCS_IDENTITY_SUBDOMAIN": "shop",
                                  "RTDCS_IDENTITY_ID_SYNC_TTL": "3600"})
    return IdService(settings, _Catalog(), profiles or _Profiles(), idmap or _IdMap(),
                     lambda mid: sign_blob("k", mid), lambda: NOW, (_Down, _Throttled),
                     lambda exc: isinstance(exc, _Throttled))


def _call(service: IdService, query: dict[str, list[str]], cookie: str | None = None) -> Any:
    cookies = {"rtdcs_uuid": cookie} if cookie else {}
    return service.handle(parse_request("/id", query, None), cookies)


def test_the_org_id_allow_list() -> None:
    assert org_allowed(("*",), "any@AdobeOrg") and not org_allowed(("*",), None)
    assert org_allowed((ORG, "X"), ORG) and not org_allowed((ORG,), "other")
    assert not org_allowed((), ORG)  # nothing configured: nothing allowed
    ok = _call(_service(), {"d_orgid": [ORG]})
    assert ok.fields["d_mid"] and ok.fields["subdomain"] == "shop"
    assert ok.fields["id_sync_ttl"] == 3600 and ok.uuid_cookie == ok.fields["d_mid"]
    unknown = _call(_service(), {"d_orgid": ["other@AdobeOrg"]})
    assert [e.code for e in unknown.errors] == [907] and "d_mid" not in unknown.fields
    assert "other@AdobeOrg" in unknown.errors[0].msg and unknown.uuid_cookie is None
    assert [e.code for e in _call(_service(""), {"d_orgid": [ORG]}).errors] == [907]


def test_the_embargo_applies_as_on_event() -> None:
    parsed = parse_request("/id", {"d_orgid": [ORG]}, None)
    blocked = _service().handle(parsed, {}, {"CloudFront-Viewer-Country": "kp"})
    assert [e.code for e in blocked.errors] == [199] and "d_mid" not in blocked.fields
    allowed = _service().handle(parsed, {}, {"CloudFront-Viewer-Country": "GB"})
    assert allowed.errors == [] and allowed.fields["d_mid"]


def test_storage_failures() -> None:
    known = "4" * 38
    throttled = _call(_service(profiles=_Profiles(_Throttled())), {"d_orgid": [ORG]}, known)
    assert throttled.status == 429 and "d_mid" not in throttled.fields
    down = _call(_service(profiles=_Profiles(_Down())), {"d_orgid": [ORG]}, known)
    assert [e.code for e in down.errors] == [204] and down.uuid_cookie is None
    idmap = _IdMap(fail_link=True)
    failed = _call(_service(idmap=idmap), {"d_orgid": [ORG], "d_cid_ic": ["crm\x01u-1\x011"]})
    assert [e.code for e in failed.errors] == [203] and failed.fields["d_mid"]


def test_declared_ids_keep_their_auth_state() -> None:
    idmap, profiles = _IdMap(), _Profiles()
    result = _call(_service(profiles=profiles, idmap=idmap),
                   {"d_orgid": [ORG], "d_cid_ic": ["crm\x01u-1\x011", "crm\x01u-2\x012"]})
    assert idmap.linked == [([DeclaredId(77, "u-1", 1), DeclaredId(77, "u-2", 2)],
                             result.fields["d_mid"])]
    assert profiles.applied[0].linked_ids == ((77, "u-1"), (77, "u-2"))


class _Ssm:
    def __init__(self, value: str | None) -> None:
        self.value = value
        self.calls = 0

    def get_parameter(self, Name: str, WithDecryption: bool) -> dict[str, Any]:  # noqa: N803
        self.calls += 1
        if self.value is None:
            raise RuntimeError("AccessDenied")
        return {"Parameter": {"Value": self.value}}


def test_blob_signer_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    mid = "5" * 38
    assert BlobSigner(env={}).sign(mid) is None  # no secret: no d_blob
    local = BlobSigner(env={"RTDCS_IDENTITY_BLOB_SECRET": "s1"})
    blob = local.sign(mid)
    assert blob == sign_blob("s1", mid) and blob is not None and len(blob) <= 64
    assert local.valid(mid, blob) and not local.valid("6" * 38, blob)
    assert sign_blob("s2", mid) != blob  # the secret matters: a blob cannot be forged
    ssm = _Ssm("from-ssm")
    clock = [0.0]
    remote = BlobSigner(lambda: ssm, env={"RTDCS_IDENTITY_BLOB_SECRET_PARAMETER": "/p",
                                          "RTDCS_IDENTITY_BLOB_SECRET": "ignored"},
                        clock=lambda: clock[0])
    assert remote.sign(mid) == sign_blob("from-ssm", mid)
    remote.sign(mid)
    assert ssm.calls == 1  # cached for the refresh interval
    clock[0] = 10.0
    ssm.value = None  # unreadable: no blob, never an exception
    assert remote.sign(mid) is None and ssm.calls == 2
