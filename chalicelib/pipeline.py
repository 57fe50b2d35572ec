"""One ``/event``, as plain Python over injected collaborators (architecture.md, "The flow").

No HTTP and no boto3 here: the route turns the request into an :class:`EventInput`, this
module decides everything, and the route renders the :class:`EventResult`.
"""

from __future__ import annotations

import logging
import re
import time
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Callable, Mapping, NamedTuple, Protocol, Sequence

from chalicelib.config import Settings
from chalicelib.consent.gates import ConsentDecision, evaluate_consent, vendor_allowed
from chalicelib.consent.privacy import (
    PrivacyDecision,
    evaluate_privacy,
    signals_from,
    tcf_inputs,
)
from chalicelib.dcs.declared_ids import DataSources
from chalicelib.dcs.errors import DcsError, error
from chalicelib.dcs.ids import OPT_OUT_VALUE, is_valid_uuid, new_tid
from chalicelib.dcs.numbers import ascii_int
from chalicelib.dcs.params import ParsedRequest, derive_header_signals
from chalicelib.dcs.response import CALLBACK_RE
from chalicelib.destinations.cookies import stuff_items
from chalicelib.destinations.s2s import S2SState, plan_s2s
from chalicelib.destinations.syncs import sync_items
from chalicelib.destinations.urls import page_protocol, url_destination_items
from chalicelib.identity.resolve import Identity, IdMap, declared_ids, resolve
from chalicelib.providers.fanout import CallPlan, Outcome, PendingFanout
from chalicelib.providers.messages import ProviderAnswer, build_request_body
from chalicelib.rules.catalog import EMPTY_CATALOG, CompiledCatalog, in_data_source
from chalicelib.rules.merge_rules import union
from chalicelib.rules.retention import retention_for
from chalicelib.runtime.catalog_cache import CatalogUnavailable
from chalicelib.runtime.ratelimit import TokenBucket
from chalicelib.store.compaction import MAX_CACHED_IDS, MAX_TRAITS, Retention
from chalicelib.store.profiles import (
    CachedAnswer,
    Profile,
    ProfileChanges,
    ProfileWriteFailed,
    auth_profile_key,
    consent_key,
    new_stamp,
)

if TYPE_CHECKING:
    from chalicelib.identity.merge import MergePlan

logger = logging.getLogger("rtdcs.pipeline")
_MID_RE = re.compile(r"^[0-9]{38}$")


class CatalogProvider(Protocol):
    def get(self) -> CompiledCatalog: ...


class Profiles(Protocol):
    def load(self, uuid: str, now: float) -> Profile: ...

    def apply(self, uuid: str, changes: ProfileChanges, stored: Profile | None = None,
              retention: Retention = ...) -> None: ...

    def is_opted_out(self, uuid: str) -> bool: ...

    def load_many(self, keys: list[str], now: float) -> dict[str, Profile]: ...


class S2SPublisher(Protocol):
    """Queues real-time server-to-server messages (destinations.md, S2S)."""

    def send(self, bodies: Sequence[str]) -> None: ...


class FanoutStarter(Protocol):
    def start(self, plans: list[CallPlan], budget_ms: int) -> PendingFanout: ...


# NamedTuples and slotted classes rather than dataclasses: a dataclass costs 0.2-0.6 ms to
# create at import, paid on a cold Lambda start (bench/coldstart.py).
_NO_HEADERS: Mapping[str, str] = MappingProxyType({})


class EventInput(NamedTuple):
    parsed: ParsedRequest
    cookies: Mapping[str, str]
    derived_country: str | None = None  # from the edge's viewer headers, never the caller
    headers: Mapping[str, str] = _NO_HEADERS  # for derived h_/geo signals (read only)


class EventResult:
    __slots__ = ("fields", "errors", "uuid_cookie", "outcomes", "stopped", "status", "now", "log")

    def __init__(
        self,
        fields: dict[str, Any],
        errors: list[DcsError],
        uuid_cookie: str | None = None,  # the UUID to set as cookie, if any
        outcomes: list[Outcome] | None = None,
        stopped: bool = False,
        status: int = 200,  # 429 when storage throttled the first read (nothing applied)
        now: float = 0.0,
        log: dict[str, Any] | None = None,
    ) -> None:
        self.fields = fields
        self.errors = errors
        self.uuid_cookie = uuid_cookie
        self.outcomes: list[Outcome] = [] if outcomes is None else outcomes
        self.stopped = stopped
        self.status = status
        self.now = now
        self.log: dict[str, Any] = {} if log is None else log


class _Realized:
    """This request's trait changes."""

    __slots__ = ("rule_based", "onboarded", "removed")

    def __init__(self) -> None:
        self.rule_based: set[int] = set()
        self.onboarded: set[int] = set()
        self.removed: set[int] = set()

    def traits(self) -> list[int]:
        return sorted(self.rule_based | self.onboarded)


class _Context(NamedTuple):
    """What the steps of one event share."""

    parsed: ParsedRequest
    catalog: CompiledCatalog
    profile: Profile
    uuid: str | None
    coppa: bool
    tid: str
    now: float
    tdpid: int | None | bool
    consent: ConsentDecision
    privacy: PrivacyDecision


class EventPipeline:
    def __init__(
        self,
        settings: Settings,
        catalog: CatalogProvider,
        profiles: Profiles,
        fanout: FanoutStarter,
        idmap: IdMap,
        wall_clock: Callable[[], float] = time.time,
        storage_errors: tuple[type[BaseException], ...] = (Exception,),
        is_throttle: Callable[[BaseException], bool] = lambda exc: False,
        record_outcomes: Callable[[list[Outcome]], None] = lambda outcomes: None,
        s2s: S2SPublisher | None = None,
        record_privacy: Callable[[dict[str, Any]], None] = lambda decision: None,
    ) -> None:
        self._settings = settings
        self._catalog = catalog
        self._profiles = profiles
        self._fanout = fanout
        self._now = wall_clock
        self._storage_errors = storage_errors
        self._is_throttle = is_throttle
        self._record_outcomes = record_outcomes  # provider stats: calls and skips of each event
        self._s2s = s2s
        self._record_privacy = record_privacy  # /v1/stats/privacy
        self._rate = TokenBucket(settings.rate_max_per_second)
        self._idmap = idmap

    # -- entry point ----------------------------------------------------------------------
    def handle(self, event: EventInput) -> EventResult:
        parsed = event.parsed
        errors = list(parsed.errors)
        tid = new_tid()
        if parsed.discard:
            return self._stopped(parsed, tid, errors)
        if not self._rate.allow():
            return self._stopped(parsed, tid, errors, status=429)
        if event.derived_country and event.derived_country in self._settings.blocked_countries:
            errors.append(error(199))
            return self._stopped(parsed, tid, errors)
        if event.cookies.get(self._settings.cookie_uuid_name) == OPT_OUT_VALUE:
            errors.append(error(171, OPT_OUT_VALUE))
            return self._stopped(parsed, tid, errors)
        privacy = evaluate_privacy(signals_from(parsed.control, event.headers),
                                   honour_gpc=self._settings.privacy_gpc == "honour")
        gdpr, gdpr_consent = tcf_inputs(parsed.control("gdpr"), parsed.control("gdpr_consent"),
                                        privacy)
        consent = evaluate_consent(gdpr, gdpr_consent, self._settings.consent)
        if consent.stopped:
            # No consent (dcs-protocol.md 7): treated as opted out for this request only.
            errors.append(error(consent.error_code or 315))
            stopped = self._stopped(parsed, tid, errors)
            stopped.log["privacy"] = _privacy_log(privacy, consent, "no_consent")
            self._record_privacy(stopped.log["privacy"])
            return stopped
        if privacy.error_code is not None:
            # US opt-out or an invalid string: first party only (privacy-signals.md 3).
            errors.append(error(privacy.error_code, privacy.detail))
        derive_header_signals(parsed, event.headers, precise_geo=consent.precise_geo)
        self._validate_controls(parsed, errors)
        return self._process(event, tid, errors, consent, privacy)

    # -- steps ----------------------------------------------------------------------------
    def _validate_controls(self, parsed: ParsedRequest, errors: list[DcsError]) -> None:
        callback = parsed.control("d_cb")
        if callback is not None and not CALLBACK_RE.match(callback):
            errors.append(error(901))
        d_uuid = parsed.control("d_uuid")
        if d_uuid is not None and not is_valid_uuid(d_uuid):
            errors.append(error(102, d_uuid))
        d_mid = parsed.control("d_mid")
        if d_mid is not None and not _MID_RE.match(d_mid):
            errors.append(error(101, d_mid))

    def _process(
        self, event: EventInput, tid: str, errors: list[DcsError], consent: ConsentDecision,
        privacy: PrivacyDecision,
    ) -> EventResult:
        parsed = event.parsed
        now = self._now()
        coppa = parsed.child_directed()
        try:
            catalog = self._catalog.get()
        except CatalogUnavailable:
            errors.append(error(205))
            catalog = EMPTY_CATALOG
        declared = declared_ids(parsed, data_sources(catalog), errors)
        identity = resolve(parsed, event.cookies.get(self._settings.cookie_uuid_name), declared,
                           self._idmap, now, errors, self._storage_errors)
        if identity.opted_out_id:
            errors.append(error(171, identity.opted_out_id))
            return self._stopped(parsed, tid, errors)
        uuid = identity.uuid
        profile = Profile(uuid=uuid or "")
        if uuid and not identity.is_new:
            try:
                profile = self._profiles.load(uuid, now)
            except self._storage_errors as exc:
                if self._is_throttle(exc):
                    return self._stopped(parsed, tid, errors, status=429)
                # The profile also holds the opt-out marker: unknown status fails closed.
                errors.append(error(204))
                return self._stopped(parsed, tid, errors)
            if profile.opted_out:
                errors.append(error(171, uuid))
                return self._stopped(parsed, tid, errors)
        stopped = self._check_ignored_d_uuid(parsed, uuid, tid, errors)
        if stopped:
            return stopped
        stored = profile.copy()  # what the write is conditional on (and applied over)
        profile.synced_ids.update(identity.synced_ids())
        tdpid = _data_source_filter(parsed, data_sources(catalog))
        ctx = _Context(parsed, catalog, profile, uuid, coppa, tid, now, tdpid, consent, privacy)
        pending, immediate = self._start_providers(ctx)
        realized = _Realized()
        rule_result = catalog.realize_rule_traits(
            parsed.signals, tdpid, self._settings.regex_budget_ms
        )
        realized.rule_based.update(rule_result.sids)
        if rule_result.failed:
            errors.append(error(10))
        self._realize_sid_traits(ctx, realized)
        outcomes = sorted(immediate + (pending.collect() if pending else []), key=lambda o: o.pid)
        self._record_outcomes(outcomes)
        cache_answers = self._apply_provider_answers(ctx, outcomes, realized)
        live, changes = self._merge(profile, catalog, realized, now)
        changes.cache_answers = cache_answers
        changes.event_id = tid  # unique per event: lets a replayed write be recognised
        merged = self._evaluate_merged(ctx, identity, live, changes, errors)
        active = _device_only(catalog, live, now) if merged is None else merged[0]
        changes.segments = frozenset(active | self._frozen_paused(catalog, profile))
        if uuid and privacy.s2s:
            changes.s2s_states = self._publish_s2s(ctx, changes.segments)
        changes.synced_ids = identity.synced_ids()
        if uuid and identity.declared and identity.can_link:
            try:
                self._idmap.link(identity.declared, uuid, identity.links, now)
                # remembered in the profile, so deleting it can find every link
                changes.linked_ids = tuple((d.dpid, d.dpuuid) for d in identity.declared)
            except self._storage_errors:
                errors.append(error(203))
        if uuid:
            try:
                self._profiles.apply(uuid, changes, stored, retention_for(catalog))
            except ProfileWriteFailed:  # refused for good, or not landed and not spooled
                errors.append(error(201))
            except self._storage_errors:
                errors.append(error(201))
        fields = self._response_fields(parsed, tid, uuid)
        self._destinations(ctx, event, active, fields)
        if self._settings.expose_traits and parsed.control("d_cts") in ("1", "2"):
            fields["traits"] = realized.traits()
            fields["segments"] = sorted(active)
            if merged is not None:
                fields["profiles"] = merged[1]  # what each merge rule's segments saw
        result = EventResult(
            fields=fields,
            errors=errors,
            uuid_cookie=uuid if uuid and not coppa else None,
            outcomes=outcomes,
            now=now,
        )
        result.log = _log_record(tid, uuid, parsed, realized, active, outcomes, errors)
        result.log["privacy"] = _privacy_log(privacy, consent, privacy.outcome)
        if merged is not None:
            result.log["profiles"] = merged[1]
        self._record_privacy(result.log["privacy"])
        return result

    def _evaluate_merged(
        self, ctx: "_Context", identity: Identity, live: dict[int, Sequence[float]],
        changes: ProfileChanges, errors: list[DcsError],
    ) -> tuple[set[int], list[dict[str, Any]]] | None:
        """Segments over the profiles each merge rule selects (identity.md 3), with at most
        one BatchGetItem; also writes this event's realizations to the authenticated profile
        of an authenticated event. None when the catalog has no merge rule (device only)."""
        catalog, uuid, now = ctx.catalog, ctx.uuid, ctx.now
        if not catalog.merge.any_merge or not uuid:
            return None
        # Loaded with the first catalog that has a merge rule: not on a cold start without.
        from chalicelib.identity.merge import describe, plan

        merge_plan = plan(catalog.merge, catalog.merge_rules_in_use(), identity.declared,
                          identity.links, ctx.profile, uuid)
        read: dict[str, Profile] = {}
        keys = merge_plan.keys
        read_ok = True
        if keys:
            try:
                read = self._profiles.load_many(keys, now)
            except self._storage_errors:
                errors.append(error(200))  # evaluated over this device's profile alone
                read_ok = False
        event_live = {sid: [now] for sid in (*changes.add_stamps, *changes.replace_stamps)}
        views: dict[int, dict[int, list[float]]] = {}
        seen: list[dict[str, Any]] = []  # per rule: what its segments were evaluated over
        for entry in merge_plan.rules:
            parts: list[Mapping[int, Sequence[float]]] = [live] if entry.device else []
            if entry.auth_key:
                stored = read.get(entry.auth_key)
                if stored is not None and not stored.opted_out:
                    parts.append(_live_of(stored, catalog, now))
                if entry.auth_written and not entry.device:
                    parts.append(event_live)
            for other in entry.graph:
                device = read.get(other)
                if device is not None and not device.opted_out:
                    parts.append(_live_of(device, catalog, now))
            views[entry.rule.rule_id] = union(parts) if parts else {}
            seen.append({"mergeRuleId": entry.rule.rule_id,
                         "default": entry.rule is catalog.merge.default,
                         "over": describe(entry, read)})
        self._write_authenticated(ctx, merge_plan, read if read_ok else None, changes, errors)
        changes.auth_ids = {}
        for declared in merge_plan.write_auth:
            changes.auth_ids.setdefault(declared.dpid, declared.dpuuid)
        changes.graph_id, changes.graph = merge_plan.graph_id, merge_plan.graph
        return catalog.evaluate_by_rule(views, now), seen

    def _write_authenticated(
        self, ctx: "_Context", merge_plan: MergePlan, read: dict[str, Profile] | None,
        changes: ProfileChanges, errors: list[DcsError],
    ) -> None:
        """The event's realizations, also in the authenticated profile of each ID declared
        with state 1 (bounded like a device profile: the same store and compaction)."""
        done: set[str] = set()
        for declared in merge_plan.write_auth:
            key = auth_profile_key(declared.dpid, declared.dpuuid)
            if key in done:
                continue
            done.add(key)
            stored = None if read is None else read.get(key)
            if stored is None:
                errors.append(error(201))  # its stored state is unknown: not written
                continue
            auth_changes = ProfileChanges(
                now=ctx.now, event_id=ctx.tid, add_stamps=dict(changes.add_stamps),
                replace_stamps={k: list(v) for k, v in changes.replace_stamps.items()},
                remove_traits=set(changes.remove_traits), segments=stored.segments)
            try:
                self._profiles.apply(key, auth_changes, stored, retention_for(ctx.catalog))
            except ProfileWriteFailed:
                errors.append(error(201))
            except self._storage_errors:
                errors.append(error(201))

    def _start_providers(self, ctx: "_Context") -> tuple[PendingFanout | None, list[Outcome]]:
        budget = self._settings.rt_budget_ms
        uuid = ctx.uuid
        if not uuid or ctx.coppa or budget <= 0:
            return None, []
        consent = consent_key(ctx.consent.consent_string)
        plans: list[CallPlan] = []
        immediate: list[Outcome] = []
        for provider in ctx.catalog.providers:
            if provider.status != "active":
                continue
            if not ctx.privacy.share:
                # A US opt-out: no call, and no cached answer of this provider applies either.
                immediate.append(Outcome(provider.pid, provider.name, "skipped", detail="privacy"))
                continue
            if ctx.tdpid is not None and ctx.tdpid != provider.data_source_id:
                immediate.append(Outcome(provider.pid, provider.name, "skipped", detail="tdpid"))
                continue
            if not vendor_allowed(ctx.consent, provider.iab_vendor_id, self._settings.consent):
                immediate.append(Outcome(provider.pid, provider.name, "skipped", detail="consent"))
                continue
            dpuuid = ctx.profile.synced_ids.get(provider.data_source_id)
            if provider.id_mode == "synced" and not dpuuid:
                immediate.append(Outcome(provider.pid, provider.name, "skipped", detail="no_sync"))
                continue
            cached = ctx.profile.provider_cache.get(provider.pid)
            if provider.cache_ttl_seconds > 0 and cached and cached.usable(
                ctx.now, consent, dpuuid or ""
            ):
                answer = _cached_answer(cached)
                immediate.append(Outcome(provider.pid, provider.name, "cached", 0.0, answer))
                continue
            body = build_request_body(
                provider,
                uuid=uuid,
                dpuuid=dpuuid,
                partner_id=self._settings.partner_id,
                region=self._settings.dcs_region,
                tid=ctx.tid,
                gdpr=ctx.consent.gdpr_flag,
                gdpr_consent=ctx.consent.consent_string,
                signals=ctx.parsed.signals,
                gpp=ctx.privacy.gpp,
                gpp_sid=ctx.privacy.gpp_sid,
            )
            plans.append(CallPlan(provider, body))
        if not plans:
            return None, immediate
        return self._fanout.start(plans, budget), immediate

    def _realize_sid_traits(self, ctx: "_Context", realized: _Realized) -> None:
        for value in ctx.parsed.sid_values:
            sid = ascii_int(value)
            if sid is None:
                continue
            trait = ctx.catalog.traits.get(sid)
            if trait and not trait.rule_based and in_data_source(trait, ctx.tdpid):
                realized.onboarded.add(trait.sid)

    def _apply_provider_answers(
        self, ctx: "_Context", outcomes: list[Outcome], realized: _Realized
    ) -> dict[int, CachedAnswer]:
        catalog, profile, now, tdpid = ctx.catalog, ctx.profile, ctx.now, ctx.tdpid
        providers = {p.pid: p for p in catalog.providers}
        consent = consent_key(ctx.consent.consent_string)
        to_cache: dict[int, CachedAnswer] = {}
        for outcome in outcomes:
            provider = providers.get(outcome.pid)
            if provider is None or outcome.answer is None:
                continue
            if outcome.kind not in ("answered", "empty", "cached"):
                continue
            mapped: list[str] = []
            for segment_id in outcome.answer.realize:
                sid = catalog.onboarded_by_segment.get((provider.data_source_id, segment_id))
                if sid is None:
                    continue
                mapped.append(segment_id)
                if in_data_source(catalog.traits[sid], tdpid):
                    realized.onboarded.add(sid)
            mapped_removals: list[str] = []
            for segment_id in outcome.answer.remove:
                sid = catalog.onboarded_by_segment.get((provider.data_source_id, segment_id))
                if sid is not None:
                    realized.removed.add(sid)
                    mapped_removals.append(segment_id)
            if outcome.kind != "cached" and provider.cache_ttl_seconds > 0:
                ttl = provider.cache_ttl_seconds
                if outcome.answer.ttl_seconds is not None:
                    ttl = min(ttl, outcome.answer.ttl_seconds)
                # Only ids that map to a trait are worth keeping (an unmapped id realizes
                # nothing), capped; the consent is kept as a hash (dcs-protocol.md 11).
                to_cache[provider.pid] = CachedAnswer(
                    segments=tuple(mapped[:MAX_CACHED_IDS]),
                    removed=tuple(mapped_removals[:MAX_CACHED_IDS]),
                    expires_at=now + ttl,
                    consent_key=consent,
                    dpuuid=profile.synced_ids.get(provider.data_source_id, ""),
                )
        realized.onboarded -= realized.removed
        return to_cache

    def _merge(
        self, profile: Profile, catalog: CompiledCatalog, realized: _Realized, now: float
    ) -> tuple[dict[int, Sequence[float]], ProfileChanges]:
        """Live realizations after this request, and the changes that store them (the store
        applies them to what the item holds, trims stamps and drops expired traits)."""
        changes = ProfileChanges(now=now)
        live = _live_of(profile, catalog, now)
        stamp = new_stamp(now)
        for sid in realized.rule_based:
            changes.add_stamps[sid] = stamp
            live[sid] = [*live.get(sid, []), now]
        for sid in realized.onboarded:
            changes.replace_stamps[sid] = [stamp]
            live[sid] = [now]
        for sid in realized.removed:
            live.pop(sid, None)
            changes.remove_traits.add(sid)
        if len(live) > MAX_TRAITS:  # the store keeps the most recent 10,000: evaluate those
            for _, sid in sorted((s[-1], sid) for sid, s in live.items())[:len(live) - MAX_TRAITS]:
                del live[sid]
        return live, changes

    def _destinations(
        self, ctx: _Context, event: EventInput, active: set[int], fields: dict[str, Any]
    ) -> None:
        """stuff, dests (d_dst=1) and ibs (d_jsonv != 0): browser platforms only (4.1)."""
        if not _browser(ctx.parsed):
            return
        fields["stuff"] = stuff_items(ctx.catalog.cookie_destinations, active, ctx.now)
        proto = page_protocol(ctx.parsed.signals)
        if not ctx.privacy.sync:
            return  # a US opt-out: no dests, no ibs (privacy-signals.md 3)
        if ctx.parsed.control("d_dst") == "1":
            fields["dests"] = url_destination_items(
                ctx.catalog, active, uuid=ctx.uuid or "", synced_ids=ctx.profile.synced_ids,
                gdpr_flag=ctx.consent.gdpr_flag, consent_string=ctx.consent.consent_string,
                page_proto=proto, now=ctx.now, gpp=ctx.privacy.gpp, gpp_sid=ctx.privacy.gpp_sid,
            )
        if not ctx.uuid or ctx.coppa or ctx.parsed.control("d_jsonv") == "0":
            return
        nsid = ctx.parsed.control("d_nsid") or "0"
        syncs = sync_items(
            ctx.catalog,
            nsid=ascii_int(nsid) or 0,
            uuid=ctx.uuid,
            sync_cookie=event.cookies.get(self._settings.cookie_sync_name),
            vendor_allowed=lambda vendor: vendor_allowed(ctx.consent, vendor,
                                                         self._settings.consent),
            gdpr_flag=ctx.consent.gdpr_flag,
            consent_string=ctx.consent.consent_string,
            page_proto=proto,
            now=ctx.now,
            gpp=ctx.privacy.gpp,
            gpp_sid=ctx.privacy.gpp_sid,
        )
        if syncs:
            fields["ibs"] = syncs

    def _publish_s2s(self, ctx: _Context, segments: frozenset[int]) -> dict[int, dict[str, Any]]:
        """Queue S2S messages when membership changed (or after 3 quiet days); the states to
        store. Membership is the stored one (paused segments stay), compared with what each
        destination last received. A failed send stores nothing, so the next event resends."""
        if self._s2s is None or not ctx.uuid:
            return {}
        states = {d: S2SState.from_item(v) for d, v in ctx.profile.s2s_states.items()}
        plan = plan_s2s(ctx.catalog, segments, uuid=ctx.uuid, synced_ids=ctx.profile.synced_ids,
                        states=states, region=self._settings.dcs_region, now=ctx.now)
        if not plan.messages:
            return {}
        try:
            self._s2s.send(plan.queue_bodies())
        except Exception:  # noqa: BLE001 - delivery is retried by the next event, never fatal
            logger.warning("S2S messages not queued; the next event resends them")
            return {}
        return {d: state.to_item() for d, state in plan.states.items()}

    def _check_ignored_d_uuid(
        self, parsed: ParsedRequest, uuid: str | None, tid: str, errors: list[DcsError]
    ) -> EventResult | None:
        """dcs-protocol.md 4.4 step 7: a valid ``d_uuid`` that lost to the cookie does not
        identify the visitor, but its opt-out still stops the request (one extra read, only
        when both are present and differ)."""
        d_uuid = parsed.control("d_uuid")
        if not uuid or d_uuid is None or d_uuid == uuid or not is_valid_uuid(d_uuid):
            return None
        try:
            opted_out = self._profiles.is_opted_out(d_uuid)
        except self._storage_errors as exc:
            if self._is_throttle(exc):  # as for the profile read: 429, the caller retries
                return self._stopped(parsed, tid, errors, status=429)
            errors.append(error(204))  # the opt-out store cannot be read: fail closed
            return self._stopped(parsed, tid, errors)
        if not opted_out:
            return None
        errors.append(error(171, d_uuid))
        return self._stopped(parsed, tid, errors)

    def _frozen_paused(self, catalog: CompiledCatalog, profile: Profile) -> set[int]:
        """Paused segments keep their stored membership (rules.md 2.4)."""
        return set(profile.segments & catalog.paused_segment_ids)

    def _response_fields(self, parsed: ParsedRequest, tid: str, uuid: str | None) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        if uuid:
            fields["uuid"] = uuid
        fields["dcs_region"] = self._settings.dcs_region
        fields["tid"] = tid
        fields["stuff"] = []
        if parsed.control("d_dst") == "1":
            fields["dests"] = []
        return fields

    def _stopped(
        self, parsed: ParsedRequest, tid: str, errors: list[DcsError], status: int = 200
    ) -> EventResult:
        result = EventResult(
            fields=self._response_fields(parsed, tid, None),
            errors=errors,
            stopped=True,
            now=self._now(),
            status=status,
        )
        result.log = {"tid": tid, "stopped": True, "errors": [e.code for e in errors]}
        return result


_SOURCES_CACHE: tuple[CompiledCatalog, DataSources] | None = None


def data_sources(catalog: CompiledCatalog) -> DataSources:
    """Data source lookup, built once per catalog snapshot."""
    global _SOURCES_CACHE
    cached = _SOURCES_CACHE
    if cached is None or cached[0] is not catalog:
        cached = (catalog, DataSources(catalog.raw.get("datasource", ())))
        _SOURCES_CACHE = cached
    return cached[1]


def _device_only(catalog: CompiledCatalog, live: Mapping[int, Sequence[float]],
                 now: float) -> set[int]:
    """Every segment over the device profile: no merge rule, or none that selects another
    profile (or a stateless request)."""
    if not catalog.rule_indexes:
        return catalog.evaluate_segments(live, now)
    views = {rule.rule_id: live for rule in catalog.merge_rules_in_use()}
    return catalog.evaluate_by_rule(views, now)


def _live_of(profile: Profile, catalog: CompiledCatalog,
             now: float) -> dict[int, Sequence[float]]:
    """A profile's live realizations (sid -> stamps, epoch s). The stored stamp lists
    themselves, not float copies: records are replaced, never mutated, and an int stamp
    compares with a time exactly as its float would (a copy per trait was ~40% of this,
    issue 17)."""
    live: dict[int, Sequence[float]] = {}
    definitions = catalog.traits
    for sid, record in profile.traits.items():
        trait = definitions.get(sid)
        stamps = record.stamps
        if trait is not None and stamps and trait.is_live(stamps[-1], now):
            live[sid] = stamps
    return live


def _data_source_filter(parsed: ParsedRequest, sources: DataSources) -> int | None | bool:
    """d_tdpid / d_tdpid_ic: an int limits realization to that data source; False (an unknown
    value) matches nothing; None leaves it open."""
    raw = parsed.control("d_tdpid")
    if raw is not None:
        value = ascii_int(raw)
        return False if value is None else value
    code = parsed.control("d_tdpid_ic")
    if code is not None:
        info = sources.by_code.get(code)
        return info.dpid if info else False
    return None


def _browser(parsed: ParsedRequest) -> bool:
    return parsed.control("d_ptfm", "browser") not in ("ios", "android")


def _cached_answer(cached: CachedAnswer) -> ProviderAnswer:
    return ProviderAnswer(cached.segments, cached.removed, None)


def _log_record(
    tid: str,
    uuid: str | None,
    parsed: ParsedRequest,
    realized: _Realized,
    segments: set[int],
    outcomes: list[Outcome],
    errors: list[DcsError],
) -> dict[str, Any]:
    """One structured line per event. ``p_`` keys are left out entirely, values and names."""
    return {
        "tid": tid,
        "uuid": uuid,
        "signals": {k: v for k, v in parsed.signals.items() if not k.startswith("p_")},
        "traits": realized.traits(),
        "segments": sorted(segments),
        "providers": [
            {"pid": o.pid, "outcome": o.kind, "ms": round(o.latency_ms, 1), "detail": o.detail}
            for o in outcomes
        ],
        "errors": [e.code for e in errors],
    }


def _privacy_log(
    privacy: PrivacyDecision, consent: ConsentDecision, outcome: str
) -> dict[str, Any]:
    """The log line's privacy decision: the signals present (``tcf`` when gdpr applies), the
    outcome (pass | us_optout | no_consent | invalid), the suppressed activities."""
    signals = (["tcf"] if consent.applies else []) + list(privacy.present)
    suppressed = (["collect", "share", "sync", "s2s"] if outcome == "no_consent"
                  else list(privacy.suppressed))
    return {"signals": signals, "outcome": outcome, "suppressed": suppressed}
