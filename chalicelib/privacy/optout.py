"""``/demoptout`` and ``/demoptout.jpg`` (dcs-protocol.md section 6)."""

from __future__ import annotations

import logging
import time
from typing import Callable, Mapping, Protocol, Sequence

from chalicelib.dcs.errors import DcsError, error
from chalicelib.dcs.ids import is_valid_uuid
from chalicelib.dcs.params import ParsedRequest
from chalicelib.destinations.s2s import S2SState, plan_s2s_final
from chalicelib.identity.resolve import declared_ids
from chalicelib.identity.values import DeclaredId
from chalicelib.pipeline import CatalogProvider, S2SPublisher, data_sources
from chalicelib.rules.catalog import EMPTY_CATALOG
from chalicelib.runtime.catalog_cache import CatalogUnavailable
from chalicelib.store.idmap import LinkRecord
from chalicelib.store.profiles import Profile, auth_profile_key

logger = logging.getLogger("rtdcs.optout")


class OptOutProfiles(Protocol):
    def opt_out(self, uuid: str, now: float) -> Profile: ...


class OptOutIdMap(Protocol):
    def read(self, ids: Sequence[DeclaredId], now: float) -> dict[tuple[int, str], LinkRecord]: ...

    def opt_out(self, ids: Sequence[DeclaredId], now: float) -> None: ...


class OptOutResult:
    # Not a dataclass: import cost on a cold start (chalicelib/core/records.py).
    __slots__ = ("errors", "global_opt_out", "opted_out", "now")

    def __init__(
        self,
        errors: list[DcsError],
        global_opt_out: bool = False,  # set both cookies to NOTARGET for 10 years
        opted_out: tuple[str, ...] = (),  # what was opted out, for the log
        now: float = 0.0,
    ) -> None:
        self.errors = errors
        self.global_opt_out = global_opt_out
        self.opted_out = opted_out
        self.now = now


class OptOut:
    def __init__(
        self,
        cookie_uuid_name: str,
        catalog: CatalogProvider,
        profiles: OptOutProfiles,
        idmap: OptOutIdMap,
        wall_clock: Callable[[], float] = time.time,
        storage_errors: tuple[type[BaseException], ...] = (Exception,),
        s2s: S2SPublisher | None = None,
        region: int = 7,
    ) -> None:
        self._s2s = s2s
        self._region = region
        self._cookie_name = cookie_uuid_name
        self._catalog = catalog
        self._profiles = profiles
        self._idmap = idmap
        self._now = wall_clock
        self._storage_errors = storage_errors

    def handle(self, parsed: ParsedRequest, cookies: Mapping[str, str]) -> OptOutResult:
        now = self._now()
        result = OptOutResult(errors=list(parsed.errors), now=now)
        if parsed.discard:
            return result
        d_uuid = parsed.control("d_uuid")
        if d_uuid is not None:
            if is_valid_uuid(d_uuid):
                self._opt_out_uuids([d_uuid], result)
                return result
            result.errors.append(error(102, d_uuid))
        if _has_declared(parsed):
            try:
                catalog = self._catalog.get()
            except CatalogUnavailable:
                catalog = EMPTY_CATALOG
            declared = declared_ids(parsed, data_sources(catalog), result.errors)
            self._opt_out_declared(declared, result, catalog.merge.auth_sources)
            return result
        result.global_opt_out = True
        cookie = cookies.get(self._cookie_name)
        if cookie is not None and is_valid_uuid(cookie):
            self._opt_out_uuids([cookie], result)
        return result

    def _opt_out_declared(self, declared: list[DeclaredId], result: OptOutResult,
                          auth_sources: frozenset[int] = frozenset()) -> None:
        if not declared:
            return
        try:
            links = self._idmap.read(declared, result.now)
        except self._storage_errors:
            result.errors.append(error(202))
            links = {}
        try:
            self._idmap.opt_out(declared, result.now)
            for entry in declared:  # its authenticated profile is no longer read (identity.md)
                if entry.dpid in auth_sources:
                    self._profiles.opt_out(auth_profile_key(entry.dpid, entry.dpuuid),
                                           result.now)
        except self._storage_errors:
            result.errors.append(error(203))
            return
        linked = [
            uuid for d in declared
            if (uuid := links.get(d.key, LinkRecord()).most_recent()) is not None
        ]
        result.opted_out = tuple(f"{d.dpid}:{d.dpuuid}" for d in declared)
        self._opt_out_uuids(list(dict.fromkeys(linked)), result)

    def _opt_out_uuids(self, uuids: list[str], result: OptOutResult) -> None:
        for uuid in uuids:
            try:
                previous = self._profiles.opt_out(uuid, result.now)
            except self._storage_errors:
                result.errors.append(error(203))
                return
            self._final_s2s(previous, result.now)
        result.opted_out += tuple(uuids)

    def _final_s2s(self, previous: Profile, now: float) -> None:
        """S2S destinations that hold segments for this visitor get one all-Status-0 message."""
        if self._s2s is None or not previous.s2s_states:
            return
        try:
            catalog = self._catalog.get()
        except CatalogUnavailable:
            return
        states = {d: S2SState.from_item(v) for d, v in previous.s2s_states.items()}
        plan = plan_s2s_final(catalog, uuid=previous.uuid, synced_ids=previous.synced_ids,
                              states=states, region=self._region, now=now)
        if plan.messages:
            try:
                self._s2s.send(plan.queue_bodies())
            except Exception:  # noqa: BLE001 - the opt-out itself stands; delivery is best effort
                logger.warning("final S2S messages for an opt-out were not queued")


def _has_declared(parsed: ParsedRequest) -> bool:
    return bool(
        parsed.repeated_controls.get("d_cid")
        or parsed.repeated_controls.get("d_cid_ic")
        or parsed.control("d_dpid") or parsed.control("d_dpuuid")
        or parsed.control("dpid") or parsed.control("dpuuid")
    )
