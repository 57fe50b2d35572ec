"""Provider request bodies and response parsing (provider-contract.md sections 2-4). Pure."""

from __future__ import annotations

import fnmatch
import functools
import json
import re
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import jmespath

from chalicelib.providers.definition import ProviderDef

MAX_BODY_BYTES = 64 * 1024


class ContractError(ValueError):
    """The provider's answer breaks the contract; ``kind`` names how (for stats)."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind


# Not a dataclass: import cost on a cold start (chalicelib/core/records.py).
class ProviderAnswer(NamedTuple):
    realize: tuple[str, ...]  # provider segment ids with Status 1
    remove: tuple[str, ...]  # ... with Status 0
    ttl_seconds: int | None


def forwarded_signals(
    patterns: Sequence[str], signals: Mapping[str, Sequence[str]]
) -> dict[str, list[str]]:
    """The signals a provider may see: those matching its patterns, never ``p_`` keys."""
    if not patterns:
        return {}
    matches = _patterns_matcher(tuple(patterns))
    return {
        key: list(values)
        for key, values in signals.items()
        if not key.startswith("p_") and matches(key) is not None
    }


@functools.lru_cache(maxsize=256)
def _patterns_matcher(patterns: tuple[str, ...]) -> Callable[[str], re.Match[str] | None]:
    """One regex for "any of the patterns" (fnmatchcase's own translation, alternated): was a
    fnmatchcase call per signal key and pattern, for every provider call of every event.
    Keyed on the patterns, so a new catalog's patterns get their own entry."""
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns)).match


def build_request_body(
    provider: ProviderDef,
    *,
    uuid: str,
    dpuuid: str | None,
    partner_id: str,
    region: int,
    tid: str,
    gdpr: int,
    gdpr_consent: str | None,
    signals: Mapping[str, Sequence[str]],
    gpp: str | None = None,
    gpp_sid: str = "",
) -> bytes:
    body: dict[str, Any] = {
        "AAM_UUID": uuid,
        "DataPartner_UUID": dpuuid,
        "User_DPID": provider.data_source_id,
        "Client_ID": partner_id,
        "AAM_Region": region,
        "tid": tid,
        "gdpr": gdpr,
        "signals": forwarded_signals(provider.signals, signals),
    }
    if gdpr == 1 and gdpr_consent:
        body["gdpr_consent"] = gdpr_consent
    if gpp:  # privacy-signals.md 5: only sent when sharing is allowed (the caller decides)
        body["GPP"] = gpp
        body["GPP_SID"] = gpp_sid
    return json.dumps(body, separators=(",", ":")).encode("utf-8")


def parse_answer(status: int, body: bytes, segments_path: str | None) -> ProviderAnswer:
    if status == 204:
        return ProviderAnswer((), (), None)
    if status != 200:
        raise ContractError("http_status", str(status))
    if len(body) > MAX_BODY_BYTES:
        raise ContractError("body_too_large", f"{len(body)} bytes")
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ContractError("invalid_json", str(exc)[:80]) from exc
    if segments_path:
        found = jmespath.search(segments_path, document)
        if found is None:
            return ProviderAnswer((), (), None)
        if not isinstance(found, list):
            found = [found]
        ids = tuple(str(v) for v in _flatten(found) if isinstance(v, (str, int)))
        return ProviderAnswer(ids, (), None)
    if not isinstance(document, dict) or not isinstance(document.get("Segments"), list):
        raise ContractError("wrong_shape", "expected an object with a Segments list")
    realize: list[str] = []
    remove: list[str] = []
    for entry in document["Segments"]:
        if not isinstance(entry, dict) or not _is_id(entry.get("Segment_ID")):
            raise ContractError("wrong_shape", "each segment needs a string Segment_ID")
        segment_id = str(entry["Segment_ID"])
        status = entry.get("Status", 1)
        if status in (0, "0") and not isinstance(status, bool):
            remove.append(segment_id)
        elif status in (1, "1") and not isinstance(status, bool):
            realize.append(segment_id)
        # any other Status is not in the contract: that entry is ignored
    ttl = document.get("ttl_seconds")
    ttl_seconds = (
        int(ttl) if isinstance(ttl, (int, float)) and not isinstance(ttl, bool) and ttl >= 0
        else None
    )
    return ProviderAnswer(tuple(realize), tuple(remove), ttl_seconds)


def _is_id(value: Any) -> bool:
    """Segment ids are strings; integers are accepted (and compared as strings)."""
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def _flatten(values: list[Any]) -> list[Any]:
    flat: list[Any] = []
    for value in values:
        flat.extend(_flatten(value) if isinstance(value, list) else [value])
    return flat
