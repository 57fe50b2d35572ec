"""The capture store of this container's settings (built when capture is on)."""

from __future__ import annotations

from chalicelib.config import DebugSettings
from chalicelib.debug.store import CaptureStore
from chalicelib.store.dynamo import table


def capture_store() -> CaptureStore:
    return CaptureStore(table(DebugSettings.from_env().capture_table))
