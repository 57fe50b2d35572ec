"""Who is this visitor? Identity resolution of dcs-protocol.md 4.3, with declared IDs (4.2).

Precedence: a valid UUID cookie (not with ``d_coppa``, 1 or true:
``ParsedRequest.child_directed``), then a valid ``d_uuid``, then a valid ``d_mid`` (the MID
``/id`` handed out: identity.md 1), then the first accepted declared ID with a stored link
(its most recent UUID), else a new UUID (``d_coppa``: stateless instead). Declared-ID
opt-outs are found on the same read.

``Identity`` is a slotted class, not a dataclass: import cost on a cold start
(chalicelib/core/records.py).
"""

from __future__ import annotations

from typing import Mapping, Protocol, Sequence

from chalicelib.dcs.declared_ids import DataSources, parse_declared_ids
from chalicelib.dcs.errors import DcsError, error
from chalicelib.dcs.ids import is_valid_uuid, new_uuid
from chalicelib.dcs.params import ParsedRequest
from chalicelib.identity.values import DeclaredId
from chalicelib.store.idmap import LinkRecord


class IdMap(Protocol):
    def read(self, ids: Sequence[DeclaredId], now: float) -> dict[tuple[int, str], LinkRecord]: ...

    def link(
        self,
        ids: Sequence[DeclaredId],
        uuid: str,
        existing: Mapping[tuple[int, str], LinkRecord],
        now: float,
    ) -> None: ...


class Identity:
    __slots__ = ("uuid", "is_new", "declared", "links", "can_link", "opted_out_id")

    def __init__(
        self,
        uuid: str | None,  # None: a stateless d_coppa request
        is_new: bool = False,
        declared: list[DeclaredId] | None = None,
        links: dict[tuple[int, str], LinkRecord] | None = None,
        can_link: bool = True,  # False when the ID map could not be read (202): no new links
        opted_out_id: str | None = None,  # a declared ID found opted out: stop with 171
    ) -> None:
        self.uuid = uuid
        self.is_new = is_new
        self.declared: list[DeclaredId] = [] if declared is None else declared
        self.links: dict[tuple[int, str], LinkRecord] = {} if links is None else links
        self.can_link = can_link
        self.opted_out_id = opted_out_id

    def synced_ids(self) -> dict[int, str]:
        """The first accepted DPUUID per data source (request order is precedence)."""
        ids: dict[int, str] = {}
        for declared in self.declared:
            ids.setdefault(declared.dpid, declared.dpuuid)
        return ids


def declared_ids(
    parsed: ParsedRequest, sources: DataSources, errors: list[DcsError]
) -> list[DeclaredId]:
    legacy_dpid = parsed.control("d_dpid") or parsed.control("dpid")
    legacy_dpuuid = parsed.control("d_dpuuid") or parsed.control("dpuuid")
    cid = parsed.repeated_controls.get("d_cid", [])
    cid_ic = parsed.repeated_controls.get("d_cid_ic", [])
    if not (cid or cid_ic or legacy_dpid or legacy_dpuuid):
        return []
    result = parse_declared_ids(cid, cid_ic, (legacy_dpid, legacy_dpuuid), sources)
    errors.extend(result.errors)
    return result.accepted


def resolve(
    parsed: ParsedRequest,
    cookie_uuid: str | None,
    declared: list[DeclaredId],
    idmap: IdMap,
    now: float,
    errors: list[DcsError],
    storage_errors: tuple[type[BaseException], ...],
) -> Identity:
    coppa = parsed.child_directed()
    identity = Identity(uuid=None, declared=declared)
    if declared:
        try:
            identity.links = idmap.read(declared, now)
        except storage_errors:
            errors.append(error(202))
            identity.can_link = False
        for declared_id in declared:
            if identity.links.get(declared_id.key, LinkRecord()).opted_out:
                identity.opted_out_id = f"{declared_id.dpid}:{declared_id.dpuuid}"
                return identity
    if not coppa and is_valid_uuid(cookie_uuid):
        identity.uuid = cookie_uuid
        return identity
    for key in ("d_uuid", "d_mid"):  # the MID the ID service gave is an rtdcs UUID (/id)
        sent = parsed.control(key)
        if is_valid_uuid(sent):
            identity.uuid = sent
            return identity
    for declared_id in declared:
        linked = identity.links.get(declared_id.key, LinkRecord()).most_recent()
        if linked:
            identity.uuid = linked
            return identity
    if not coppa:
        identity.uuid = new_uuid()
        identity.is_new = True
    return identity
