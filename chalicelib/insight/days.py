"""UTC days and report windows (docs/insight.md, "Windows").

A day is the number of whole days since the epoch (UTC), the insight table's sort key. A
window of N days is today so far plus the N - 1 days before it; ``today`` is window 1.
"""

from __future__ import annotations

import time

SECONDS_PER_DAY = 86400
MAX_WINDOW_DAYS = 90
# Sketches are kept 100 days (the spec's TTL): the longest window plus some slack.
RETENTION_DAYS = 100


def utc_day(epoch_s: float) -> int:
    return int(epoch_s // SECONDS_PER_DAY)


def iso_day(day: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(day * SECONDS_PER_DAY))


def window_days(today: int, window: int) -> range:
    """The days of a window ending today, oldest first."""
    return range(today - window + 1, today + 1)


def expires_at(day: int) -> int:
    """The TTL of a day's sketch: 100 days after the day ends."""
    return (day + 1 + RETENTION_DAYS) * SECONDS_PER_DAY


def iso_time(epoch_s: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch_s))
