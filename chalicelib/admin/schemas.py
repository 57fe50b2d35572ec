"""The admin resources: their fields, defaults and ids (admin-api.md, rules.md 1.5,
provider-contract.md 1, destinations.md, dcs-protocol.md 1).

Only the shape of a body is declared here; checks that need the rest of the catalog
(references, uniqueness, rules) are in ``checks.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from chalicelib.admin import paths
from chalicelib.admin.fields import (
    MAX_ID,
    Bool,
    Const,
    Enum,
    Field,
    Int,
    ListOf,
    Nullable,
    Obj,
    OneOf,
    Str,
)
from chalicelib.admin.paths import ResourcePath
from chalicelib.providers.auth import (
    DESTINATION_HMAC_ALGORITHMS,
    HEADER_NAME_CHARS,
    HEADER_NAME_MAX,
    PROVIDER_HMAC_ALGORITHMS,
    RESERVED_HEADERS,
)

_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOST_PATTERN = rf"(\*\.)?{_LABEL}(\.{_LABEL})*"
TOKEN_CHARS = r"[!#$%&'*+.^_`|~0-9A-Za-z-]"  # RFC 7230 token: cookie and header names
SIGNAL_PATTERN = r"(?!p_)[A-Za-z0-9_*?-]{1,100}"
MAX_EPOCH_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z

ID = Int(1, MAX_ID)
NAME = Str(1, 255)
DESCRIPTION = Str(0, 4096)
INTEGRATION_CODE = Str(1, 255)
URL = Str(1, 2048)
IAB_VENDOR = Nullable(Int(1, 65535, "IAB TCF vendor id"))


# secretRef grammars of the two resolvers: providers (providers/secrets.py) also take a bare
# ``/path`` (SSM) or ``NAME`` (environment); S2S delivery (destinations/s2s_delivery.py) takes
# only the prefixed forms.
_ENV_REF = r"env:[A-Za-z_][A-Za-z0-9_]{0,254}"
_SSM_REF = r"ssm:[A-Za-z0-9_.\-/]{1,1011}"
PROVIDER_SECRET_REF = rf"{_ENV_REF}|{_SSM_REF}|/[A-Za-z0-9_.\-/]{{1,1011}}|[A-Z_][A-Z0-9_]{{0,254}}"
DESTINATION_SECRET_REF = rf"{_ENV_REF}|{_SSM_REF}"
RESERVED_AUTH_HEADERS = RESERVED_HEADERS  # one definition, shared with delivery


def _secret_ref(pattern: str, forms: str) -> Str:
    return Str(1, 1024, pattern, f"the name of a secret ({forms}), never the secret itself",
               f"Names the secret: {forms}. Write-only: never returned; on PUT, leave it out "
               "to keep the stored one.")


def _hmac(algorithms: tuple[str, ...], secret_ref: Str) -> Obj:
    return Obj(
        {
            "type": Const("hmac"),
            "algorithm": Enum(algorithms),
            "header": Str(1, HEADER_NAME_MAX, f"{HEADER_NAME_CHARS}+", "an HTTP header name"),
            "secretRef": secret_ref,
        },
        required=frozenset({"type", "secretRef"}),
        defaults={"algorithm": "sha256", "header": "X-Signature"},
        description="HMAC signature of the raw body (base64) in `header`.",
    )


_PROVIDER_REF = _secret_ref(PROVIDER_SECRET_REF, "env:NAME, ssm:name, /ssm/path or NAME")
_DESTINATION_REF = _secret_ref(DESTINATION_SECRET_REF, "env:NAME or ssm:name")
PROVIDER_AUTH = OneOf({
    "hmac": _hmac(PROVIDER_HMAC_ALGORITHMS, _PROVIDER_REF),
    "bearer": Obj(
        {"type": Const("bearer"), "secretRef": _PROVIDER_REF},
        required=frozenset({"type", "secretRef"}),
        description="`Authorization: Bearer <secret>`.",
    ),
})
DESTINATION_AUTH = OneOf({
    "hmac": _hmac(DESTINATION_HMAC_ALGORITHMS, _DESTINATION_REF),
    "oauth2": Obj(
        {
            "type": Const("oauth2"),
            "tokenUrl": URL,
            "clientId": Str(1, 255),
            "scope": Str(0, 1024),
            "secretRef": _DESTINATION_REF,
        },
        required=frozenset({"type", "tokenUrl", "clientId", "secretRef"}),
        description="OAuth 2.0 client credentials; the client secret is named by `secretRef`.",
    ),
})


@dataclass(frozen=True)
class ResourceSpec:
    path: ResourcePath  # kind, collection, id and parent fields (paths.py)
    title: str  # OpenAPI schema name
    body: Obj

    @property
    def kind(self) -> str:  # catalog kind (store)
        return self.path.kind

    @property
    def collection(self) -> str:
        return self.path.collection

    @property
    def id_field(self) -> str:
        return self.path.id_field

    @property
    def parent_field(self) -> str | None:
        return self.path.parent_field

    @property
    def item_path(self) -> str:
        return self.path.item_path

    @property
    def read_only(self) -> tuple[str, ...]:
        extra = (self.parent_field,) if self.parent_field else ()
        return (self.id_field, *extra, "createTime", "updateTime")


DATASOURCE = ResourceSpec(
    path=paths.DATASOURCE,
    title="DataSource",
    body=Obj(
        {
            "name": NAME,
            "idType": Enum(("COOKIE", "CROSS_DEVICE")),
            "integrationCode": INTEGRATION_CODE,
            "description": DESCRIPTION,
            "iabVendorId": IAB_VENDOR,
            "syncUrl": URL,
            "syncTtl": Int(0, 525_600, "minutes before a sync may fire again"),
            "syncTag": Enum(("img", "iframe")),
            "syncOnPage": Bool(),
            "syncNsid": Int(0, MAX_ID),
            "syncRedirectDomains": ListOf(
                Str(1, 253, HOST_PATTERN, "a host name or *.suffix"), max_items=100,
                description="hosts that /ibs may redirect to: exact host or *.suffix",
            ),
        },
        required=frozenset({"name"}),
        defaults={"idType": "COOKIE"},
    ),
)

TRAIT = ResourceSpec(
    path=paths.TRAIT,
    title="Trait",
    body=Obj(
        {
            "name": NAME,
            "traitType": Enum(("RULE_BASED_TRAIT", "ON_BOARDED_TRAIT")),
            "dataSourceId": ID,
            "traitRule": Str(1, 8192, description="rules.md 1; required for RULE_BASED_TRAIT"),
            "integrationCode": INTEGRATION_CODE,
            "ttl": Int(0, 3650, "days; 0 = never expires"),
            "folderId": Nullable(Int(0, MAX_ID)),
            "description": DESCRIPTION,
            "providerSegmentId": Str(
                1, 255, description="ON_BOARDED_TRAIT only: the provider's Segment_ID"
            ),
        },
        required=frozenset({"name", "traitType", "dataSourceId"}),
        defaults={"ttl": 120},
    ),
)

SEGMENT = ResourceSpec(
    path=paths.SEGMENT,
    title="Segment",
    body=Obj(
        {
            "name": NAME,
            "segmentRule": Str(1, 65_536, description="rules.md 2"),
            "dataSourceId": ID,
            "integrationCode": INTEGRATION_CODE,
            "status": Enum(("active", "paused")),
            "description": DESCRIPTION,
            "mergeRuleId": Nullable(Int(1, MAX_ID, "the merge rule its profiles are chosen by "
                                        "(identity.md 3); null or absent: the default one")),
        },
        required=frozenset({"name", "segmentRule"}),
        defaults={"status": "active"},
    ),
)

MERGERULE = ResourceSpec(
    path=paths.MERGERULE,
    title="MergeRule",
    body=Obj(
        {
            "name": NAME,
            "description": DESCRIPTION,
            "authenticatedProfile": Enum(
                ("current", "last", "none"),
                "current: the authenticated profile when an ID is declared with state 1 on the "
                "event; last: also the last one this device authenticated with; none"),
            "deviceProfile": Enum(
                ("current", "deviceGraph", "none"),
                "current: this device's profile; deviceGraph: also the profiles of the other "
                "devices linked to the same ID (at most 10 by recency); none"),
            "crossDeviceDataSources": ListOf(
                ID, max_items=10,
                description="CROSS_DEVICE data sources whose declared IDs count"),
            "default": Bool(),
        },
        required=frozenset({"name"}),
        defaults={"authenticatedProfile": "current", "deviceProfile": "current",
                  "crossDeviceDataSources": [], "default": False},
        description="A profile merge rule (identity.md 3): which profiles the segments that "
        "name it are evaluated over. At most 10; at most one is the default (segments without "
        "mergeRuleId use it; with none, the device profile alone).",
    ),
)

PROVIDER = ResourceSpec(
    path=paths.PROVIDER,
    title="Provider",
    body=Obj(
        {
            "name": NAME,
            "dataSourceId": ID,
            "url": Str(1, 2048, description="https only, except hosts listed in "
                       "RTDCS_PROVIDERS_HTTP_HOSTS"),
            "status": Enum(("active", "paused")),
            "timeoutMs": Int(10, 2000),
            "idMode": Enum(("synced", "uuid")),
            "iabVendorId": IAB_VENDOR,
            "cacheTtlSeconds": Int(0, 86_400),
            "signals": ListOf(
                Str(1, 100, SIGNAL_PATTERN,
                    "a signal key pattern (letters, digits, _ and -, with * or ? wildcards), "
                    "not a p_ key"),
                max_items=100,
            ),
            "segmentsPath": Nullable(Str(1, 1024, description="JMESPath")),
            "auth": PROVIDER_AUTH,
            "maxQps": Nullable(Int(1, 100_000)),
        },
        required=frozenset({"name", "dataSourceId", "url"}),
        defaults={
            "status": "active",
            "timeoutMs": 150,
            "idMode": "synced",
            "iabVendorId": None,
            "cacheTtlSeconds": 3600,
            "signals": [],
            "segmentsPath": None,
            "maxQps": None,
        },
    ),
)

# Destination fields, and which destination types may carry them (checks.py).
DESTINATION_TYPES = ("ADS", "PUSH", "S2S")
DESTINATION_FIELDS_BY_TYPE: Mapping[str, frozenset[str]] = {
    "ADS": frozenset({
        "cookieName", "formatType", "singleKey", "keySeparator", "valueSeparator",
        "serializationEnabled", "serializationSeparator", "maxSize", "ttl", "cnameDomain",
    }),
    "PUSH": frozenset({
        "urlFormatString", "secureUrlFormatString", "serializationEnabled", "delimiter",
        "tagType", "hideReferrer",
    }),
    "S2S": frozenset({"url", "auth", "dataSourceId"}),
}
DESTINATION_DEFAULTS: Mapping[str, Mapping[str, Any]] = {
    "ADS": {
        "formatType": "single_key",
        "keySeparator": "=",
        "valueSeparator": ",",
        "serializationEnabled": True,
        "serializationSeparator": ",",
        "maxSize": 2048,
        "ttl": 30,
        "cnameDomain": "",
    },
    "PUSH": {"serializationEnabled": False, "delimiter": ",", "tagType": "img",
             "hideReferrer": False},
    "S2S": {},
}
_SEPARATOR = Str(1, 8)

DESTINATION = ResourceSpec(
    path=paths.DESTINATION,
    title="Destination",
    body=Obj(
        {
            "name": NAME,
            "destinationType": Enum(DESTINATION_TYPES, "ADS = cookie, PUSH = URL, "
                                    "S2S = real-time server-to-server"),
            "status": Enum(("active", "paused"), "paused destinations produce nothing"),
            "description": DESCRIPTION,
            # ADS (cookie)
            "cookieName": Str(1, 255, f"{TOKEN_CHARS}+", "a cookie name"),
            "formatType": Enum(("single_key", "key_value")),
            "singleKey": Str(1, 255),
            "keySeparator": _SEPARATOR,
            "valueSeparator": _SEPARATOR,
            "serializationEnabled": Bool(),
            "serializationSeparator": _SEPARATOR,
            "maxSize": Int(1, 4096, "bytes of encodeURIComponent(cv)"),
            "ttl": Int(1, 3650, "days"),
            "cnameDomain": Str(
                0, 253, rf"((\.{_LABEL}){{2,}})?",
                "empty (the page's own domain) or one domain with a leading dot, no wildcards",
            ),
            # PUSH (URL)
            "urlFormatString": URL,
            "secureUrlFormatString": URL,
            "delimiter": Enum((",", ";")),
            "tagType": Enum(("img", "iframe"), "how /dest.html fires the URL"),
            "hideReferrer": Bool(),
            # S2S
            "url": URL,
            "auth": DESTINATION_AUTH,
            "dataSourceId": ID,
        },
        required=frozenset({"name", "destinationType"}),
        defaults={"status": "active"},
        description="Fields other than name, destinationType, status and description belong "
        "to one "
        "destinationType: " + "; ".join(
            f"{t}: {', '.join(sorted(f))}" for t, f in DESTINATION_FIELDS_BY_TYPE.items()
        ) + ".",
    ),
)

MAPPING = ResourceSpec(
    path=paths.MAPPING,
    title="Mapping",
    body=Obj(
        {
            "sid": Int(1, MAX_ID, "the segment"),
            "traitAlias": Str(1, 255, description="PUSH: the segment's %ALIAS% value"),
            "valueString": Str(1, 1024, description="ADS: the cookie value"),
            "url": Str(1, 2048, description="PUSH, not serialized: this mapping's URL"),
            "secureUrl": Str(1, 2048, description="PUSH, not serialized: its https URL"),
            "startDate": Int(0, MAX_EPOCH_MS, "epoch ms; live from then"),
            "endDate": Nullable(Int(0, MAX_EPOCH_MS, "epoch ms; live until then")),
        },
        required=frozenset({"sid"}),
    ),
)

RESOURCES: tuple[ResourceSpec, ...] = (DATASOURCE, PROVIDER, TRAIT, SEGMENT, DESTINATION, MAPPING,
                                       MERGERULE)
BY_KIND: Mapping[str, ResourceSpec] = {spec.kind: spec for spec in RESOURCES}

# Fields of a stored object that responses never show.
WRITE_ONLY_AUTH_FIELD = "secretRef"


def fields_of(spec: ResourceSpec) -> Mapping[str, Field]:
    return spec.body.fields
