"""Which profiles one event's segments are evaluated over (identity.md 3), and the one read
that fetches them. Pure planning: the pipeline reads and writes.

Per merge rule in use: the authenticated profile (``current``: an ID of the rule's data
sources declared with state 1 on this event; ``last``: that, else the last one this device
authenticated with), and for ``deviceGraph`` the device profiles of the other UUIDs linked to
the rule's ID (the links this event read when it declared the ID, else the graph the device
profile kept from its latest declaration), at most 10 by recency.

An event that is authenticated (state 1, a data source some merge rule names) also writes its
realizations to that authenticated profile, so its stored state is read in the same batch.
Nothing to read: no request (events that are not authenticated and need no ``last`` or
``deviceGraph``)."""

from __future__ import annotations

from typing import Mapping, NamedTuple, Sequence

from chalicelib.identity.values import DeclaredId
from chalicelib.rules.merge_rules import MergeRule, MergeSetup
from chalicelib.store.idmap import LinkRecord
from chalicelib.store.profiles import MAX_GRAPH_DEVICES, Profile, auth_profile_key

AUTHENTICATED = 1


def id_key(dpid: int, dpuuid: str) -> str:
    return f"{dpid}#{dpuuid}"


class RuleProfiles(NamedTuple):
    """The profiles one merge rule selects for this event."""

    rule: MergeRule
    device: bool  # the device's own profile (with this event's realizations)
    auth_key: str | None  # the authenticated profile's key
    auth_written: bool  # that profile is the one this event writes to (add its realizations)
    graph: tuple[str, ...]  # other devices' UUIDs


class MergePlan(NamedTuple):
    rules: tuple[RuleProfiles, ...]
    write_auth: tuple[DeclaredId, ...]  # authenticated IDs whose profiles this event writes
    graph_id: str  # the device graph this event saw ("" when it declared no cross-device ID)
    graph: tuple[str, ...]

    @property
    def keys(self) -> list[str]:
        """Every profile to read, in one BatchGetItem (empty: no request)."""
        wanted: dict[str, None] = {}
        for declared in self.write_auth:
            wanted[auth_profile_key(declared.dpid, declared.dpuuid)] = None
        for entry in self.rules:
            if entry.auth_key:
                wanted[entry.auth_key] = None
            wanted.update(dict.fromkeys(entry.graph))
        return list(wanted)


def _first(declared: Sequence[DeclaredId], sources: Sequence[int],
           state: int | None = None) -> DeclaredId | None:
    for dpid in sources:
        for entry in declared:
            if entry.dpid == dpid and (state is None or entry.auth_state == state):
                return entry
    return None


def _last_authenticated(device: Profile, sources: Sequence[int]) -> tuple[int, str] | None:
    for dpid in sources:
        dpuuid = device.auth_ids.get(dpid)
        if dpuuid:
            return dpid, dpuuid
    return None


def plan(
    setup: MergeSetup,
    in_use: Sequence[MergeRule],
    declared: Sequence[DeclaredId],
    links: Mapping[tuple[int, str], LinkRecord],
    device: Profile,
    uuid: str,
) -> MergePlan:
    write_auth = tuple(d for d in declared
                       if d.auth_state == AUTHENTICATED and d.dpid in setup.auth_sources)
    # The device graph this event sees: of the first declared cross-device ID it links.
    graph_id, graph = "", ()  # type: tuple[str, tuple[str, ...]]
    for entry in declared:
        if entry.dpid in setup.auth_sources:
            graph_id = id_key(entry.dpid, entry.dpuuid)
            record = links.get(entry.key, LinkRecord())
            graph = tuple(record.newest(MAX_GRAPH_DEVICES, exclude=uuid))
            break
    rules: list[RuleProfiles] = []
    for rule in in_use:
        current = _first(declared, rule.sources, AUTHENTICATED)
        auth: tuple[int, str] | None = None
        if rule.authenticated == "current" and current is not None:
            auth = current.key
        elif rule.authenticated == "last":
            auth = current.key if current is not None else _last_authenticated(
                device, rule.sources)
        others: tuple[str, ...] = ()
        if rule.device == "deviceGraph":
            others = _graph_for(rule, declared, links, device, uuid)
        rules.append(RuleProfiles(
            rule, rule.device != "none",
            auth_profile_key(*auth) if auth else None,
            auth is not None and current is not None and auth == current.key,
            others))
    return MergePlan(tuple(rules), write_auth, graph_id, graph)


def _graph_for(rule: MergeRule, declared: Sequence[DeclaredId],
               links: Mapping[tuple[int, str], LinkRecord], device: Profile,
               uuid: str) -> tuple[str, ...]:
    entry = _first(declared, rule.sources)
    if entry is not None:  # declared on this event: its links were just read
        return tuple(links.get(entry.key, LinkRecord()).newest(MAX_GRAPH_DEVICES, exclude=uuid))
    # No declaration on this event: the graph the device profile kept from its latest one.
    if device.graph_id and int(device.graph_id.split("#", 1)[0]) in rule.sources:
        return tuple(u for u in device.graph if u != uuid)[:MAX_GRAPH_DEVICES]
    return ()


def describe(entry: RuleProfiles, read: Mapping[str, Profile]) -> list[str]:
    """What a rule's segments were evaluated over, without naming other devices or IDs
    (shown by the demo page): ``device``, ``authenticated`` and ``device-graph:<n>``."""
    parts = ["device"] if entry.device else []
    if entry.auth_key and (entry.auth_written or read.get(entry.auth_key, Profile("")).exists):
        parts.append("authenticated")
    found = sum(1 for u in entry.graph if read.get(u, Profile("")).exists)
    if entry.graph:
        parts.append(f"device-graph:{found}")
    return parts
