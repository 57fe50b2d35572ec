"""Identity value types shared by the protocol layer and the stores (no dependencies).

A NamedTuple, not a dataclass: import cost on a cold start (chalicelib/core/records.py).
"""

from __future__ import annotations

from typing import NamedTuple


class DeclaredId(NamedTuple):
    """A (DPID, DPUUID) pair sent on a call, with its authState (0 unknown, 1 in, 2 out)."""

    dpid: int
    dpuuid: str
    auth_state: int = 0

    @property
    def key(self) -> tuple[int, str]:
        return (self.dpid, self.dpuuid)
