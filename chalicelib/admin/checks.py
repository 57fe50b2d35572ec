"""Checks that need the rest of the catalog: references, uniqueness, rules, objects in use.

Every function reads through a :class:`CatalogView`: only the items its check needs (the
object, what it references, its unique keys, who uses it; store/catalog_index.py), never the
whole catalog, so a change costs the same at 10 or 100,000 traits. The service reads the
catalog version first and commits conditioned on it (store/catalog.py), so what was checked is
what gets committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping
from urllib.parse import urlsplit

import jmespath
from jmespath.exceptions import JMESPathError

from chalicelib.admin.errors import ApiError, bad_request, conflict
from chalicelib.admin.schemas import (
    DESTINATION_DEFAULTS,
    DESTINATION_FIELDS_BY_TYPE,
    RESERVED_AUTH_HEADERS,
    ResourceSpec,
)
from chalicelib.providers.addresses import address_problem
from chalicelib.rules.validation import (
    ValidationError,
    validate_segment_rule,
    validate_trait_rule,
)
from chalicelib.store.catalog import CatalogRepository
from chalicelib.store.catalog_index import Ref, order_pk, trait_references, unique_key

RULE_BASED = "RULE_BASED_TRAIT"
ON_BOARDED = "ON_BOARDED_TRAIT"
SYNC_DEFAULTS: Mapping[str, Any] = {
    "syncTtl": 10_080,
    "syncTag": "img",
    "syncOnPage": False,
    "syncNsid": 0,
    "syncRedirectDomains": [],
}
_SYNC_URL_PREFIXES = ("https://", "http://", "//", "%http_proto%://")


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class CatalogView:
    """The catalog as one change's checks see it: consistent point reads, each read once."""

    def __init__(self, repository: CatalogRepository) -> None:
        self._repo = repository
        self._objects: dict[tuple[str, int], dict[str, Any] | None] = {}

    def get(self, kind: str, object_id: int | None) -> dict[str, Any] | None:
        if object_id is None:
            return None
        key = (kind, object_id)
        if key not in self._objects:
            self._objects[key] = self._repo.get(kind, object_id)
        return self._objects[key]

    def get_many(self, kind: str, object_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        wanted = set(object_ids)
        missing = [i for i in wanted if (kind, i) not in self._objects]
        if missing:
            found = self._repo.get_many(kind, missing)
            for object_id in missing:
                self._objects[(kind, object_id)] = found.get(object_id)
        return {i: body for i in wanted if (body := self._objects[(kind, i)]) is not None}

    def owner(self, kind: str, key: str) -> int | None:
        return self._repo.key_owner(kind, key)

    def users(self, kind: str, object_id: int, limit: int | None = None) -> list[Ref]:
        found = self._repo.users_of(Ref(kind, object_id), limit)
        for user, body in found:  # the checks that list users read them next
            self._objects[(user.kind, user.object_id)] = body
        return [user for user, _ in found]

    def count(self, kind: str) -> int:
        """How many objects of ``kind`` the catalog holds (its order partition's counter)."""
        return self._repo.count(order_pk(kind, {}))

    def trait_types(self, sids: Iterable[int],
                    override: tuple[int, str] | None = None) -> dict[int, str]:
        types = {sid: str(t.get("traitType", ""))
                 for sid, t in self.get_many("trait", sids).items()}
        if override is not None and override[0] in types:
            types[override[0]] = override[1]
        return types


@dataclass(frozen=True)
class CheckContext:
    view: CatalogView
    http_hosts: tuple[str, ...]  # hosts that may use plain http (RTDCS_PROVIDERS_HTTP_HOSTS)
    object_id: int | None = None  # None on create
    existing: Mapping[str, Any] | None = None  # the stored object, on replace
    parent_id: int | None = None  # mappings: the destination


def check(spec: ResourceSpec, body: dict[str, Any], ctx: CheckContext) -> dict[str, Any]:
    """Check a structurally valid body against the catalog; return it with the defaults that
    depend on other fields (sync and destination-type defaults)."""
    checker = _CHECKS[spec.kind]
    return checker(body, ctx)


_USER_LABELS = (("trait", "traits"), ("provider", "providers"), ("segment", "segments"),
                ("destination", "destinations"), ("mapping", "mappings"),
                ("mergerule", "merge rules"))


def delete_blocker(spec: ResourceSpec, object_id: int, view: CatalogView) -> ApiError | None:
    """Why ``object_id`` may not be deleted (409), or None."""
    found = view.users(spec.kind, object_id, limit=_SHOWN_USERS + 1)
    by_kind: dict[str, list[int]] = {}
    for user in found[:_SHOWN_USERS]:
        by_kind.setdefault(user.kind, []).append(user.object_id)
    users = [f"{label} {_list(by_kind[kind])}" for kind, label in _USER_LABELS
             if kind in by_kind]
    if not users:
        return None
    if len(found) > _SHOWN_USERS:
        users[-1] += " and more"
    if spec.kind == "destination":
        users[-1] += " (delete them first)"
    return conflict("in_use", f"{spec.kind} {object_id} is used by {'; '.join(users)}")


_SHOWN_USERS = 20  # an in-use answer names this many users


def _list(ids: Iterable[int]) -> str:
    ordered = sorted(ids)
    shown = ", ".join(str(i) for i in ordered[:_SHOWN_USERS])
    return shown + (" and more" if len(ordered) > _SHOWN_USERS else "")


# ---- shared checks ------------------------------------------------------------------------------


def _require_data_source(body: Mapping[str, Any], ctx: CheckContext) -> None:
    ds = body.get("dataSourceId")
    if ds is not None and ctx.view.get("datasource", ds) is None:
        raise bad_request("invalid_reference", f"data source {ds} does not exist", "dataSourceId")


def _other_owner(kind: str, key: str, ctx: CheckContext) -> int | None:
    """Another object that holds unique ``key`` already, or None."""
    owner = ctx.view.owner(kind, key)
    return None if owner is None or owner == ctx.object_id else owner


def check_url(url: str, field: str, http_hosts: tuple[str, ...]) -> None:
    """https only; plain http only for the allow-listed hosts; no credentials in the URL."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise bad_request("invalid_value", f"{field} is not a valid URL ({exc})", field) from exc
    if parts.scheme not in ("https", "http") or not host:
        raise bad_request("invalid_value", f"{field} must be an absolute https:// URL", field)
    if parts.scheme == "http" and host not in http_hosts:
        raise bad_request(
            "invalid_value",
            f"{field} must use https:// (plain http only for hosts in "
            f"RTDCS_PROVIDERS_HTTP_HOSTS)",
            field,
        )
    if parts.username is not None or parts.password is not None:
        raise bad_request(
            "invalid_value", f"{field} must not carry credentials; use auth.secretRef", field
        )
    problem = address_problem(host, http_hosts)
    if problem is not None:
        raise bad_request(
            "invalid_value",
            f"{field} must point at a public host ({problem}; only hosts in "
            f"RTDCS_PROVIDERS_HTTP_HOSTS may be local)",
            field,
        )
    if any(c.isspace() for c in url):
        raise bad_request("invalid_value", f"{field} must not contain whitespace", field)


def _rule_error(exc: ValidationError) -> ApiError:
    return bad_request(exc.code, exc.message, exc.field, exc.position)


# ---- per kind ---------------------------------------------------------------------------------


def _check_datasource(body: dict[str, Any], ctx: CheckContext) -> dict[str, Any]:
    code = body.get("integrationCode")
    if code is not None:
        other_id = _other_owner("datasource", unique_key("datasource", "integrationCode", code),
                                ctx)
        if other_id is not None:
            raise conflict(
                "duplicate",
                f"integrationCode {code!r} is already used by data source {other_id}",
                "integrationCode",
            )
    sync_url = body.get("syncUrl")
    if sync_url is not None:
        if not sync_url.lower().startswith(_SYNC_URL_PREFIXES) or any(
            c.isspace() for c in sync_url
        ):
            raise bad_request(
                "invalid_value",
                "syncUrl must start with https://, http://, // or %HTTP_PROTO%://",
                "syncUrl",
            )
        body = {**body, **{k: v for k, v in SYNC_DEFAULTS.items() if k not in body}}
    return body


def _check_trait(body: dict[str, Any], ctx: CheckContext) -> dict[str, Any]:
    _require_data_source(body, ctx)
    trait_type = body["traitType"]
    if trait_type == RULE_BASED:
        if "traitRule" not in body:
            raise bad_request("missing_field", "traitRule is required for RULE_BASED_TRAIT",
                              "traitRule")
        if "providerSegmentId" in body:
            raise bad_request("invalid_field", "providerSegmentId is for ON_BOARDED_TRAIT only",
                              "providerSegmentId")
        try:
            validate_trait_rule(body["traitRule"])
        except ValidationError as exc:
            raise _rule_error(exc) from exc
    elif "traitRule" in body:
        raise bad_request("invalid_field", "traitRule is for RULE_BASED_TRAIT only", "traitRule")
    ds = body["dataSourceId"]
    code = body.get("integrationCode")
    segment_id = body.get("providerSegmentId")
    scope = f"ds={ds}"
    if code is not None:
        other_id = _other_owner("trait", unique_key("trait", "integrationCode", code, scope), ctx)
        if other_id is not None:
            raise conflict(
                "duplicate",
                f"integrationCode {code!r} is already used by trait {other_id} in data source "
                f"{ds}",
                "integrationCode",
            )
    if segment_id is not None:
        other_id = _other_owner(
            "trait", unique_key("trait", "providerSegmentId", segment_id, scope), ctx)
        if other_id is not None:
            raise conflict(
                "duplicate",
                f"provider segment {segment_id!r} of data source {ds} is already mapped to "
                f"trait {other_id}",
                "providerSegmentId",
            )
    if ctx.object_id is not None:
        _check_segments_still_valid(ctx, trait_type)
    return body


def _check_segments_still_valid(ctx: CheckContext, trait_type: str) -> None:
    """A trait that changes type must not break the segments that use it (frequency needs
    rule-based traits)."""
    assert ctx.object_id is not None
    if ctx.existing is not None and ctx.existing.get("traitType") == trait_type:
        return
    users = [u.object_id for u in ctx.view.users("trait", ctx.object_id) if u.kind == "segment"]
    for sid, segment in sorted(ctx.view.get_many("segment", users).items()):
        rule = str(segment.get("segmentRule", ""))
        types = ctx.view.trait_types(trait_references(rule), override=(ctx.object_id, trait_type))
        try:
            validate_segment_rule(rule, types)
        except ValidationError as exc:
            raise conflict(
                "in_use",
                f"segment {sid} uses trait {ctx.object_id} and would become invalid: "
                f"{exc.message}",
                "traitType",
            ) from exc


def _check_segment(body: dict[str, Any], ctx: CheckContext) -> dict[str, Any]:
    _require_data_source(body, ctx)
    try:
        rule = body["segmentRule"]
        validate_segment_rule(rule, ctx.view.trait_types(trait_references(rule)))
    except ValidationError as exc:
        raise _rule_error(exc) from exc
    merge_rule = body.get("mergeRuleId")
    if merge_rule is not None and ctx.view.get("mergerule", merge_rule) is None:
        raise bad_request("invalid_reference", f"merge rule {merge_rule} does not exist",
                          "mergeRuleId")
    return body


MAX_MERGE_RULES = 10  # identity.md 3


def _check_mergerule(body: dict[str, Any], ctx: CheckContext) -> dict[str, Any]:
    """identity.md 3: at most 10; one default; CROSS_DEVICE data sources that exist; a rule
    that selects some profile."""
    if ctx.object_id is None and ctx.view.count("mergerule") >= MAX_MERGE_RULES:
        raise conflict("limit_exceeded", f"at most {MAX_MERGE_RULES} merge rules")
    if body.get("authenticatedProfile") == "none" and body.get("deviceProfile") == "none":
        raise bad_request("invalid_value", "a merge rule must select the authenticated or the "
                          "device profile", "deviceProfile")
    sources = body.get("crossDeviceDataSources") or []
    found = ctx.view.get_many("datasource", sources)
    for index, source in enumerate(sources):
        field = f"crossDeviceDataSources[{index}]"
        if source not in found:
            raise bad_request("invalid_reference", f"data source {source} does not exist", field)
        if found[source].get("idType") != "CROSS_DEVICE":
            raise bad_request("invalid_reference", f"data source {source} is not CROSS_DEVICE",
                              field)
    if (body.get("authenticatedProfile") != "none" or body.get("deviceProfile") ==
            "deviceGraph") and not sources:
        raise bad_request("invalid_value", "name the CROSS_DEVICE data sources whose IDs count",
                          "crossDeviceDataSources")
    if body.get("default") is True:
        other = _other_owner("mergerule", unique_key("mergerule", "default", "true"), ctx)
        if other is not None:
            raise conflict("duplicate", f"merge rule {other} is already the default",
                           "default")
    return body


def _check_provider(body: dict[str, Any], ctx: CheckContext) -> dict[str, Any]:
    _require_data_source(body, ctx)
    check_url(body["url"], "url", ctx.http_hosts)
    ds = body["dataSourceId"]
    other_id = _other_owner("provider", unique_key("provider", "dataSourceId", ds), ctx)
    if other_id is not None:  # one provider per data source
        raise conflict(
            "duplicate",
            f"data source {ds} already belongs to provider {other_id} (one provider per "
            f"data source)",
            "dataSourceId",
        )
    _check_auth(body.get("auth"), ctx)
    path = body.get("segmentsPath")
    if path is not None:
        try:
            jmespath.compile(path)
        except (JMESPathError, ValueError, TypeError) as exc:
            raise bad_request(
                "invalid_value", f"segmentsPath is not a JMESPath expression: {exc}",
                "segmentsPath",
            ) from exc
    return body


def _check_destination(body: dict[str, Any], ctx: CheckContext) -> dict[str, Any]:
    kind = body["destinationType"]
    allowed = DESTINATION_FIELDS_BY_TYPE[kind]
    for key in body:
        if key in ("name", "destinationType", "status", "description"):
            continue
        if key not in allowed:
            raise bad_request("invalid_field", f"{key} is not a field of {kind} destinations",
                              key)
    body = {**body, **{k: v for k, v in DESTINATION_DEFAULTS[kind].items() if k not in body}}
    if kind == "ADS":
        if "cookieName" not in body:
            raise bad_request("missing_field", "cookieName is required for ADS destinations",
                              "cookieName")
        if body["formatType"] == "single_key" and "singleKey" not in body:
            raise bad_request("missing_field", "singleKey is required for formatType "
                              "single_key", "singleKey")
    elif kind == "PUSH":
        for key in ("urlFormatString", "secureUrlFormatString"):
            if body.get("serializationEnabled") and key not in body:
                raise bad_request("missing_field",
                                  f"{key} is required for serialized PUSH destinations", key)
            if key in body:
                _check_push_url(body[key], key, secure=key.startswith("secure"))
                if "%ALIAS%" not in body[key]:
                    raise bad_request("invalid_value", f"{key} must contain %ALIAS%", key)
    else:  # S2S
        for key in ("url", "dataSourceId"):
            if key not in body:
                raise bad_request("missing_field", f"{key} is required for S2S destinations",
                                  key)
        check_url(body["url"], "url", ctx.http_hosts)
        _require_data_source(body, ctx)
        _check_auth(body.get("auth"), ctx)
    if ctx.existing is not None and ctx.existing.get("destinationType") != kind:
        assert ctx.object_id is not None
        mappings = [u.object_id for u in ctx.view.users("destination", ctx.object_id,
                                                         limit=_SHOWN_USERS + 1)
                    if u.kind == "mapping"]
        if mappings:
            raise conflict("in_use", f"destinationType cannot change while mappings "
                           f"{_list(mappings)} exist", "destinationType")
    return body


def _check_auth(auth: Any, ctx: CheckContext) -> None:
    if not isinstance(auth, dict):
        return
    header = auth.get("header")
    if isinstance(header, str) and header.lower() in RESERVED_AUTH_HEADERS:
        raise bad_request("invalid_value", f"auth.header may not be {header}", "auth.header")
    if auth.get("type") == "oauth2":
        check_url(auth["tokenUrl"], "auth.tokenUrl", ctx.http_hosts)


def _check_push_url(url: str, field: str, secure: bool) -> None:
    lowered = url.lower()
    schemes = ("https://",) if secure else ("https://", "http://")
    if not lowered.startswith(schemes) or any(c.isspace() for c in url):
        need = "https://" if secure else "http:// or https://"
        raise bad_request("invalid_value", f"{field} must start with {need}", field)


def _check_mapping(body: dict[str, Any], ctx: CheckContext) -> dict[str, Any]:
    assert ctx.parent_id is not None  # the service checked the destination exists
    destination = ctx.view.get("destination", ctx.parent_id) or {}
    sid = body["sid"]
    if ctx.view.get("segment", sid) is None:
        raise bad_request("invalid_reference", f"segment {sid} does not exist", "sid")
    kind = destination.get("destinationType")
    allowed = {"ADS": {"valueString"}, "PUSH": {"traitAlias", "url", "secureUrl"},
               "S2S": {"traitAlias"}}
    for key in ("valueString", "traitAlias", "url", "secureUrl"):
        if key in body and key not in allowed.get(str(kind), set()):
            raise bad_request("invalid_field", f"{key} is not a field of {kind} mappings", key)
    if kind == "ADS":
        if "valueString" not in body:
            raise bad_request("missing_field", "valueString is required for ADS mappings",
                              "valueString")
        separator = str(destination.get("keySeparator", "="))
        if destination.get("formatType") == "key_value" and separator not in body["valueString"]:
            raise bad_request("invalid_value", f"valueString must be a key{separator}value "
                              "pair for key_value destinations", "valueString")
    elif kind == "PUSH":
        if destination.get("serializationEnabled") and "traitAlias" not in body:
            raise bad_request("missing_field", "traitAlias is required for serialized PUSH "
                              "destinations", "traitAlias")
        if not destination.get("serializationEnabled") and "url" not in body:
            raise bad_request("missing_field", "url is required for PUSH destinations that "
                              "are not serialized", "url")
        if "url" in body:
            _check_push_url(body["url"], "url", secure=False)
        if "secureUrl" in body:
            _check_push_url(body["secureUrl"], "secureUrl", secure=True)
    start, end = body.get("startDate"), body.get("endDate")
    if start is not None and end is not None and end <= start:
        raise bad_request("out_of_range", "endDate must be after startDate", "endDate")
    key = unique_key("mapping", "sid", sid, scope=f"destination={ctx.parent_id}")
    other_id = _other_owner("mapping", key, ctx)
    if other_id is not None:  # one mapping per segment and destination
        raise conflict("duplicate", f"segment {sid} is already mapped to destination "
                       f"{ctx.parent_id} by mapping {other_id}", "sid")
    return body


_CHECKS = {
    "datasource": _check_datasource,
    "trait": _check_trait,
    "segment": _check_segment,
    "provider": _check_provider,
    "destination": _check_destination,
    "mapping": _check_mapping,
    "mergerule": _check_mergerule,
}
