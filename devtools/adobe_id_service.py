"""Adobe's own ``VisitorAPI.js`` and DIL against the local stack, in Debian's Chromium
(identity.md 4; issue 18's acceptance). Adobe's files carry no licence, so they are not in the
repository: fetch them yourself and pass their paths.

    python -m devtools.adobe_id_service --visitor .../lib/visitorapi.min.js \\
        --dil .../dist/dil.js [--record tests/fixtures/identity/adobe_visitor_dil.json]

(``Adobe-Marketing-Cloud/id-service`` 5.5.0 and ``Adobe-Marketing-Cloud/dil``.) The script
starts the local stack on free loopback ports, a TLS front on 127.0.0.1 for ``*.demdex.net``
(VisitorAPI.js always calls ``https://dpm.demdex.net/id``; DIL ``https://<partner>.demdex.net``)
with a throw-away self-signed certificate, and a publisher page (``http://www.pub.test``) that
loads both files. Chromium maps those hosts to loopback with ``--host-resolver-rules``; nothing
leaves the machine (any other host is aborted). It prints what it saw (the MID Visitor got
from ``/id``, the ``d_mid`` DIL's event carried, the event's ``uuid``) and, with ``--record``,
writes the exact requests the front forwarded, with the answers' checked fields: the fixture
tests/routes/test_identity_adobe_replay.py replays against the routes in CI.

Exit status 0 only when Visitor got a MID, DIL's event carried it as ``d_mid`` and the
answer's ``uuid`` equals it.
"""

from __future__ import annotations

import argparse
import datetime
import json
import ssl
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from devtools.stack import HOST, LocalStack, free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]  # as tests/e2e/conftest.py
ORG_ID = "0123456789ABCDEF01234567@AdobeOrg"
PAGE_HOST = "www.pub.test"
PARTNER = "rtdcs"  # DIL calls https://rtdcs.demdex.net/event
FORWARDED_HEADERS = ("origin", "content-type", "cookie", "accept", "referer")
RECORDED_HEADERS = ("origin", "content-type")  # replayed as sent (cookies: none in CI)

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Visitor + DIL</title>
<script src="/visitorapi.min.js"></script><script src="/dil.js"></script></head><body>
<script>
window.__seen = {};
var visitor = Visitor.getInstance("%(org)s", {});
// a logged-in visitor: Visitor.js sends it as d_cid_ic=crm%%01user-1%%011 (auth state 1)
visitor.setCustomerIDs({crm: {id: "user-1", authState: Visitor.AuthState.AUTHENTICATED}});
visitor.getMarketingCloudVisitorID(function (mid) { window.__seen.mid = mid; });
var dil = DIL.create({partner: "%(partner)s", containerNSID: 0, uuidCookie: {name: "aam_uuid"},
                      visitorService: {namespace: "%(org)s"}});
dil.api.signals({c_section: "sports"}).afterResult(function (json) {
  window.__seen.event = json;
}).submit();
</script></body></html>"""


def _certificate(directory: Path) -> tuple[Path, Path]:
    """A throw-away self-signed certificate for *.demdex.net (Chromium runs with
    --ignore-certificate-errors for this script only)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "*.demdex.net")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("*.demdex.net")]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class _Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.exchanges: list[dict[str, Any]] = []

    def add(self, exchange: dict[str, Any]) -> None:
        with self.lock:
            self.exchanges.append(exchange)


def _front(dcs_url: str, recorder: _Recorder) -> type[BaseHTTPRequestHandler]:
    """The *.demdex.net front: forwards to the DCS, records each exchange."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    class Front(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k: v for k, v in self.headers.items() if k.lower() in FORWARDED_HEADERS}
            request = urllib.request.Request(dcs_url + self.path, data=body or None,
                                             headers=headers, method=self.command)
            try:
                with opener.open(request, timeout=10) as answer:
                    status, answer_headers, payload = answer.status, answer.headers, answer.read()
            except urllib.error.HTTPError as exc:
                status, answer_headers, payload = exc.code, exc.headers, exc.read()
            self.send_response(status)
            for key, value in answer_headers.items():
                if key.lower() not in ("transfer-encoding", "connection", "content-length",
                                       "date", "server"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            recorder.add({
                "host": self.headers.get("Host", ""), "method": self.command, "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()
                            if k.lower() in RECORDED_HEADERS},
                "body": body.decode("utf-8", "replace"), "status": status,
                "answer": _answer_fields(answer_headers.get("Content-Type", ""), payload),
            })

        do_GET = do_POST = do_OPTIONS = _forward

    return Front


def _answer_fields(content_type: str, payload: bytes) -> dict[str, Any]:
    if "json" not in content_type:
        return {"content_type": content_type.split(";")[0]}
    try:
        body = json.loads(payload)
    except ValueError:
        return {"content_type": "invalid json"}
    keys = ("d_mid", "uuid", "id_sync_ttl", "d_ottl", "dcs_region", "subdomain", "d_optout",
            "errors")
    fields = {k: body[k] for k in keys if k in body}
    if "d_blob" in body:  # per run (the stage's secret): its length only
        fields["d_blob_chars"] = len(body["d_blob"])
    return fields


def _page_server(visitor: bytes, dil: bytes) -> type[BaseHTTPRequestHandler]:
    files = {"/": ("text/html", (PAGE % {"org": ORG_ID, "partner": PARTNER}).encode()),
             "/visitorapi.min.js": ("application/javascript", visitor),
             "/dil.js": ("application/javascript", dil)}

    class Page(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

        def do_GET(self) -> None:  # noqa: N802
            found = files.get(self.path.split("?")[0])
            if found is None:
                self.send_response(404)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", found[0])
            self.send_header("Content-Length", str(len(found[1])))
            self.end_headers()
            self.wfile.write(found[1])

    return Page


def _add_crm_source(stack: LocalStack) -> None:
    """The CROSS_DEVICE data source of the page's customer ID (integration code ``crm``),
    through the admin API; served by the event path after the catalog refresh (2 s here)."""
    body = json.dumps({"name": "CRM", "idType": "CROSS_DEVICE", "integrationCode": "crm"})
    request = urllib.request.Request(
        f"{stack.dcs_url}/v1/datasources", data=body.encode(), method="POST",
        headers={"Authorization": f"Bearer {stack.admin_token}",
                 "Content-Type": "application/json"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=10) as answer:
        assert answer.status == 201, answer.status
    time.sleep(3.0)


def _serve(server: ThreadingHTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread


def drive(visitor_path: Path, dil_path: Path, timeout_s: float = 30.0) -> dict[str, Any]:
    """Run the page; what was seen, and the recorded exchanges."""
    from playwright.sync_api import sync_playwright

    recorder = _Recorder()
    ports = [free_port()]
    for _ in range(4):
        ports.append(free_port(tuple(ports)))
    dcs, moto, sim, front_port, page_port = ports
    workdir = Path(tempfile.mkdtemp(prefix="rtdcs-adobe-"))
    cert, key = _certificate(workdir)
    with LocalStack(dcs_port=dcs, moto_port=moto, sim_port=sim, quiet=True) as stack:
        _add_crm_source(stack)
        front = ThreadingHTTPServer((HOST, front_port), _front(stack.dcs_url, recorder))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        front.socket = context.wrap_socket(front.socket, server_side=True)
        page = ThreadingHTTPServer((HOST, page_port),
                                   _page_server(visitor_path.read_bytes(), dil_path.read_bytes()))
        servers = [front, page]
        for server in servers:
            _serve(server)
        rules = f"MAP *.demdex.net {HOST}:{front_port}, MAP {PAGE_HOST} {HOST}:{page_port}"
        blocked: list[str] = []
        console: list[str] = []
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(
                    executable_path=CHROMIUM, headless=True,
                    args=[*CHROMIUM_ARGS, f"--host-resolver-rules={rules}",
                          "--ignore-certificate-errors"])
                try:
                    ctx = browser.new_context(ignore_https_errors=True)

                    def guard(route: Any) -> None:
                        host = urllib.parse.urlsplit(route.request.url).hostname or ""
                        if host == PAGE_HOST or host.endswith(".demdex.net"):
                            route.continue_()
                        else:
                            blocked.append(route.request.url)
                            route.abort()

                    ctx.route("**/*", guard)
                    tab = ctx.new_page()
                    tab.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
                    tab.goto(f"http://{PAGE_HOST}/")
                    deadline = time.monotonic() + timeout_s
                    seen: dict[str, Any] = {}
                    while time.monotonic() < deadline:
                        seen = tab.evaluate("window.__seen")
                        if seen.get("mid") and seen.get("event"):
                            break
                        time.sleep(0.2)
                    time.sleep(1.0)  # let the ID syncs / dest5.html finish (recorded too)
                finally:
                    browser.close()
        finally:
            for server in servers:
                server.shutdown()
                server.server_close()
    return {"seen": seen, "exchanges": recorder.exchanges, "blocked": blocked,
            "console": console}


def report(result: dict[str, Any]) -> tuple[bool, list[str]]:
    """The observations, and whether the acceptance holds."""
    seen, exchanges = result["seen"], result["exchanges"]
    lines: list[str] = []
    ids = [e for e in exchanges if urllib.parse.urlsplit(e["path"]).path == "/id"]
    events = [e for e in exchanges if urllib.parse.urlsplit(e["path"]).path == "/event"]
    mid = seen.get("mid")
    lines.append(f"Visitor MID: {mid}")
    for exchange in ids:
        lines.append(f"/id {exchange['method']} {exchange['path'][:160]} -> "
                     f"{exchange['status']} {exchange['answer']}")
    sent_mid = None
    for exchange in events:
        params = urllib.parse.parse_qs(exchange["body"]) | urllib.parse.parse_qs(
            urllib.parse.urlsplit(exchange["path"]).query)
        sent_mid = (params.get("d_mid") or [None])[0]
        lines.append(f"/event {exchange['method']} d_mid={sent_mid} -> {exchange['status']} "
                     f"uuid={exchange['answer'].get('uuid')}")
    others = sorted({urllib.parse.urlsplit(e["path"]).path for e in exchanges} - {"/id", "/event"})
    lines.append(f"other calls: {others}")
    event = seen.get("event") or {}
    lines.append(f"DIL's callback got uuid={event.get('uuid')}")
    if result["blocked"]:
        lines.append(f"blocked (not loopback): {result['blocked']}")
    ok = bool(mid) and sent_mid == mid and event.get("uuid") == mid and bool(ids)
    lines.append("OK: the MID from /id is DIL's d_mid and the event's uuid" if ok else
                 "FAILED: the MID, d_mid and uuid do not line up")
    return ok, lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--visitor", type=Path, required=True, help="visitorapi.min.js 5.5.0")
    parser.add_argument("--dil", type=Path, required=True, help="DIL's dist/dil.js")
    parser.add_argument("--record", type=Path, help="write the exchanges here (a fixture)")
    args = parser.parse_args(argv)
    result = drive(args.visitor, args.dil)
    ok, lines = report(result)
    print("\n".join(lines))
    if result["console"]:
        print("page console:", *result["console"][:20], sep="\n  ")
    if args.record:
        fixture = {"source": "devtools/adobe_id_service.py", "org_id": ORG_ID,
                   "visitor_mid": result["seen"].get("mid"),
                   "exchanges": result["exchanges"]}
        args.record.parent.mkdir(parents=True, exist_ok=True)
        args.record.write_text(json.dumps(fixture, indent=2) + "\n", encoding="utf-8")
        print(f"recorded {len(result['exchanges'])} exchanges in {args.record}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
