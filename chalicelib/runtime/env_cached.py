"""A value built once per container from the environment, e.g. a queue handler's clients.

It is rebuilt when the part of the environment it was built from (its key) changes: tests
switch tables and endpoints between runs, Lambda never does. Tests may ``install`` their own
value instead.
"""

from __future__ import annotations

import threading
from typing import Callable, Generic, Hashable, TypeVar

T = TypeVar("T")


class EnvCached(Generic[T]):
    def __init__(self, build: Callable[[], T], key: Callable[[], Hashable]) -> None:
        self._build = build
        self._key = key
        self._lock = threading.Lock()
        self._installed: T | None = None
        self._built: tuple[Hashable, T] | None = None

    def get(self) -> T:
        if self._installed is not None:
            return self._installed
        key = self._key()
        with self._lock:
            if self._built is None or self._built[0] != key:
                self._built = (key, self._build())
            return self._built[1]

    def install(self, value: T | None) -> None:
        """Serve this value (tests), or None to build from the environment again."""
        with self._lock:
            self._installed = value
            self._built = None
