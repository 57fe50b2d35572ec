"""``/ibs``: ID sync (dcs-protocol.md section 5), as plain Python over injected stores."""

from __future__ import annotations

import re
import time
from typing import Any, Callable, Mapping
from urllib.parse import quote

from chalicelib.config import Settings
from chalicelib.consent.gates import evaluate_consent, vendor_allowed
from chalicelib.consent.privacy import evaluate_privacy, signals_from, tcf_inputs
from chalicelib.dcs.declared_ids import SEPARATOR, DataSources, parse_one
from chalicelib.dcs.errors import DcsError, error
from chalicelib.dcs.ids import OPT_OUT_VALUE, is_valid_uuid, new_uuid
from chalicelib.dcs.numbers import ascii_int
from chalicelib.dcs.params import ParsedRequest
from chalicelib.dcs.redirects import redirect_target
from chalicelib.identity.resolve import IdMap
from chalicelib.identity.values import DeclaredId
from chalicelib.pipeline import CatalogProvider, Profiles, data_sources
from chalicelib.runtime.catalog_cache import CatalogUnavailable
from chalicelib.store.idmap import LinkRecord
from chalicelib.store.profiles import Profile, ProfileChanges, ProfileWriteFailed


class SyncResult:
    # Not a dataclass: import cost on a cold start (chalicelib/core/records.py).
    __slots__ = ("errors", "uuid_cookie", "synced_dpid", "redirect", "now", "log")

    def __init__(
        self,
        errors: list[DcsError],
        uuid_cookie: str | None = None,
        synced_dpid: int | None = None,
        redirect: str | None = None,
        now: float = 0.0,
        log: dict[str, Any] | None = None,
    ) -> None:
        self.errors = errors
        self.uuid_cookie = uuid_cookie
        self.synced_dpid = synced_dpid
        self.redirect = redirect
        self.now = now
        self.log: dict[str, Any] = {} if log is None else log


def _declared(
    parsed: ParsedRequest, sources: DataSources
) -> tuple[DeclaredId | None, DcsError | None]:
    """The one ID of this call: dpid/dpuuid, else the first d_cid, else the first d_cid_ic."""
    dpid, dpuuid = parsed.control("dpid"), parsed.control("dpuuid")
    if dpid is not None or dpuuid is not None:
        if dpid is None or dpuuid is None:
            return None, error(300, dpid or dpuuid or "")
        return parse_one("cid", f"{dpid}{SEPARATOR}{dpuuid}", sources, False)
    for kind, key in (("cid", "d_cid"), ("ic", "d_cid_ic")):
        values = parsed.repeated_controls.get(key)
        if values:
            return parse_one(kind, values[0], sources, False)
    return None, error(300, "")


_GPP_STRING = re.compile(r"\$\{GPP_STRING_\d+\}")
_NO_HEADERS: Mapping[str, str] = {}


def expand_redirect(
    url: str, uuid: str, gdpr: int, consent: str | None, gpp: str | None = None,
    gpp_sid: str = "",
) -> str:
    url = url.replace("${DD_UUID}", uuid).replace("${GDPR}", str(gdpr))
    url = url.replace("${GPP_SID}", quote(gpp_sid if gpp else "", safe=""))
    url = _GPP_STRING.sub(lambda _: quote(gpp or "", safe=""), url)
    while "${GDPR_CONSENT_" in url:
        start = url.index("${GDPR_CONSENT_")
        end = url.find("}", start)
        if end < 0:
            break
        url = url[:start] + quote(consent or "", safe="") + url[end + 1 :]
    return url


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return ascii_int(value) if isinstance(value, str) else None


class IdSync:
    def __init__(
        self,
        settings: Settings,
        catalog: CatalogProvider,
        profiles: Profiles,
        idmap: IdMap,
        wall_clock: Callable[[], float] = time.time,
        storage_errors: tuple[type[BaseException], ...] = (Exception,),
    ) -> None:
        self._settings = settings
        self._catalog = catalog
        self._profiles = profiles
        self._idmap = idmap
        self._now = wall_clock
        self._storage_errors = storage_errors
        self._write_errors: tuple[type[BaseException], ...] = (ProfileWriteFailed,
                                                               *storage_errors)

    def handle(
        self, parsed: ParsedRequest, cookies: Mapping[str, str],
        headers: Mapping[str, str] = _NO_HEADERS,
    ) -> SyncResult:
        now = self._now()
        result = SyncResult(errors=list(parsed.errors), now=now)
        if parsed.discard:
            return result
        cookie = cookies.get(self._settings.cookie_uuid_name)
        if cookie == OPT_OUT_VALUE:
            result.errors.append(error(171, OPT_OUT_VALUE))
            return result
        try:
            catalog = self._catalog.get()
        except CatalogUnavailable:
            result.errors.append(error(205))
            return result
        sources = data_sources(catalog)
        declared, problem = _declared(parsed, sources)
        if declared is None:
            result.errors.append(problem or error(300, ""))
            return result
        privacy = evaluate_privacy(signals_from(parsed.control, headers),
                                   honour_gpc=self._settings.privacy_gpc == "honour")
        gdpr, gdpr_consent = tcf_inputs(parsed.control("gdpr"), parsed.control("gdpr_consent"),
                                        privacy)
        consent = evaluate_consent(gdpr, gdpr_consent, self._settings.consent)
        info = sources.by_id.get(declared.dpid)
        partner_vendor = _int_or_none((info.raw or {}).get("iabVendorId")) if info else None
        if consent.stopped or not vendor_allowed(consent, partner_vendor, self._settings.consent):
            result.errors.append(error(consent.error_code or 315))
            return result
        if not privacy.sync:
            # A US opt-out (or an invalid string): no link and no redirect (privacy-signals 3).
            result.errors.append(error(privacy.error_code or 905, privacy.detail))
            return result
        uuid: str = cookie if cookie is not None and is_valid_uuid(cookie) else new_uuid()
        # A new UUID has no profile to read (the write is conditional on that, so a collision
        # would still be applied correctly); a known one is read for its opt-out marker.
        stored: Profile | None = None if is_valid_uuid(cookie) else Profile(uuid)
        try:
            links = self._idmap.read([declared], now)
            opted_out = links.get(declared.key, LinkRecord()).opted_out
            if not opted_out and is_valid_uuid(cookie):
                stored = self._profiles.load(uuid, now)
                opted_out = stored.opted_out
        except self._storage_errors:
            result.errors.append(error(204))
            return result
        if opted_out:
            result.errors.append(error(171, uuid))
            return result
        try:
            self._idmap.link([declared], uuid, links, now)
            self._profiles.apply(
                uuid,
                ProfileChanges(now=now, synced_ids={declared.dpid: declared.dpuuid},
                               keep_segments=True,
                               linked_ids=((declared.dpid, declared.dpuuid),)),
                stored,
            )
        except self._write_errors:
            result.errors.append(error(203))
            return result
        result.uuid_cookie = uuid
        result.synced_dpid = declared.dpid
        redir = parsed.control("redir")
        if redir:
            domains = list((info.raw or {}).get("syncRedirectDomains") or []) if info else []
            allow_http = self._settings.ibs_allow_http_redirect
            # The template (macros only after the authority), then the URL the browser gets.
            target = redirect_target(redir, domains, allow_http)
            if target is not None:
                final = expand_redirect(target, uuid, consent.gdpr_flag, consent.consent_string,
                                        privacy.gpp, privacy.gpp_sid)
                target = redirect_target(final, domains, allow_http)
            if target is None:
                result.errors.append(error(903))
            else:
                result.redirect = target
        result.log = {"ibs": declared.dpid, "uuid": uuid, "errors": [e.code for e in result.errors]}
        return result
