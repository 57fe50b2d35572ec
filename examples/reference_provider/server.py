"""A reference real-time provider for rtdcs (provider-contract.md), standard library only.

What it shows, in order of a request's life:

1. the request body is read whole (Content-Length, at most 64 KiB) *before* anything else,
   because the signature covers the raw bytes;
2. the signature is checked in constant time: ``X-Signature`` = base64(HMAC-SHA256(secret,
   raw body)) -- or ``Authorization: Bearer <secret>`` with ``auth="bearer"``; a bad or missing
   one gets ``401`` and nothing else happens;
3. the body is parsed and validated (``400`` when it is not the contract's request);
4. ``X-Request-Deadline-Ms`` says how long rtdcs still waits: with too little time left the
   provider answers ``204`` (nothing known) at once rather than too late;
5. the visitor is looked up (here: an in-memory table by ``DataPartner_UUID`` / ``AAM_UUID``,
   plus segments derived from forwarded signals) and the native answer is sent:
   ``{"Segments": [{"Segment_ID": "77", "Status": 1}], "ttl_seconds": 600}``, or ``204``.

Run it:  ``python -m examples.reference_provider --port 8090 --secret s3cr3t``
In-process (tests): ``with ReferenceProvider(secret="s3cr3t") as provider: provider.url``.
It listens on 127.0.0.1 only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOST = "127.0.0.1"
MAX_REQUEST_BYTES = 64 * 1024
TTL_SECONDS = 600
# Below this many milliseconds left, answering "nothing known" now beats answering late.
MIN_USEFUL_MS = 5
REQUIRED_FIELDS = {"AAM_UUID": str, "User_DPID": int, "Client_ID": str, "signals": dict}

# The provider's "audience data". A real provider reads its own store here.
DEFAULT_VISITORS: dict[str, list[str]] = {}
# (signal key, value) -> segment: what the provider infers from forwarded signals.
SIGNAL_SEGMENTS: dict[tuple[str, str], str] = {
    ("c_section", "sports"): "sports-fan",
    ("c_section", "autos"): "auto-intender",
}
# The segment every visitor of this provider has: makes the demo visibly answer.
BASELINE_SEGMENTS = ["auto-intender"]


def sign(secret: str, body: bytes) -> str:
    """base64(HMAC-SHA256(secret, body)): what rtdcs puts in the signature header."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def signature_ok(secret: str, body: bytes, header_value: str | None) -> bool:
    # compare_digest: the time taken does not reveal how much of a forged signature matched.
    return bool(header_value) and hmac.compare_digest(sign(secret, body), header_value.strip())


def request_problem(request: Any) -> str | None:
    """Why ``request`` is not a contract request (None when it is)."""
    if not isinstance(request, dict):
        return "the body must be a JSON object"
    for field, kind in REQUIRED_FIELDS.items():
        if not isinstance(request.get(field), kind) or isinstance(request.get(field), bool):
            return f"{field} must be a {kind.__name__}"
    dpuuid = request.get("DataPartner_UUID")
    if dpuuid is not None and not isinstance(dpuuid, str):
        return "DataPartner_UUID must be a string or null"
    return None


def segments_for(request: dict[str, Any], visitors: dict[str, list[str]]) -> list[str]:
    found: list[str] = []
    for key in (request.get("DataPartner_UUID"), request["AAM_UUID"]):
        if key and key in visitors:
            found.extend(visitors[key])
    for key, values in request["signals"].items():
        for value in values if isinstance(values, list) else [values]:
            segment = SIGNAL_SEGMENTS.get((key, str(value)))
            if segment:
                found.append(segment)
    found.extend(BASELINE_SEGMENTS)
    return list(dict.fromkeys(found))  # unique, in order


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"
    protocol_version = "HTTP/1.1"  # keep-alive: rtdcs reuses its connections
    timeout = 30  # idle keep-alive connections end eventually
    server_version = "reference-provider/1"

    def setup(self) -> None:
        super().setup()
        # Small answers written in two parts (headers, body) would otherwise wait ~40 ms for
        # the client's delayed ACK (Nagle). Every provider should set TCP_NODELAY.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        if self.path.split("?", 1)[0] == "/health":
            self._json(200, {"status": "ok"})
        else:
            self._json(404, {"error": "not found"})

    def do_POST(self) -> None:  # noqa: N802
        length = self.headers.get("Content-Length", "")
        if not length.isdigit() or int(length) > MAX_REQUEST_BYTES:
            self.close_connection = True
            self._json(413 if length.isdigit() else 411, {"error": "bad Content-Length"})
            return
        raw = self.rfile.read(int(length))  # the exact bytes that were signed
        if not self._authorized(raw):
            self._json(401, {"error": "bad signature"})
            return
        try:
            request = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            self._json(400, {"error": "the body is not JSON"})
            return
        problem = request_problem(request)
        if problem:
            self._json(400, {"error": problem})
            return
        deadline = self.headers.get("X-Request-Deadline-Ms", "")
        if deadline.isdigit() and int(deadline) < MIN_USEFUL_MS:
            self._empty()
            return
        segments = segments_for(request, self.server.visitors)
        if not segments:
            self._empty()
            return
        self._json(200, {
            "Segments": [{"Segment_ID": s, "Status": 1} for s in segments],
            "ttl_seconds": TTL_SECONDS,
        })

    def _authorized(self, raw: bytes) -> bool:
        secret = self.server.secret
        if secret is None:
            return True
        if self.server.auth == "bearer":
            expected = f"Bearer {secret}".encode()
            return hmac.compare_digest(expected, (self.headers.get("Authorization") or "").encode())
        return signature_ok(secret, raw, self.headers.get(self.server.header))

    def _empty(self) -> None:
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _json(self, status: int, payload: Any) -> None:
        body = json.dumps(payload, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        if self.server.verbose:
            sys.stderr.write("%s %s\n" % (self.address_string(), format % args))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, secret: str | None, header: str, auth: str,
                 visitors: dict[str, list[str]], verbose: bool) -> None:
        self.secret = secret
        self.header = header
        self.auth = auth
        self.visitors = visitors
        self.verbose = verbose
        super().__init__((HOST, port), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return  # rtdcs hung up at its deadline: routine
        super().handle_error(request, client_address)


class ReferenceProvider:
    """The server in a background thread of this process."""

    def __init__(self, port: int = 0, secret: str | None = None, header: str = "X-Signature",
                 auth: str = "hmac", visitors: dict[str, list[str]] | None = None,
                 verbose: bool = False) -> None:
        if auth not in ("hmac", "bearer"):
            raise ValueError("auth must be hmac or bearer")
        self._server = _Server(port, secret, header, auth, dict(visitors or DEFAULT_VISITORS),
                               verbose)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self._server.server_address[1]}/segments"

    def start(self) -> "ReferenceProvider":
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "ReferenceProvider":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
