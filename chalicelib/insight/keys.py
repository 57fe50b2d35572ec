"""What is counted, and its key in the insight table: ``k`` = ``<kind letter>#<id>``."""

from __future__ import annotations

from typing import Literal, NamedTuple

Kind = Literal["trait", "segment", "datasource"]
KINDS: tuple[Kind, ...] = ("trait", "segment", "datasource")
_LETTER: dict[str, str] = {"trait": "t", "segment": "s", "datasource": "d"}


class SketchKey(NamedTuple):
    kind: Kind
    id: int
    day: int

    @property
    def partition(self) -> str:
        return partition(self.kind, self.id)


def partition(kind: Kind, object_id: int) -> str:
    return f"{_LETTER[kind]}#{object_id}"
