"""``/id``: the ID service's direct call (identity.md 1), as plain Python over injected stores.

The MID is the visitor's rtdcs UUID: the UUID cookie if valid (not with ``d_coppa``), else a
valid ``d_mid`` the client already holds, else a new UUID. ``d_orgid`` must be allowed by
config ``identity.org_ids`` (907 otherwise: no MID). Consent, privacy signals and opt-outs
apply as on ``/event``; an opted-out visitor gets ``d_optout`` in the shape Adobe's
``VisitorAPI.js`` reads (an array it joins with ``,``; ``"global"`` is its global opt-out) and
no MID, no cookie, no write. Declared IDs (``d_cid``/``d_cid_ic`` with their auth state) are
linked to the MID as on ``/event``.

DynamoDB cost: none for a new visitor without declared IDs; the profile read (opt-out marker)
for a known one; with declared IDs one BatchGetItem of their links, then one link write and
one profile write.
"""

from __future__ import annotations

import hmac
import time
from typing import Any, Callable, Mapping

from chalicelib.config import Settings
from chalicelib.consent.gates import evaluate_consent, vendor_allowed
from chalicelib.consent.privacy import evaluate_privacy, signals_from, tcf_inputs
from chalicelib.dcs.errors import DcsError, error
from chalicelib.dcs.ids import OPT_OUT_VALUE, is_valid_uuid, new_tid, new_uuid
from chalicelib.dcs.numbers import ascii_int
from chalicelib.dcs.params import ParsedRequest, derived_country
from chalicelib.destinations.syncs import sync_items
from chalicelib.destinations.urls import page_protocol
from chalicelib.identity.resolve import IdMap, declared_ids
from chalicelib.pipeline import CatalogProvider, Profiles, data_sources
from chalicelib.rules.catalog import EMPTY_CATALOG
from chalicelib.runtime.catalog_cache import CatalogUnavailable
from chalicelib.store.idmap import LinkRecord
from chalicelib.store.profiles import Profile, ProfileChanges, ProfileWriteFailed

OPT_OUT_TTL_SECONDS = 7200  # d_ottl: how long VisitorAPI.js keeps the opt-out answer
GLOBAL_OPT_OUT = ["global"]  # VisitorAPI.js: OptOut.GLOBAL
_NO_HEADERS: Mapping[str, str] = {}


class IdResult:
    # Not a dataclass: import cost on a cold start (chalicelib/core/records.py).
    __slots__ = ("fields", "errors", "uuid_cookie", "now", "status", "log")

    def __init__(self, fields: dict[str, Any], errors: list[DcsError], now: float) -> None:
        self.fields = fields
        self.errors = errors
        self.uuid_cookie: str | None = None
        self.now = now
        self.status = 200
        self.log: dict[str, Any] = {}


def first_value(parsed: ParsedRequest, key: str) -> str | None:
    """A control value, or the first value of a key the protocol treats as a signal
    (``d_visid_ver``, ``d_fieldgroup``, ``d_ver``, ``d_blob``, ``d_nsid``)."""
    value = parsed.control(key)
    if value is not None:
        return value
    values = parsed.signals.get(key)
    return values[0] if values else None


def org_allowed(org_ids: tuple[str, ...], org: str | None) -> bool:
    return bool(org) and ("*" in org_ids or org in org_ids)


class IdService:
    def __init__(
        self,
        settings: Settings,
        catalog: CatalogProvider,
        profiles: Profiles,
        idmap: IdMap,
        sign_blob: Callable[[str], str | None],
        wall_clock: Callable[[], float] = time.time,
        storage_errors: tuple[type[BaseException], ...] = (Exception,),
        is_throttle: Callable[[BaseException], bool] = lambda exc: False,
    ) -> None:
        self._settings = settings
        self._catalog = catalog
        self._profiles = profiles
        self._idmap = idmap
        self._sign_blob = sign_blob
        self._now = wall_clock
        self._storage_errors = storage_errors
        self._write_errors: tuple[type[BaseException], ...] = (ProfileWriteFailed,
                                                               *storage_errors)
        self._is_throttle = is_throttle

    def handle(
        self, parsed: ParsedRequest, cookies: Mapping[str, str],
        headers: Mapping[str, str] = _NO_HEADERS,
    ) -> IdResult:
        settings = self._settings
        now = self._now()
        tid = new_tid()
        result = IdResult({"dcs_region": settings.dcs_region, "tid": tid}, list(parsed.errors),
                          now)
        errors = result.errors
        result.log = {"id": True, "tid": tid,
                      "visid_ver": (first_value(parsed, "d_visid_ver") or "")[:32]}
        if parsed.discard:
            return self._done(result)
        country = derived_country(headers)
        if country and country in settings.blocked_countries:  # the embargo, as on /event
            errors.append(error(199))
            return self._done(result)
        org = parsed.control("d_orgid")
        if not org_allowed(settings.identity_org_ids, org):
            errors.append(error(907, org or ""))
            return self._done(result)
        cookie = cookies.get(settings.cookie_uuid_name)
        if cookie == OPT_OUT_VALUE:
            errors.append(error(171, OPT_OUT_VALUE))
            return self._opted_out(result)
        privacy = evaluate_privacy(signals_from(parsed.control, headers),
                                   honour_gpc=settings.privacy_gpc == "honour")
        gdpr, gdpr_consent = tcf_inputs(parsed.control("gdpr"), parsed.control("gdpr_consent"),
                                        privacy)
        consent = evaluate_consent(gdpr, gdpr_consent, settings.consent)
        if consent.stopped:  # no consent: no MID, no cookie, for this request only
            errors.append(error(consent.error_code or 315))
            return self._done(result)
        if privacy.error_code is not None:
            errors.append(error(privacy.error_code, privacy.detail))
        d_mid = parsed.control("d_mid")
        if d_mid is not None and not is_valid_uuid(d_mid):
            errors.append(error(101, d_mid))
        coppa = parsed.child_directed()
        try:
            catalog = self._catalog.get()
        except CatalogUnavailable:
            errors.append(error(205))
            catalog = EMPTY_CATALOG
        declared = declared_ids(parsed, data_sources(catalog), errors)
        links: dict[tuple[int, str], LinkRecord] = {}
        can_link = True
        if declared:
            try:
                links = self._idmap.read(declared, now)
            except self._storage_errors:
                errors.append(error(202))
                can_link = False
            for entry in declared:
                if links.get(entry.key, LinkRecord()).opted_out:
                    errors.append(error(171, f"{entry.dpid}:{entry.dpuuid}"))
                    return self._opted_out(result)
        if not coppa and is_valid_uuid(cookie):
            mid, known = str(cookie), True
        elif d_mid is not None and is_valid_uuid(d_mid):
            mid, known = d_mid, True
        else:
            mid, known = new_uuid(), False
        stored: Profile = Profile(uuid=mid)
        if known:
            try:
                stored = self._profiles.load(mid, now)
            except self._storage_errors as exc:
                if self._is_throttle(exc):
                    result.status = 429
                    return self._done(result)
                errors.append(error(204))  # the opt-out marker cannot be read: fail closed
                return self._done(result)
            if stored.opted_out:
                errors.append(error(171, mid))
                return self._opted_out(result)
        if declared and can_link:
            self._link(mid, declared, links, stored, now, errors)
        fields = result.fields
        fields["d_mid"] = mid
        fields["id_sync_ttl"] = settings.identity_id_sync_ttl
        blob = self._sign_blob(mid)
        if blob:
            fields["d_blob"] = blob
        fields["d_ottl"] = OPT_OUT_TTL_SECONDS
        fields["subdomain"] = settings.identity_subdomain
        if not coppa and privacy.sync:
            syncs = sync_items(
                catalog,
                nsid=ascii_int(first_value(parsed, "d_nsid") or "0") or 0,
                uuid=mid,
                sync_cookie=cookies.get(settings.cookie_sync_name),
                vendor_allowed=lambda vendor: vendor_allowed(consent, vendor, settings.consent),
                gdpr_flag=consent.gdpr_flag,
                consent_string=consent.consent_string,
                page_proto=page_protocol(parsed.signals),
                now=now,
                gpp=privacy.gpp,
                gpp_sid=privacy.gpp_sid,
            )
            if syncs:
                fields["ibs"] = syncs
        result.uuid_cookie = None if coppa else mid
        result.log.update({"mid": mid, "new": not known,
                           "blob_ok": self._blob_ok(parsed, mid)})
        return self._done(result)

    def _link(self, mid: str, declared: list[Any], links: Mapping[tuple[int, str], LinkRecord],
              stored: Profile, now: float, errors: list[DcsError]) -> None:
        """Link the declared IDs (with their auth states) to the MID, as /event does."""
        synced: dict[int, str] = {}
        for entry in declared:
            synced.setdefault(entry.dpid, entry.dpuuid)
        try:
            self._idmap.link(declared, mid, links, now)
            self._profiles.apply(mid, ProfileChanges(
                now=now, synced_ids=synced, keep_segments=True,
                linked_ids=tuple((d.dpid, d.dpuuid) for d in declared)), stored)
        except self._write_errors:
            errors.append(error(203))

    def _blob_ok(self, parsed: ParsedRequest, mid: str) -> bool | None:
        sent = first_value(parsed, "d_blob")
        if sent is None:
            return None
        expected = self._sign_blob(mid)
        return expected is not None and hmac.compare_digest(sent.encode(), expected.encode())

    def _opted_out(self, result: IdResult) -> IdResult:
        result.fields["d_optout"] = list(GLOBAL_OPT_OUT)
        result.fields["d_ottl"] = OPT_OUT_TTL_SECONDS
        return self._done(result)

    def _done(self, result: IdResult) -> IdResult:
        result.log["errors"] = [e.code for e in result.errors]
        return result
