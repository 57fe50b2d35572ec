"""Secrets named by ``secretRef``: environment variables or SSM parameters, cached per container.

References:

* ``env:NAME`` (or a bare ``NAME`` of upper-case letters, digits and ``_``): environment
  variable ``NAME``, read at every call (cheap; tests change it).
* ``ssm:/path`` or ``ssm:name`` (or a bare ``/path``): SSM parameter, decrypted, through the
  injected client factory (created on first use, so no AWS client exists before a provider
  needs one). A value is reused for ``ttl_seconds``; past that it is fetched again -- in the
  background when a ``background`` runner is given, the old value serving meanwhile -- and
  if that fetch fails the old value keeps serving (retried every ``retry_seconds``). A parameter
  that cannot be read at all is remembered as missing for ``retry_seconds``, so a broken
  reference costs SSM one request per ``retry_seconds``, not one per event.

A secret value is never logged and never put in an exception message.
"""

from __future__ import annotations

import functools
import re
import threading
import time
from typing import Any, Callable, Iterable, Mapping, NamedTuple

from chalicelib.config import environment

Clock = Callable[[], float]
_ENV_NAME_PATTERN = r"^[A-Z_][A-Z0-9_]*$"  # compiled on first use (cold start, issue 17)
_compiled = functools.cache(re.compile)


class SecretUnavailable(RuntimeError):
    """The reference cannot be resolved now. Names the reference, never a value."""


# Not a dataclass: import cost on a cold start (chalicelib/core/records.py).
class _Entry(NamedTuple):
    value: str | None  # None: the last fetch failed and nothing was ever read
    fetched_at: float
    retry_at: float


def parse_ref(ref: str) -> tuple[str, str]:
    """``(source, name)`` with source ``env`` or ``ssm``; ValueError for anything else."""
    ref = ref.strip()
    if ref.startswith("env:"):
        name = ref[4:]
        if not name:
            raise ValueError("empty env: reference")
        return "env", name
    if ref.startswith("ssm:"):
        name = ref[4:]
        if not name:
            raise ValueError("empty ssm: reference")
        return "ssm", name
    if ref.startswith("/"):
        return "ssm", ref
    if _compiled(_ENV_NAME_PATTERN).match(ref):
        return "env", ref
    raise ValueError("secretRef must be env:NAME or ssm:/path")


class SecretResolver:
    def __init__(
        self,
        ssm_client: Callable[[], Any] | None = None,
        env: Mapping[str, str] | None = None,
        clock: Clock = time.monotonic,
        ttl_seconds: float = 300.0,
        retry_seconds: float = 10.0,
        background: Callable[[Callable[[], None]], object] | None = None,
    ) -> None:
        self._ssm_factory = ssm_client
        self._ssm: Any = None
        self._env = env
        self._clock = clock
        self._ttl = ttl_seconds
        self._retry = retry_seconds
        # Runs a refresh off the caller's thread (e.g. executor.submit); None: inline.
        self._background = background
        self._lock = threading.Lock()
        self._fetch_locks: dict[str, threading.Lock] = {}
        self._refreshing: set[str] = set()
        self._cache: dict[str, _Entry] = {}

    def resolve(self, ref: str) -> str:
        try:
            source, name = parse_ref(ref)
        except ValueError as exc:
            raise SecretUnavailable(f"secretRef {ref!r}: {exc}") from None
        if source == "env":
            env = environment() if self._env is None else self._env
            value = env.get(name)
            if not value:
                raise SecretUnavailable(f"secretRef {ref!r}: environment variable not set")
            return value
        cached = self._from_cache(ref, name)
        if cached is not None:
            return cached
        return self._fetch_and_store(ref, name)

    def prepare(self, refs: Iterable[str]) -> None:
        """Get ready for these references (a new catalog version names them).

        The SSM client is created here, in the caller's thread: creating it is CPU-heavy
        (service model loading) and would otherwise compete with an event's provider calls.
        The values are then fetched in the background (inline without ``background``).
        """
        names = {}
        for ref in refs:
            try:
                source, name = parse_ref(ref)
            except ValueError:
                continue
            if source == "ssm" and ref not in self._cache:
                names[ref] = name
        if not names:
            return
        try:
            self._client()
        except Exception:  # noqa: BLE001 - resolve() reports it per call
            return
        for ref, name in names.items():
            self._run(functools.partial(self._quietly, ref, name))

    def _from_cache(self, ref: str, name: str) -> str | None:
        """The value to serve without waiting for SSM, or None when a fetch is due."""
        entry = self._cache.get(ref)
        if entry is None:
            return None
        now = self._clock()
        if entry.value is not None and now - entry.fetched_at < self._ttl:
            return entry.value
        if now < entry.retry_at:  # the last fetch failed recently: do not hammer SSM
            return _value_or_raise(ref, entry)
        if entry.value is not None and self._background is not None:
            self._refresh_later(ref, name)  # serve the old value while it is refreshed
            return entry.value
        return None

    def _refresh_later(self, ref: str, name: str) -> None:
        with self._lock:
            if ref in self._refreshing:
                return
            self._refreshing.add(ref)

        def job() -> None:
            try:
                self._quietly(ref, name, force=True)
            finally:
                with self._lock:
                    self._refreshing.discard(ref)

        self._run(job)

    def _quietly(self, ref: str, name: str, force: bool = False) -> None:
        try:
            self._fetch_and_store(ref, name, force)
        except SecretUnavailable:
            pass  # recorded in the cache; the calls that need it report it

    def _fetch_and_store(self, ref: str, name: str, force: bool = False) -> str:
        with self._lock:
            fetch_lock = self._fetch_locks.setdefault(ref, threading.Lock())
        with fetch_lock:  # one fetch per reference at a time; the others wait for it
            entry = self._cache.get(ref)
            now = self._clock()
            if entry is not None and not force:
                if entry.value is not None and now - entry.fetched_at < self._ttl:
                    return entry.value  # fetched while this caller waited for the lock
                if now < entry.retry_at:
                    return _value_or_raise(ref, entry)
            value: str | None
            try:
                value = self._fetch(name)
            except Exception:  # noqa: BLE001 - any SSM failure: keep the old value if any
                value = None
            if value is None:
                # Raised outside the except block: no exception chain to end up in a log.
                old = entry.value if entry is not None else None
                fetched_at = entry.fetched_at if entry is not None else now
                failed = _Entry(old, fetched_at, now + self._retry)
                self._cache[ref] = failed
                return _value_or_raise(ref, failed)
            self._cache[ref] = _Entry(value, now, now)
            return value

    def _run(self, job: Callable[[], None]) -> None:
        if self._background is None:
            job()
            return
        try:
            self._background(job)
        except RuntimeError:  # executor shut down: do it here
            job()

    def _client(self) -> Any:
        if self._ssm is None:
            if self._ssm_factory is None:
                raise SecretUnavailable("no SSM client configured")
            with self._lock:
                if self._ssm is None:
                    self._ssm = self._ssm_factory()
        return self._ssm

    def _fetch(self, name: str) -> str:
        response = self._client().get_parameter(Name=name, WithDecryption=True)
        value = response["Parameter"]["Value"]
        if not isinstance(value, str) or not value:
            raise SecretUnavailable("empty parameter")
        return value


def _value_or_raise(ref: str, entry: _Entry) -> str:
    if entry.value is None:
        raise SecretUnavailable(f"secretRef {ref!r}: SSM parameter unavailable")
    return entry.value
