"""Parallel provider calls with a true wall-clock deadline.

``requests`` timeouts bound each socket operation, not the whole exchange, so a provider
that trickles bytes would never trip them. Two bounds hold here instead:

* each call streams its body and checks the clock after every chunk (and caps the size);
* the event waits on the futures for the remaining budget only, then abandons the rest.

Threads and the HTTP connection pool live for the container and are reused; the pool is
larger than the executor so abandoned calls cannot starve the next event.
"""

from __future__ import annotations

import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Callable, Sequence
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3 import exceptions as urllib3_exceptions

from chalicelib.providers.messages import (
    MAX_BODY_BYTES,
    ContractError,
    ProviderAnswer,
    parse_answer,
)
from chalicelib.rules.catalog import ProviderDef

Clock = Callable[[], float]
_CHUNK = 4096


@dataclass(frozen=True)
class CallPlan:
    provider: ProviderDef
    body: bytes


@dataclass(frozen=True)
class Outcome:
    """What one provider contributed to one event."""

    pid: int
    name: str
    kind: str  # answered | empty | cached | timeout | error | skipped
    latency_ms: float = 0.0
    answer: ProviderAnswer | None = None
    detail: str = ""  # error kind or skip reason


class _DeadlineExceeded(Exception):
    pass


def make_session(pool_size: int = 64) -> requests.Session:
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=16, pool_maxsize=pool_size, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class ProviderCaller:
    """One deadline-bound POST to a provider."""

    def __init__(self, session: requests.Session, clock: Clock = time.monotonic) -> None:
        self._session = session
        self._clock = clock

    def call(self, plan: CallPlan, deadline: float) -> ProviderAnswer:
        remaining = deadline - self._clock()
        if remaining <= 0:
            raise _DeadlineExceeded()
        headers = {
            "Content-Type": "application/json",
            "X-Request-Deadline-Ms": str(int(remaining * 1000)),
        }
        try:
            response = self._session.post(
                plan.provider.url,
                data=plan.body,
                headers=headers,
                timeout=(remaining, remaining),
                stream=True,
                allow_redirects=False,
            )
        except requests.Timeout as exc:
            raise _DeadlineExceeded() from exc
        try:
            body = self._read_body(response, deadline)
        finally:
            response.close()
        return parse_answer(response.status_code, body, plan.provider.segments_path)

    def _read_body(self, response: requests.Response, deadline: float) -> bytes:
        chunks: list[bytes] = []
        size = 0
        raw = response.raw
        try:
            # read1 returns what has arrived; read(n) / iter_content would block until n bytes
            # came in, so a provider trickling bytes could outlive the deadline.
            while chunk := raw.read1(_CHUNK, decode_content=True):
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise ContractError("body_too_large", f"over {MAX_BODY_BYTES} bytes")
                chunks.append(chunk)
                if self._clock() >= deadline:
                    raise _DeadlineExceeded()
        except (requests.Timeout, urllib3_exceptions.TimeoutError) as exc:
            raise _DeadlineExceeded() from exc
        return b"".join(chunks)


@dataclass
class PendingFanout:
    """Calls in flight for one event; ``collect`` returns by the deadline, whatever happens."""

    started: float
    deadline: float
    clock: Clock
    futures: dict[int, Future[Outcome]] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)
    immediate: list[Outcome] = field(default_factory=list)

    def collect(self) -> list[Outcome]:
        pending = set(self.futures.values())
        while pending:
            remaining = self.deadline - self.clock()
            if remaining <= 0:
                break
            done, pending = wait(pending, timeout=remaining, return_when=FIRST_COMPLETED)
        outcomes = list(self.immediate)
        for pid, future in self.futures.items():
            if future.done():
                outcomes.append(future.result())
            else:
                future.cancel()
                elapsed = (self.clock() - self.started) * 1000
                outcomes.append(Outcome(pid, self.names[pid], "timeout", elapsed, None, "budget"))
        return sorted(outcomes, key=lambda o: o.pid)


class Fanout:
    def __init__(
        self,
        executor: ThreadPoolExecutor,
        caller: ProviderCaller,
        clock: Clock = time.monotonic,
        http_hosts: Sequence[str] = (),
    ) -> None:
        self._executor = executor
        self._caller = caller
        self._clock = clock
        self._http_hosts = frozenset(http_hosts)

    def start(self, plans: Sequence[CallPlan], budget_ms: int) -> PendingFanout:
        started = self._clock()
        pending = PendingFanout(started, started + budget_ms / 1000, self._clock)
        for plan in plans:
            provider = plan.provider
            if not self._url_allowed(provider.url):
                pending.immediate.append(
                    Outcome(provider.pid, provider.name, "skipped", 0.0, None, "insecure_url")
                )
                continue
            deadline = min(started + provider.timeout_ms / 1000, pending.deadline)
            pending.names[provider.pid] = provider.name
            pending.futures[provider.pid] = self._executor.submit(
                self._run, plan, deadline, started
            )
        return pending

    def _url_allowed(self, url: str) -> bool:
        parts = urlsplit(url)
        if parts.scheme == "https":
            return True
        return parts.scheme == "http" and (parts.hostname or "") in self._http_hosts

    def _run(self, plan: CallPlan, deadline: float, started: float) -> Outcome:
        provider = plan.provider
        try:
            answer = self._caller.call(plan, deadline)
        except _DeadlineExceeded:
            return self._outcome(provider, "timeout", started, detail="timeout")
        except ContractError as exc:
            return self._outcome(provider, "error", started, detail=exc.kind)
        except requests.RequestException as exc:
            return self._outcome(provider, "error", started, detail=_request_error_kind(exc))
        except urllib3_exceptions.HTTPError:  # raised while streaming the body
            return self._outcome(provider, "error", started, detail="connection")
        except Exception:  # noqa: BLE001 - a provider must never fail the event
            return self._outcome(provider, "error", started, detail="internal")
        if self._clock() > deadline:
            return self._outcome(provider, "timeout", started, detail="timeout")
        kind = "answered" if answer.realize or answer.remove else "empty"
        return self._outcome(provider, kind, started, answer=answer)

    def _outcome(
        self,
        provider: ProviderDef,
        kind: str,
        started: float,
        answer: ProviderAnswer | None = None,
        detail: str = "",
    ) -> Outcome:
        latency = (self._clock() - started) * 1000
        return Outcome(provider.pid, provider.name, kind, latency, answer, detail)


def _request_error_kind(exc: requests.RequestException) -> str:
    if isinstance(exc, requests.ConnectionError):
        return "connection"
    return "request"
