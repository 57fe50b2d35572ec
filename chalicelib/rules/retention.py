"""What a profile must keep for the catalog's rules to read (docs/profile-storage.md).

A trait that no ``frequency`` expression names is read only through its latest realization
(is it live?), so one stamp is enough. A trait inside ``frequency([...] <window>) <op> m``
needs its newest ``m + 1`` stamps (enough to tell "more than m"), except under an ``>= nD``
window, which counts old realizations: those keep the spec's 100. A trait the catalog does
not know (yet, or no more) is left as it is: a container with an older catalog must not
trim a trait another container has just started to count.
"""

from __future__ import annotations

from typing import Iterator

from chalicelib.rules.catalog import CompiledCatalog
from chalicelib.rules.segment_rules import Frequency, SAnd, SNode, SNot, SOr

MAX_STAMPS_PER_TRAIT = 100


def _frequencies(node: SNode) -> Iterator[Frequency]:
    if isinstance(node, Frequency):
        yield node
    elif isinstance(node, SNot):
        yield from _frequencies(node.operand)
    elif isinstance(node, (SAnd, SOr)):
        for operand in node.operands:
            yield from _frequencies(operand)


def stamps_needed(catalog: CompiledCatalog) -> dict[int, int]:
    """sid -> stamps the catalog's frequency expressions can read (only sids above 1)."""
    needed: dict[int, int] = {}
    for segment in catalog.segments:
        for node in _frequencies(segment.rule):
            if node.recency_op == ">=":
                need = MAX_STAMPS_PER_TRAIT
            else:
                need = min(MAX_STAMPS_PER_TRAIT, node.count + 1)
            for sid in node.sids:
                if need > needed.get(sid, 1):
                    needed[sid] = need
    return needed


class CatalogRetention:
    """The store's retention policy (``chalicelib.store.compaction.Retention``) for one
    catalog snapshot."""

    __slots__ = ("_catalog", "_needed")

    def __init__(self, catalog: CompiledCatalog) -> None:
        self._catalog = catalog
        self._needed = stamps_needed(catalog)

    def stamps_kept(self, sid: int) -> int:
        if sid not in self._catalog.traits:
            return MAX_STAMPS_PER_TRAIT
        return self._needed.get(sid, 1)

    def expired(self, sid: int, latest: float, now: float) -> bool:
        trait = self._catalog.traits.get(sid)
        return trait is not None and not trait.is_live(latest, now)


_CACHE: tuple[CompiledCatalog, CatalogRetention] | None = None


def retention_for(catalog: CompiledCatalog) -> CatalogRetention:
    """Built once per catalog snapshot (like the data-source lookup)."""
    global _CACHE
    cached = _CACHE
    if cached is None or cached[0] is not catalog:
        cached = (catalog, CatalogRetention(catalog))
        _CACHE = cached
    return cached[1]
