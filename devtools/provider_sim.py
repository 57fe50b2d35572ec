"""Real-time provider simulator: answers rtdcs provider calls (provider-contract.md 2-3).

    python -m devtools.provider_sim --port 8081

``POST /providers/<name>`` takes the provider request JSON and answers according to that
provider's *behaviour*::

    {"latency_ms": 40, "jitter_ms": 20,          # sleep latency +- jitter before answering
     "mode": "ok",                                # see the modes below
     "segments": ["auto-intender"],               # Segment_IDs answered with Status 1
     "when_signal": {"sports-fan": ["c_section", "sports"]},  # added if signals[key] has value
     "removed": [],                               # Segment_IDs answered with Status 0
     "ttl_seconds": 600,                          # copied into the answer (null: left out)
     "status": 500,                               # the status of mode "error" (5xx)
     "verify": null}                              # or {"type": "hmac", "secret": "s",
                                                  #  "header": "X-Signature"} | {"type":
                                                  #  "bearer", "secret": "s"}: 401 unless
                                                  #  the request is signed with it

Modes (every fault a real provider shows):

* ``ok``: 200 native answer after ``latency_ms``;
* ``slow``: the same answer, but late: after ``latency_ms``, or 1000 ms when that is 0;
* ``error``: ``status`` (default 500) with a small JSON error body;
* ``hang``: never answers (waits until the client disconnects, at most 30 s, then closes);
* ``trickle``: sends the headers, then one body byte every 100 ms (a slow-loris provider
  that a per-socket read timeout does not catch), 30 s at most;
* ``refuse``: resets the connection (RST) as soon as the request arrived, no answer at all;
* ``invalid_json``: 200 with a broken body;
* ``wrong_shape``: 200 with valid JSON that is not the contract's shape;
* ``huge``: 200 with a 10 MB body (streamed; stops when the client goes away).

``verify`` checks the request's signature (HMAC-SHA256 of the raw body, base64, in
``header``) or bearer token before anything else, like a real provider would; the recorded
request carries ``"verified": true/false`` (null without ``verify``).

Control API (tests): ``GET /_config`` all behaviours; ``PUT /_config/<name>`` replaces one
(unknown names are created; missing fields take neutral values); ``GET /_calls`` calls per
provider; ``GET /_requests`` the last requests received per provider (body + selected
headers); ``POST /_reset`` default behaviours and zero counts; ``GET /_health``.

In-process use: ``ProviderSimulator(port=0).start()`` ... ``.stop()`` (``.port``, ``.url``).
"""

from __future__ import annotations

import argparse
import base64
import copy
import hashlib
import hmac
import json
import random
import select
import signal
import socket
import struct
import sys
import threading
import time
import urllib.request
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOST = "127.0.0.1"
MODES = ("ok", "slow", "error", "hang", "trickle", "refuse", "invalid_json", "wrong_shape", "huge")
SLOW_DEFAULT_MS = 1000
HUGE_BYTES = 10 * 1024 * 1024
MAX_HANG_S = 30.0
_POLL_S = 0.05
_MAX_BODY = 1 << 20
_KEEP_REQUESTS = 50
_RECORDED_HEADERS = ("Content-Type", "X-Request-Deadline-Ms", "X-Signature", "Authorization")

DEFAULT_BEHAVIOURS: dict[str, dict[str, Any]] = {
    "fast": {
        "latency_ms": 40,
        "jitter_ms": 20,
        "mode": "ok",
        "segments": ["auto-intender"],
        "when_signal": {"sports-fan": ["c_section", "sports"]},
    },
    "slow": {"latency_ms": 90, "jitter_ms": 30, "mode": "ok", "segments": ["luxury"]},
}

_NEUTRAL: dict[str, Any] = {
    "latency_ms": 0,
    "jitter_ms": 0,
    "mode": "ok",
    "segments": [],
    "when_signal": {},
    "removed": [],
    "ttl_seconds": 600,
    "status": 500,
    "verify": None,
}


class BehaviourError(ValueError):
    """A behaviour sent to ``PUT /_config/<name>`` is malformed."""


def normalize_behaviour(raw: Any) -> dict[str, Any]:
    """Validate a behaviour and fill missing fields with neutral values."""
    if not isinstance(raw, dict):
        raise BehaviourError("behaviour must be a JSON object")
    unknown = sorted(set(raw) - set(_NEUTRAL))
    if unknown:
        raise BehaviourError(f"unknown fields: {', '.join(unknown)}")
    out = copy.deepcopy(_NEUTRAL)
    out.update(copy.deepcopy(raw))
    for key in ("latency_ms", "jitter_ms"):
        if not isinstance(out[key], int) or isinstance(out[key], bool) or out[key] < 0:
            raise BehaviourError(f"{key} must be a non-negative integer")
    if out["mode"] not in MODES:
        raise BehaviourError(f"mode must be one of {', '.join(MODES)}")
    for key in ("segments", "removed"):
        if not isinstance(out[key], list):
            raise BehaviourError(f"{key} must be a list")
        out[key] = [str(s) for s in out[key]]
    when = out["when_signal"]
    if not isinstance(when, dict) or not all(
        isinstance(cond, list) and len(cond) == 2 and all(isinstance(c, str) for c in cond)
        for cond in when.values()
    ):
        raise BehaviourError("when_signal must map segment ids to [key, value]")
    ttl = out["ttl_seconds"]
    if ttl is not None and (not isinstance(ttl, int) or isinstance(ttl, bool) or ttl < 0):
        raise BehaviourError("ttl_seconds must be a non-negative integer or null")
    status = out["status"]
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise BehaviourError("status must be an HTTP status code")
    verify = out["verify"]
    if verify is not None and not (
        isinstance(verify, dict)
        and verify.get("type") in ("hmac", "bearer")
        and isinstance(verify.get("secret"), str)
        and isinstance(verify.get("header", "X-Signature"), str)
        and set(verify) <= {"type", "secret", "header"}
    ):
        raise BehaviourError('verify must be null or {"type": "hmac"|"bearer", "secret": str}')
    return out


def request_verified(verify: dict[str, Any] | None, raw: bytes, headers: Any) -> bool | None:
    """Whether the request carries the signature / token ``verify`` asks for (None: no check)."""
    if verify is None:
        return None
    secret = verify["secret"].encode("utf-8")
    if verify["type"] == "bearer":
        expected = b"Bearer " + secret
        got = (headers.get("Authorization") or "").encode("utf-8")
        return hmac.compare_digest(expected, got)
    mac = base64.b64encode(hmac.new(secret, raw, hashlib.sha256).digest())
    got = (headers.get(verify.get("header", "X-Signature")) or "").strip().encode("utf-8")
    return hmac.compare_digest(mac, got)


def answer_segments(behaviour: dict[str, Any], request: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``Segments`` list a provider with ``behaviour`` gives for ``request``."""
    raw_signals = request.get("signals")
    signals: dict[str, Any] = raw_signals if isinstance(raw_signals, dict) else {}
    ids = list(behaviour["segments"])
    for segment_id, (key, value) in behaviour["when_signal"].items():
        values = signals.get(key)
        if isinstance(values, str):
            values = [values]
        if isinstance(values, list) and value in values and segment_id not in ids:
            ids.append(segment_id)
    out = [{"Segment_ID": str(s), "Status": 1} for s in ids]
    out += [{"Segment_ID": str(s), "Status": 0} for s in behaviour["removed"] if s not in ids]
    return out


class _State:
    """Behaviours, call counts and recent requests, shared by the handler threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.behaviours: dict[str, dict[str, Any]] = {}
        self.calls: dict[str, int] = {}
        self.requests: dict[str, deque[dict[str, Any]]] = {}
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.behaviours = {
                name: normalize_behaviour(b) for name, b in DEFAULT_BEHAVIOURS.items()
            }
            self.calls = {name: 0 for name in self.behaviours}
            self.requests = {}

    def record(
        self, name: str, body: Any, headers: dict[str, str], raw: bytes, all_headers: Any
    ) -> tuple[dict[str, Any] | None, bool | None]:
        with self.lock:
            self.calls[name] = self.calls.get(name, 0) + 1
            behaviour = self.behaviours.get(name)
            behaviour = copy.deepcopy(behaviour) if behaviour is not None else None
            verified = (
                request_verified(behaviour["verify"], raw, all_headers) if behaviour else None
            )
            log = self.requests.setdefault(name, deque(maxlen=_KEEP_REQUESTS))
            log.append({"body": body, "headers": headers, "at": time.time(), "verified": verified})
            return behaviour, verified


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive, like a real provider endpoint
    timeout = 60  # idle keep-alive connections end eventually
    server_version = "rtdcs-provider-sim/1"

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without TCP_NODELAY, Nagle's algorithm holds
        # the body until the client's delayed ACK (~40 ms) on a reused connection.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    # ---- routing -------------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        state = self.server.state
        path = self.path.split("?", 1)[0]
        if path == "/_config":
            with state.lock:
                self._json(200, state.behaviours)
        elif path == "/_calls":
            with state.lock:
                self._json(200, state.calls)
        elif path == "/_requests":
            with state.lock:
                self._json(200, {name: list(log) for name, log in state.requests.items()})
        elif path in ("/_health", "/"):
            self._json(200, {"status": "ok"})
        else:
            self._json(404, {"error": f"no route {path}"})

    def do_PUT(self) -> None:  # noqa: N802
        path = self.path.split("?", 1)[0]
        name = path[len("/_config/") :] if path.startswith("/_config/") else ""
        if not name or "/" in name:
            self._json(404, {"error": f"no route {path}"})
            return
        try:
            behaviour = normalize_behaviour(json.loads(self._read_body() or b"null"))
        except (ValueError, UnicodeDecodeError) as exc:
            self._json(400, {"error": str(exc)})
            return
        state = self.server.state
        with state.lock:
            state.behaviours[name] = behaviour
            state.calls.setdefault(name, 0)
        self._json(200, behaviour)

    def do_POST(self) -> None:  # noqa: N802
        path = self.path.split("?", 1)[0]
        if path == "/_reset":
            self._read_body()
            self.server.state.reset()
            self._json(200, {"status": "reset"})
        elif path.startswith("/providers/") and path.count("/") == 2:
            self._provider_call(path[len("/providers/") :])
        else:
            self._read_body()
            self._json(404, {"error": f"no route {path}"})

    # ---- provider behaviour --------------------------------------------------------------

    def _provider_call(self, name: str) -> None:
        raw = self._read_body()
        try:
            request = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            request = None
        headers = {h: v for h in _RECORDED_HEADERS if (v := self.headers.get(h)) is not None}
        behaviour, verified = self.server.state.record(name, request, headers, raw, self.headers)
        if behaviour is None:
            self._json(404, {"error": f"unknown provider {name}"})
            return
        if verified is False:
            self._json(401, {"error": "bad signature"})
            return
        if not isinstance(request, dict):
            self._json(400, {"error": "request body is not a JSON object"})
            return
        mode = behaviour["mode"]
        if mode == "hang":
            self._hang()
            return
        if mode == "refuse":
            self._reset_connection()
            return
        latency = behaviour["latency_ms"]
        if mode == "slow" and latency == 0:
            latency = SLOW_DEFAULT_MS
        delay = latency + random.uniform(-behaviour["jitter_ms"], behaviour["jitter_ms"])
        if self.server.state.stopping.wait(max(0.0, delay) / 1000.0):
            self.close_connection = True
            return
        if mode == "error":
            self._json(behaviour["status"], {"error": "simulated provider failure"})
        elif mode == "invalid_json":
            self._send(200, b'{"Segments": [{"Segment_ID": "1", "Stat', "application/json")
        elif mode == "wrong_shape":
            self._json(200, {"segments": {"id": "auto-intender"}, "status": "ok"})
        elif mode == "huge":
            self._huge()
        else:
            answer: dict[str, Any] = {"Segments": answer_segments(behaviour, request)}
            if behaviour["ttl_seconds"] is not None:
                answer["ttl_seconds"] = behaviour["ttl_seconds"]
            if mode == "trickle":
                self._trickle(json.dumps(answer).encode())
            else:
                self._json(200, answer)

    def _hang(self) -> None:
        """Answer nothing until the client goes away (or 30 s), then close."""
        self.close_connection = True
        deadline = time.monotonic() + MAX_HANG_S
        while time.monotonic() < deadline and not self.server.state.stopping.is_set():
            if self._client_gone(_POLL_S):
                return

    def _trickle(self, body: bytes) -> None:
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        deadline = time.monotonic() + MAX_HANG_S
        try:
            for i in range(len(body)):
                if time.monotonic() > deadline or self.server.state.stopping.wait(0.1):
                    return
                self.wfile.write(body[i : i + 1])
                self.wfile.flush()
        except OSError:
            return  # the client gave up

    def _reset_connection(self) -> None:
        """Drop the connection with a TCP RST: the client sees "connection reset"."""
        self.close_connection = True
        try:
            self.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
            self.connection.close()
        except OSError:
            pass

    def _huge(self) -> None:
        """A 10 MB JSON-looking body, streamed; ends early when the client hangs up."""
        self.close_connection = True
        head = b'{"Segments": [], "padding": "'
        tail = b'"}'
        filler = HUGE_BYTES - len(head) - len(tail)
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(HUGE_BYTES))
            self.end_headers()
            self.wfile.write(head)
            block = b"x" * 65536
            while filler > 0 and not self.server.state.stopping.is_set():
                self.wfile.write(block[: min(filler, len(block))])
                filler -= len(block)
            self.wfile.write(tail)
        except OSError:
            return  # the client stopped reading, as it should

    def _client_gone(self, wait_s: float) -> bool:
        try:
            readable, _, _ = select.select([self.connection], [], [], wait_s)
            if not readable:
                return False
            return bool(self.connection.recv(1, socket.MSG_PEEK) == b"")
        except OSError:
            return True

    # ---- plumbing ------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_BODY:
            raise ValueError("request body too large")
        return self.rfile.read(length) if length > 0 else b""

    def _json(self, status: int, payload: Any) -> None:
        self._send(status, json.dumps(payload, default=list).encode(), "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            self.close_connection = True  # the client gave up first

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        if self.server.verbose:
            sys.stderr.write(
                "%s [%s] %s\n" % (self.address_string(), self.log_date_time_string(), format % args)
            )


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a hanging call never blocks shutdown
    allow_reuse_address = True

    def __init__(self, port: int, state: _State, verbose: bool) -> None:
        self.state = state
        self.verbose = verbose
        super().__init__((HOST, port), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up (rtdcs abandoning a call at its deadline) is routine here.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class ProviderSimulator:
    """The simulator in a background thread of this process (tests)."""

    def __init__(self, port: int = 0, verbose: bool = False) -> None:
        self._requested_port = port
        self._verbose = verbose
        self.state = _State()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("simulator not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> "ProviderSimulator":
        if self._server is not None:
            return self
        self.state.stopping.clear()
        self._server = _Server(self._requested_port, self.state, self._verbose)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"provider-sim-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self.state.stopping.set()  # wakes sleeping, hanging and trickling handlers
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "ProviderSimulator":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # Direct control, same effect as the HTTP control API.
    def configure(self, name: str, behaviour: dict[str, Any]) -> dict[str, Any]:
        normalized = normalize_behaviour(behaviour)
        with self.state.lock:
            self.state.behaviours[name] = normalized
            self.state.calls.setdefault(name, 0)
        return normalized

    def calls(self) -> dict[str, int]:
        with self.state.lock:
            return dict(self.state.calls)

    def reset(self) -> None:
        self.state.reset()


class SimulatorClient:
    """A small client for the control API of a running simulator (stdlib only)."""

    def __init__(self, base_url: str, timeout_s: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout_s = timeout_s
        # Loopback only: never route through a proxy from the environment.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def _call(self, method: str, path: str, payload: Any = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        req = urllib.request.Request(self.base_url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with self._opener.open(req, timeout=self._timeout_s) as resp:
            return json.loads(resp.read() or b"null")

    def provider_url(self, name: str) -> str:
        return f"{self.base_url}/providers/{name}"

    def config(self) -> dict[str, dict[str, Any]]:
        return dict(self._call("GET", "/_config"))

    def set(
        self, name: str, behaviour: dict[str, Any] | None = None, **fields: Any
    ) -> dict[str, Any]:
        """Replace ``name``'s behaviour (``behaviour`` dict and/or keyword fields)."""
        body = dict(behaviour or {}, **fields)
        return dict(self._call("PUT", f"/_config/{name}", body))

    def update(self, name: str, **fields: Any) -> dict[str, Any]:
        """Change some fields of ``name``'s current behaviour, keep the others."""
        current = self.config().get(name, {})
        return self.set(name, dict(current, **fields))

    def calls(self) -> dict[str, int]:
        return {k: int(v) for k, v in self._call("GET", "/_calls").items()}

    def requests(self) -> dict[str, list[dict[str, Any]]]:
        return dict(self._call("GET", "/_requests"))

    def reset(self) -> None:
        self._call("POST", "/_reset", {})

    def healthy(self) -> bool:
        try:
            return bool(self._call("GET", "/_health").get("status") == "ok")
        except OSError:
            return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.provider_sim", description="rtdcs real-time provider simulator"
    )
    parser.add_argument("--port", type=int, default=8081, help="port on 127.0.0.1 (0: any)")
    parser.add_argument("--quiet", action="store_true", help="no access log")
    args = parser.parse_args(argv)

    state = _State()
    server = _Server(args.port, state, verbose=not args.quiet)

    def _stop(signum: int, frame: Any) -> None:
        state.stopping.set()
        # shutdown() blocks until serve_forever returns: call it off the main thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    print(f"provider simulator listening on http://{HOST}:{server.server_address[1]}", flush=True)
    server.serve_forever(poll_interval=0.1)
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
