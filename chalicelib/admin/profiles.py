"""Privacy routes' logic (admin-api.md, Privacy): export and delete a visitor's profile."""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal
from typing import Any, Mapping, Protocol, Sequence

from chalicelib.admin.errors import bad_request, not_found
from chalicelib.dcs.declared_ids import dpuuid_problem
from chalicelib.dcs.ids import is_valid_uuid
from chalicelib.dcs.numbers import is_ascii_digits
from chalicelib.identity.values import DeclaredId
from chalicelib.store.idmap import LinkRecord
from chalicelib.store.profiles import auth_profile_key, profile_from_item


class ProfileStore(Protocol):
    def raw_item(self, uuid: str) -> dict[str, Any] | None: ...

    def delete(self, uuid: str) -> dict[str, Any] | None: ...


class LinkStore(Protocol):
    def read(self, ids: Sequence[DeclaredId], now: float) -> dict[tuple[int, str], LinkRecord]: ...

    def delete_links_to(self, uuid: str, ids: Sequence[tuple[int, str]]) -> None: ...


def _iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc).isoformat().replace(
        "+00:00", "Z")


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (set, frozenset, list, tuple)):
        return sorted(_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def profile_view(item: Mapping[str, Any]) -> dict[str, Any]:
    """Everything stored about a visitor, in admin-API terms."""
    if "optout" in item:
        return {"uuid": item["uuid"], "optedOut": True, "optedOutAt": int(item["optout"])}
    profile = profile_from_item(item, time.time())
    traits = {str(sid): [_iso(s) for s in r.stamps] for sid, r in sorted(profile.traits.items())}
    counts = {str(sid): r.count for sid, r in sorted(profile.traits.items())}
    synced = {str(dpid): dpuuid for dpid, dpuuid in sorted(profile.synced_ids.items())}
    cache: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for name, value in item.items():
        if name.startswith("pc") and name[2:].isdigit():
            cache[name[2:]] = _plain(value)
        elif not _known(name):
            extra[name] = _plain(value)
    view: dict[str, Any] = {
        "uuid": item["uuid"],
        "optedOut": False,
        "traits": traits,
        "traitCounts": counts,
        "segments": sorted(int(s) for s in item.get("segs", ())),
        "syncedIds": synced,
        "providerCache": cache,
        "lastSeen": _iso(float(item["seen"])) if "seen" in item else None,
        "expiresAt": _iso(float(item["expires_at"])) if "expires_at" in item else None,
    }
    if extra:
        view["other"] = extra
    return view


_PREFIXES = ("r", "rn", "ev", "i", "l", "s2s")


def _known(name: str) -> bool:
    """Attributes the view shows in their own fields (either storage layout)."""
    if name in ("uuid", "segs", "seen", "expires_at", "t", "g", "v", "deleted"):
        return True
    return any(name.startswith(p) and name[len(p):].isdigit() for p in _PREFIXES)


def checked_uuid(uuid: str) -> str:
    if not is_valid_uuid(uuid):
        raise bad_request("invalid_uuid", "a UUID is 38 digits, not all zeros", "uuid")
    return uuid


def uuid_for_id(links: LinkStore, dpid: str | None, dpuuid: str | None, now: float) -> str:
    if not dpid or not is_ascii_digits(dpid) or len(dpid) > 10:
        raise bad_request("invalid_field", "dpid must be a data source id", "dpid")
    if not dpuuid or dpuuid_problem(dpuuid):
        raise bad_request("invalid_field", "dpuuid is not a valid partner id", "dpuuid")
    declared = DeclaredId(int(dpid), dpuuid)
    uuid = links.read([declared], now).get(declared.key, LinkRecord()).most_recent()
    if uuid is None:
        raise not_found(f"profile for dpid {dpid}")
    return uuid


def authenticated_key(dpid: str | None, dpuuid: str | None) -> str:
    """The profile table key of the authenticated profile of (dpid, dpuuid), checked."""
    if not dpid or not is_ascii_digits(dpid) or len(dpid) > 10:
        raise bad_request("invalid_field", "dpid must be a data source id", "dpid")
    if not dpuuid or dpuuid_problem(dpuuid):
        raise bad_request("invalid_field", "dpuuid is not a valid partner id", "dpuuid")
    return auth_profile_key(int(dpid), dpuuid)


def export_authenticated(profiles: ProfileStore, dpid: str | None,
                         dpuuid: str | None) -> dict[str, Any]:
    """The authenticated (cross-device) profile of a declared id (identity.md 3)."""
    item = profiles.raw_item(authenticated_key(dpid, dpuuid))
    if item is None:
        raise not_found(f"authenticated profile for dpid {dpid}")
    return profile_view(item)


def delete_authenticated(profiles: ProfileStore, dpid: str | None, dpuuid: str | None) -> None:
    """Remove the authenticated profile of a declared id; its device profiles and id links
    stay (delete those by UUID). An opt-out marker is never removed here."""
    key = authenticated_key(dpid, dpuuid)
    item = profiles.raw_item(key)
    if item is None:
        raise not_found(f"authenticated profile for dpid {dpid}")
    if "optout" not in item:
        profiles.delete(key)


def export_profile(profiles: ProfileStore, uuid: str) -> dict[str, Any]:
    item = profiles.raw_item(checked_uuid(uuid))
    if item is None:
        raise not_found(f"profile {uuid}")
    return profile_view(item)


def delete_profile(profiles: ProfileStore, links: LinkStore, uuid: str) -> None:
    """Remove the profile and the ID links that point to it; an opt-out marker stays."""
    item = profiles.raw_item(checked_uuid(uuid))
    if item is None:
        raise not_found(f"profile {uuid}")
    if "optout" in item:
        return  # the profile data is already gone; the opt-out itself is never removed here
    # Every DPUUID the profile remembers per data source (up to 10), not only the latest.
    links.delete_links_to(uuid, profile_from_item(item, time.time()).all_linked_ids())
    profiles.delete(uuid)
