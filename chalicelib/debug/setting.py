"""The capture setting: who is captured, until when (pure; no I/O)."""

from __future__ import annotations

import zlib
from typing import Any, Mapping, NamedTuple

from chalicelib.dcs.ids import is_valid_uuid

MAX_MINUTES = 60
MAX_SAMPLE = 0.01  # 1 %
DEFAULT_MINUTES = 15


class SettingError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class CaptureSetting(NamedTuple):
    uuid: str | None  # one visitor, or None with a sampling rate
    sample: float  # 0..MAX_SAMPLE, of UUIDs (a sampled visitor's every event is captured)
    until: float  # epoch seconds; the setting switches itself off then
    started: float

    def body(self) -> dict[str, Any]:
        return {"uuid": self.uuid, "sample": self.sample, "until": self.until,
                "started": self.started}

    def active(self, now: float) -> bool:
        return now < self.until

    def wants(self, uuid: str | None, now: float) -> bool:
        """Whether the event of ``uuid`` is captured at ``now``."""
        if not uuid or now >= self.until:
            return False
        if self.uuid is not None:
            return uuid == self.uuid
        return _bucket(uuid) < round(self.sample * 10_000)


def _bucket(uuid: str) -> int:
    return zlib.crc32(uuid.encode("utf-8")) % 10_000


def from_body(body: Mapping[str, Any] | None) -> CaptureSetting | None:
    """The stored setting (``raw["debug"][0]``), or None if there is none or it is malformed."""
    if not body:
        return None
    try:
        uuid = body.get("uuid")
        return CaptureSetting(
            uuid=str(uuid) if uuid else None,
            sample=float(body.get("sample") or 0.0),
            until=float(body["until"]),
            started=float(body.get("started") or 0.0),
        )
    except (KeyError, TypeError, ValueError):
        return None


def from_request(body: Mapping[str, Any], now: float) -> CaptureSetting | None:
    """``{"enabled": false}`` turns capture off (None); ``{"uuid": ...}`` or
    ``{"sample": 0.005}`` with ``"minutes"`` (1-60, default 15) turns it on."""
    enabled = body.get("enabled", True)
    if not isinstance(enabled, bool):
        raise SettingError("enabled", "enabled must be true or false")
    if not enabled:
        return None
    uuid = body.get("uuid")
    sample = body.get("sample")
    if (uuid in (None, "")) == (sample is None):
        raise SettingError("uuid", "give either uuid or sample")
    if uuid not in (None, ""):
        if not isinstance(uuid, str) or not is_valid_uuid(uuid):
            raise SettingError("uuid", "uuid must be a visitor UUID (38 digits)")
    if sample is not None:
        if isinstance(sample, bool) or not isinstance(sample, (int, float)) or not (
                0 < sample <= MAX_SAMPLE):
            raise SettingError("sample", f"sample must be above 0 and at most {MAX_SAMPLE} (1 %)")
    minutes = body.get("minutes", DEFAULT_MINUTES)
    if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or not (
            0 < minutes <= MAX_MINUTES):
        raise SettingError("minutes", f"minutes must be above 0 and at most {MAX_MINUTES}")
    return CaptureSetting(
        uuid=uuid if uuid not in (None, "") else None,
        sample=float(sample or 0.0),
        until=now + float(minutes) * 60,
        started=now,
    )


def describe(setting: CaptureSetting | None, now: float) -> dict[str, Any]:
    """The API's view: ``{"enabled": false}`` or the setting with the seconds left."""
    if setting is None or not setting.active(now):
        return {"enabled": False}
    return {"enabled": True, **setting.body(), "secondsLeft": int(setting.until - now)}
