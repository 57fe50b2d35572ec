"""Parallel provider calls with a true wall-clock deadline, breaker, QPS cap, signing, stats.

HTTP client timeouts bound each socket operation, not the whole exchange, so a provider
that trickles bytes would never trip them. Three bounds hold here instead:

* connect + send + response headers are bounded together (``urllib3.Timeout(total=...)``);
* the body is streamed with ``read1``; before every read the socket timeout is set to the
  time left, and the clock is checked after it; the size is capped (64 KiB) as it arrives;
* the event waits on the futures for its remaining budget only, then abandons the rest.

So every worker thread ends within a few ms of its call's deadline, and with it the pooled
connection it holds: an abandoned call cannot hold a thread or a pool slot past its deadline
(DNS resolution is the one step no timeout covers). Threads and the HTTP connection pool live
for the container and are reused; the pool never blocks (``pool_block=False``): if every
pooled connection to a host is busy, an extra one is opened and dropped after use.

Each call is *settled* exactly once, by whichever comes first: its worker (with the
provider's result) or ``collect`` at the event's deadline (a ``timeout``). Settling feeds the
stats and the breaker, so both are complete when ``collect`` returns.
"""

# Annotations are evaluated (no ``from __future__ import annotations``): typing.NamedTuple
# then skips compiling a ForwardRef per field at import, a cold-start cost (issue 17).

import threading
import time
from concurrent.futures import ALL_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Callable, NamedTuple, Sequence
from urllib.parse import urlsplit

from urllib3 import BaseHTTPResponse, PoolManager, Timeout
from urllib3 import exceptions as urllib3_exceptions

from chalicelib.dcs.numbers import is_ascii_digits
from chalicelib.providers.auth import auth_headers
from chalicelib.providers.breaker import BreakerBoard, Permit
from chalicelib.providers.definition import ProviderDef
from chalicelib.providers.extras import NO_EXTRAS, ProviderExtras
from chalicelib.providers.http_session import DEFAULT_HEADERS, is_blocked_address
from chalicelib.providers.messages import (
    MAX_BODY_BYTES,
    ContractError,
    ProviderAnswer,
    parse_answer,
)
from chalicelib.providers.qps import QpsLimiter
from chalicelib.providers.secrets import SecretResolver, SecretUnavailable
from chalicelib.providers.stats import StatsRegistry

Clock = Callable[[], float]
ExtrasFor = Callable[[ProviderDef], ProviderExtras]
_CHUNK = 16384
# Failures that say nothing about the provider (our configuration): not fed to the breaker.
_NOT_PROVIDER_FAULTS = frozenset({"secret", "auth_config"})


# NamedTuples and a slotted class rather than dataclasses: a dataclass costs 0.2-0.6 ms to
# create at import, paid on a cold Lambda start (bench/coldstart.py).
class CallPlan(NamedTuple):
    provider: ProviderDef
    body: bytes


class Outcome(NamedTuple):
    """What one provider contributed to one event."""

    pid: int
    name: str
    kind: str  # answered | empty | cached | timeout | error | skipped
    latency_ms: float = 0.0
    answer: ProviderAnswer | None = None
    detail: str = ""  # error kind, timeout cause or skip reason
    counted: bool = False  # already in the stats (StatsRegistry.record ignores it)


class _DeadlineExceeded(Exception):
    pass


class _Unsendable(Exception):
    """A URL or header urllib3 refuses to send (what requests called InvalidURL/InvalidHeader)."""


class ProviderCaller:
    """One deadline-bound POST to a provider, through the container's urllib3 pool
    (``http_session.make_pool``: keep-alive per host, no retries, the SSRF guard)."""

    def __init__(self, pool: PoolManager, clock: Clock = time.monotonic) -> None:
        self._pool = pool
        self._clock = clock

    def call(
        self, plan: CallPlan, deadline: float, extra_headers: dict[str, str] | None = None
    ) -> ProviderAnswer:
        remaining = deadline - self._clock()
        if remaining <= 0:
            raise _DeadlineExceeded()
        headers = {
            **DEFAULT_HEADERS,
            "Content-Type": "application/json",
            "X-Request-Deadline-Ms": str(int(remaining * 1000)),
        }
        if extra_headers:
            headers.update(extra_headers)
        try:
            response = self._pool.urlopen(
                "POST",
                plan.provider.url,
                body=plan.body,
                headers=headers,
                # total: connect + send + headers share one bound (the read timeout left
                # after connecting is what remains of it).
                timeout=Timeout(total=remaining),
                preload_content=False,
                redirect=False,
            )
        except urllib3_exceptions.NewConnectionError:
            raise  # refused, unresolvable or a blocked address (urllib3 files it as a timeout)
        except urllib3_exceptions.TimeoutError as exc:  # connect or response headers
            raise _DeadlineExceeded() from exc
        except ValueError as exc:  # a URL or header value that cannot be sent
            raise _Unsendable(type(exc).__name__) from exc
        try:
            body = self._read_body(response, deadline)
        finally:
            # As requests did: an unread body closes the connection; a body read to its end
            # has already given the connection back to the pool for the next call (keep-alive).
            response.close()
            response.release_conn()
        return parse_answer(response.status, body, plan.provider.segments_path)

    def _read_body(self, response: BaseHTTPResponse, deadline: float) -> bytes:
        if response.status not in (200, 204):
            return b""  # parse_answer rejects the status; the body is not needed
        declared = response.headers.get("Content-Length", "")
        if is_ascii_digits(declared) and int(declared) > MAX_BODY_BYTES:
            raise ContractError("body_too_large", f"Content-Length {declared}")
        chunks: list[bytes] = []
        size = 0
        sock = getattr(response.connection, "sock", None)
        try:
            while True:
                remaining = deadline - self._clock()
                if remaining <= 0:
                    raise _DeadlineExceeded()
                if sock is not None:
                    sock.settimeout(remaining)  # one read can never outlast the deadline
                # read1 returns what has arrived; read(n) / iter_content would block until n
                # bytes came in, so a provider trickling bytes could outlive the deadline.
                chunk = response.read1(_CHUNK, decode_content=True)
                if not chunk:
                    break
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise ContractError("body_too_large", f"over {MAX_BODY_BYTES} bytes")
                chunks.append(chunk)
        except (urllib3_exceptions.TimeoutError, TimeoutError) as exc:
            raise _DeadlineExceeded() from exc
        if self._clock() > deadline:
            raise _DeadlineExceeded()
        return b"".join(chunks)


class _Call:
    """One provider call of one event, settled exactly once (see the module docstring)."""

    def __init__(
        self,
        plan: CallPlan,
        extras: ProviderExtras,
        deadline: float,
        started: float,
        trial: bool,
        budget_bound: bool,
        on_settle: Callable[["_Call", Outcome], None],
    ) -> None:
        self.plan = plan
        self.budget_bound = budget_bound  # the event's budget ends it before its own timeout
        self.extras = extras
        self.deadline = deadline
        self.started = started
        self.trial = trial
        self._on_settle = on_settle
        self._lock = threading.Lock()
        self._settled: Outcome | None = None

    def settle(self, outcome: Outcome) -> Outcome:
        with self._lock:
            if self._settled is None:
                self._on_settle(self, outcome)
                self._settled = outcome._replace(counted=True)
            return self._settled


class PendingFanout:
    """Calls in flight for one event; ``collect`` returns by the deadline, whatever happens."""

    __slots__ = ("started", "deadline", "clock", "calls", "immediate")

    def __init__(
        self,
        started: float,
        deadline: float,
        clock: Clock,
        calls: dict[int, tuple[_Call, Future[Outcome]]] | None = None,
        immediate: list[Outcome] | None = None,
    ) -> None:
        self.started = started
        self.deadline = deadline
        self.clock = clock
        self.calls: dict[int, tuple[_Call, Future[Outcome]]] = {} if calls is None else calls
        self.immediate: list[Outcome] = [] if immediate is None else immediate

    def collect(self) -> list[Outcome]:
        # One wait for all the calls, bounded by the deadline: the event is woken once, when
        # the last call ends, not once per call (each wake-up installs waiters on every
        # future still pending and switches threads: CPU on every event, issue 17).
        if self.calls:
            remaining = self.deadline - self.clock()
            if remaining > 0:
                wait([future for _, future in self.calls.values()], timeout=remaining,
                     return_when=ALL_COMPLETED)
        outcomes = list(self.immediate)
        for pid, (call, future) in self.calls.items():
            if future.done() and not future.cancelled():
                outcomes.append(future.result())
                continue
            never_ran = future.cancel()
            elapsed = (self.clock() - self.started) * 1000
            cut = Outcome(pid, call.plan.provider.name, "timeout", elapsed, None,
                          "queued" if never_ran else "budget")
            outcomes.append(call.settle(cut))  # the worker's result if it settled first
        return sorted(outcomes, key=lambda o: o.pid)


class Fanout:
    def __init__(
        self,
        executor: ThreadPoolExecutor,
        caller: ProviderCaller,
        clock: Clock = time.monotonic,
        http_hosts: Sequence[str] = (),
        *,
        stats: StatsRegistry | None = None,
        breakers: BreakerBoard | None = None,
        limiter: QpsLimiter | None = None,
        extras: ExtrasFor | None = None,
        secrets: SecretResolver | None = None,
    ) -> None:
        self._executor = executor
        self._caller = caller
        self._clock = clock
        self._http_hosts = frozenset(http_hosts)
        self.breakers = breakers or BreakerBoard(clock=clock)
        self.stats = stats or StatsRegistry()
        self.stats.attach_breakers(self.breakers.snapshot)
        self._limiter = limiter or QpsLimiter(clock)
        self._extras: ExtrasFor = extras or (lambda provider: NO_EXTRAS)
        self._secrets = secrets or SecretResolver()

    def start(self, plans: Sequence[CallPlan], budget_ms: int) -> PendingFanout:
        # Looked up before the budget starts: a new catalog version prepares its secrets here.
        all_extras = [self._extras(plan.provider) for plan in plans]
        started = self._clock()
        pending = PendingFanout(started, started + budget_ms / 1000, self._clock)
        admitted: list[_Call] = []
        for plan, extras in zip(plans, all_extras, strict=True):
            provider = plan.provider
            refused = self._refusal(provider)
            if refused is not None:
                pending.immediate.append(refused)
                continue
            if extras.problem is not None:
                pending.immediate.append(self._immediate(provider, "error", "auth_config"))
                continue
            breaker = self.breakers.get(provider.pid)
            permit = breaker.acquire()
            if permit is Permit.DENY:
                pending.immediate.append(self._immediate(provider, "skipped", "breaker"))
                continue
            if not self._limiter.try_acquire(provider.pid, extras.max_qps):
                if permit is Permit.TRIAL:
                    breaker.release_trial()
                pending.immediate.append(self._immediate(provider, "skipped", "qps"))
                continue
            own_deadline = started + provider.timeout_ms / 1000
            deadline = min(own_deadline, pending.deadline)
            admitted.append(_Call(plan, extras, deadline, started, permit is Permit.TRIAL,
                                  pending.deadline < own_deadline, self._settled))
        # Slowest first: the calls share the GIL while they build and send their requests, so
        # the provider expected to answer last gets its request out first (unknown: first).
        admitted.sort(key=self._expected_ms, reverse=True)
        for call in admitted:
            pid = call.plan.provider.pid
            pending.calls[pid] = (call, self._executor.submit(self._run, call))
        return pending

    def _expected_ms(self, call: _Call) -> float:
        expected = self.stats.expected_latency_ms(call.plan.provider.pid)
        return float("inf") if expected is None else expected

    def _refusal(self, provider: ProviderDef) -> Outcome | None:
        parts = urlsplit(provider.url)
        if parts.scheme == "https" or (
            parts.scheme == "http" and (parts.hostname or "") in self._http_hosts
        ):
            return None
        return self._immediate(provider, "skipped", "insecure_url")

    def _immediate(self, provider: ProviderDef, kind: str, detail: str) -> Outcome:
        outcome = Outcome(provider.pid, provider.name, kind, 0.0, None, detail)
        self.stats.record_counted(outcome)
        return outcome._replace(counted=True)

    def _settled(self, call: _Call, outcome: Outcome) -> None:
        self.stats.record_counted(outcome)
        if outcome.kind in ("answered", "empty"):
            self.breakers.get(outcome.pid).record(True, call.trial)
        elif outcome.detail not in _NOT_PROVIDER_FAULTS:
            self.breakers.get(outcome.pid).record(False, call.trial)
        elif call.trial:
            self.breakers.get(outcome.pid).release_trial()

    def _run(self, call: _Call) -> Outcome:
        try:
            outcome = self._exchange(call)
        except Exception:  # noqa: BLE001 - a provider must never fail the event
            outcome = self._result(call, "error", detail="internal")
        return call.settle(outcome)

    def _exchange(self, call: _Call) -> Outcome:
        if self._clock() >= call.deadline:
            return self._result(call, "timeout", detail="queued")
        auth = call.extras.auth
        headers = None
        if auth is not None:
            try:
                secret = self._secrets.resolve(auth.secret_ref)
            except SecretUnavailable:
                return self._result(call, "error", detail="secret")
            headers = auth_headers(auth, secret, call.plan.body)
        try:
            answer = self._caller.call(call.plan, call.deadline, headers)
        except _DeadlineExceeded:
            return self._timeout(call)
        except ContractError as exc:
            return self._result(call, "error", detail=exc.kind)
        except _Unsendable:
            return self._result(call, "error", detail="request")
        except (urllib3_exceptions.HTTPError, OSError) as exc:  # connecting, sending, streaming
            return self._result(call, "error", detail=_request_error_kind(exc))
        if self._clock() > call.deadline:
            return self._timeout(call)
        kind = "answered" if answer.realize or answer.remove else "empty"
        return self._result(call, kind, answer=answer)

    def _timeout(self, call: _Call) -> Outcome:
        return self._result(call, "timeout", detail="budget" if call.budget_bound else "timeout")

    def _result(
        self,
        call: _Call,
        kind: str,
        answer: ProviderAnswer | None = None,
        detail: str = "",
    ) -> Outcome:
        provider = call.plan.provider
        latency = (self._clock() - call.started) * 1000
        return Outcome(provider.pid, provider.name, kind, latency, answer, detail)


def _request_error_kind(exc: BaseException) -> str:
    return "blocked_address" if is_blocked_address(exc) else "connection"
