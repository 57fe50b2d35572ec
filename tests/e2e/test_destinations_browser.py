"""Destinations in a real browser: URL destinations and ID syncs fired at a loopback partner,
``stuff`` cookies with their domain and lifetime, and the page-code API of the tag.

Set-up (see docs/destinations.md, "Testing destinations on loopback"):

* The publisher's page is ``http://www.pub.test:<port>/tagged.html``: Chromium maps
  ``*.pub.test`` to 127.0.0.1 (``--host-resolver-rules``, this module's own browser), so a
  cookie for ``.pub.test`` can be checked from ``shop.pub.test``. The DCS is the local stack on
  ``http://127.0.0.1:<port>``: another origin and another site.
* dest.html fires ``https:`` URLs only, so the partner is a loopback **TLS** server with a
  self-signed certificate made for this test; only this module's browser context accepts it
  (Playwright's ``ignore_https_errors``). Nothing in the tag or the iframe is relaxed for tests.
* The destinations are real: this module adds its own URL and cookie destinations and sync
  partners (``_raw_catalog``) to the local stack's catalog, waits until the DCS serves them,
  and removes them afterwards. ``/event`` answers are only recorded, never changed.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest

from chalicelib.store.catalog import CatalogRepository
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, guarded_context

pytestmark = pytest.mark.e2e

WAIT_S = 15.0
PUB_SITE = "pub.test"
GIF = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)


# -- the loopback TLS partner ------------------------------------------------------------------


def _self_signed(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "partner.crt", directory / "partner.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class Partner:
    """Records every GET: ``/px/*`` answers a GIF, anything else a blank HTML page."""

    def __init__(self) -> None:
        self.hits: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        partner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                parts = urllib.parse.urlsplit(self.path)
                with partner._lock:
                    partner.hits.append({
                        "path": parts.path,
                        "query": dict(urllib.parse.parse_qsl(parts.query)),
                        "referer": self.headers.get("Referer"),
                        "dest": self.headers.get("Sec-Fetch-Dest"),
                    })
                image = parts.path.startswith("/px/") or parts.path.startswith("/sync/")
                body = GIF if image else b"<!doctype html><title>partner</title>"
                self.send_response(200)
                self.send_header("Content-Type", "image/gif" if image else "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self._tmp = tempfile.TemporaryDirectory(prefix="rtdcs-partner-")
        cert, key = _self_signed(Path(self._tmp.name))
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(cert, key)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def reset(self) -> None:
        with self._lock:
            self.hits.clear()

    def paths(self) -> list[str]:
        with self._lock:
            return [h["path"] for h in self.hits]

    def hit(self, path: str) -> dict[str, Any]:
        with self._lock:
            found = [h for h in self.hits if h["path"] == path]
        assert len(found) == 1, (path, self.hits)
        return found[0]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)
        self._tmp.cleanup()


@pytest.fixture(scope="module")
def partner_server() -> Iterator[Partner]:
    server = Partner()
    yield server
    server.close()


@pytest.fixture
def partner(partner_server: Partner, destinations: None) -> Partner:
    """The partner, with the test catalog served by the DCS; no hits recorded yet."""
    partner_server.reset()
    return partner_server


# -- this module's browser: *.pub.test -> 127.0.0.1, the partner's certificate accepted --------


@pytest.fixture(scope="module")
def pub_browser(playwright_driver: Any) -> Iterator[Any]:
    args = [*CHROMIUM_ARGS, f"--host-resolver-rules=MAP *.{PUB_SITE} 127.0.0.1"]
    browser = playwright_driver.chromium.launch(executable_path=CHROMIUM, args=args,
                                                headless=True)
    try:
        yield browser
    finally:
        browser.close()


def _pub_host(host: str) -> bool:
    return host in ("127.0.0.1", "localhost") or host.endswith("." + PUB_SITE)


@pytest.fixture
def pub_context(pub_browser: Any) -> Iterator[Any]:
    """A fresh context that reaches loopback only (and *.pub.test, mapped to it)."""
    with guarded_context(pub_browser, _pub_host, ignore_https_errors=True) as ctx:
        yield ctx


@pytest.fixture
def fast_providers(sim):  # type: ignore[no-untyped-def]
    sim.update("fast", latency_ms=30, jitter_ms=0, mode="ok")
    sim.update("slow", latency_ms=30, jitter_ms=0, mode="ok")
    return sim


def _publisher_page(publisher: str, host: str = "www") -> str:
    port = urllib.parse.urlsplit(publisher).port
    return f"http://{host}.{PUB_SITE}:{port}/tagged.html"


# -- this module's catalog, added to the local stack's catalog while its tests run ---------------


def _raw_catalog(partner_url: str) -> dict[str, list[dict[str, Any]]]:
    return {
        "datasource": [
            {"dataSourceId": 9001, "name": "frame sync", "syncTtl": 60, "syncTag": "img",
             "syncUrl": partner_url + "/sync/frame?uid=${DD_UUID}&gdpr=${GDPR}&p=%HTTP_PROTO%"},
            {"dataSourceId": 9002, "name": "page sync", "syncTtl": 60, "syncOnPage": 1,
             "syncUrl": partner_url + "/sync/page?uid=%DID%"},
            {"dataSourceId": 9003, "name": "other namespace", "syncNsid": 5,
             "syncUrl": partner_url + "/sync/other"},
        ],
        "destination": [
            {"destinationId": 60, "name": "serialized", "destinationType": "PUSH",
             "serializationEnabled": True, "delimiter": ",",
             "urlFormatString": "http://127.0.0.1:9/px/insecure?s=%ALIAS%",
             "secureUrlFormatString":
                 partner_url + "/px/serial?segs=%ALIAS%&u=%did%&p=%http_proto%&r=%rnd%"},
            {"destinationId": 61, "name": "per segment", "destinationType": "PUSH",
             "serializationEnabled": False, "tagType": "iframe"},
            {"destinationId": 62, "name": "no referrer", "destinationType": "PUSH",
             "serializationEnabled": True, "hideReferrer": True,
             "urlFormatString": partner_url + "/px/norefer?s=%ALIAS%"},
            {"destinationId": 63, "name": "site cookie", "destinationType": "ADS",
             "cookieName": "rtdcs_site", "formatType": "single_key", "singleKey": "seg",
             "ttl": 7, "cnameDomain": "." + PUB_SITE},
            {"destinationId": 64, "name": "foreign cookie", "destinationType": "ADS",
             "cookieName": "rtdcs_foreign", "formatType": "single_key", "singleKey": "x",
             "ttl": 7, "cnameDomain": ".other.test"},
        ],
        "mapping": [
            {"mappingId": 601, "destinationId": 60, "sid": 5001, "traitAlias": "sports"},
            {"mappingId": 602, "destinationId": 60, "sid": 5002, "traitAlias": "auto"},
            {"mappingId": 603, "destinationId": 61, "sid": 5002,
             "url": partner_url + "/frame/auto?sid=5002"},
            {"mappingId": 604, "destinationId": 62, "sid": 5001, "traitAlias": "s"},
            {"mappingId": 605, "destinationId": 63, "sid": 5001, "valueString": "a"},
            {"mappingId": 606, "destinationId": 63, "sid": 5002, "valueString": "b"},
            {"mappingId": 607, "destinationId": 64, "sid": 5001, "valueString": "1"},
        ],
    }


_ID_FIELDS = {"datasource": "dataSourceId", "destination": "destinationId", "mapping": "mappingId"}


def _served(stack_http: Any, dcs: str) -> bool:
    """Whether the DCS already serves this module's URL destination 60 (sports readers)."""
    answer = stack_http.get(f"{dcs}/event", params={"d_rtbd": "json", "d_dst": "1",
                                                    "c_section": "sports"}, timeout=5).json()
    return any(d.get("id") == "60" for d in answer.get("dests", []))


def _wait_served(stack_http: Any, dcs: str, wanted: bool) -> None:
    deadline = time.monotonic() + WAIT_S
    while _served(stack_http, dcs) != wanted:
        assert time.monotonic() < deadline, f"the DCS did not {'start' if wanted else 'stop'} "\
            "serving the test destinations (catalog refresh)"
        time.sleep(0.25)


@pytest.fixture(scope="module")
def destinations(local_stack: Any, partner_server: Partner) -> Iterator[None]:
    """This module's destinations and sync partners in the stack's catalog, for its tests."""
    import requests

    repo = CatalogRepository(local_stack.dynamodb().Table(local_stack.tables["catalog"]))
    raw = _raw_catalog(partner_server.url)
    http = requests.Session()
    http.trust_env = False  # loopback only
    for kind, objects in raw.items():
        for body in objects:
            repo.put(kind, body[_ID_FIELDS[kind]], body)
    repo.bump_version()
    try:
        _wait_served(http, local_stack.dcs_url, True)
        yield
    finally:
        for kind, objects in raw.items():
            for body in objects:
                repo.delete(kind, body[_ID_FIELDS[kind]])
        repo.bump_version()
        _wait_served(http, local_stack.dcs_url, False)  # later tests see the demo catalog
        http.close()


def _record_answers(page: Any) -> list[dict[str, Any]]:
    """The /event answers of ``page`` (any frame) and the h_referer each request sent, live."""
    answers: list[dict[str, Any]] = []

    def record(response: Any) -> None:
        if urllib.parse.urlsplit(response.url).path != "/event":
            return
        form = urllib.parse.parse_qs(response.request.post_data or "")
        answers.append({"body": response.json(), "h_referer": form.get("h_referer")})

    page.on("response", record)
    return answers


def _wait_for(partner: Partner, paths: set[str], page: Any) -> None:
    deadline = time.monotonic() + WAIT_S
    while not paths <= set(partner.paths()) and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert paths <= set(partner.paths()), (sorted(paths), partner.hits, page.context.log)


_ALL = {"/px/serial", "/frame/auto", "/px/norefer", "/sync/frame", "/sync/page"}


def test_url_destinations_and_syncs_fire_once_per_page_view_on_a_tls_partner(  # type: ignore[no-untyped-def]
    pub_context, local_stack, publisher, partner, fast_providers
) -> None:
    dcs = local_stack.dcs_url
    page = pub_context.new_page()
    answers = _record_answers(page)
    page_url = _publisher_page(publisher)
    page.goto(page_url)
    res = page.evaluate("() => window.rtdcs.send({c_section: 'sports', d_cts: 1})")
    _wait_for(partner, _ALL, page)
    page.wait_for_timeout(300)  # anything else would have fired by now

    assert {5001, 5002} <= set(res["segments"]), res
    assert answers[0]["h_referer"] == [page_url], "dest.html sends the page URL as h_referer"
    assert sorted(partner.paths()) == sorted(_ALL), partner.hits
    dcs_origin = dcs + "/"

    serial = partner.hit("/px/serial")
    assert serial["query"]["segs"] == "sports,auto"
    assert serial["query"]["u"] == res["uuid"]
    assert serial["query"]["p"] == "http", "%http_proto% is the page's scheme"
    assert serial["query"]["r"].isdigit()
    assert serial["dest"] == "image" and serial["referer"] == dcs_origin, "fired by dest.html"

    frame = partner.hit("/frame/auto")
    assert frame["dest"] == "iframe" and frame["query"] == {"sid": "5002"}
    assert partner.hit("/px/norefer")["referer"] is None, "hr: 1 hides the referrer"

    frame_sync = partner.hit("/sync/frame")
    assert frame_sync["query"] == {"uid": res["uuid"], "gdpr": "0", "p": "http"}
    assert frame_sync["referer"] == dcs_origin, "syncOnPage 0 fires from dest.html"
    page_sync = partner.hit("/sync/page")
    assert page_sync["referer"] == f"http://www.{PUB_SITE}:{urllib.parse.urlsplit(page_url).port}/"
    assert page_sync["query"] == {"uid": res["uuid"]}, "syncOnPage 1 fires from the page"

    # Same page view, another event: nothing fires twice.
    page.evaluate("() => window.rtdcs.send({c_section: 'sports', d_cts: 1})")
    page.wait_for_timeout(800)
    assert len(answers) == 2 and answers[1]["body"]["dests"], "the DCS answered dests again"
    assert answers[1]["body"].get("ibs"), "and offers the syncs again (no /ibs call back)"
    assert sorted(partner.paths()) == sorted(_ALL), partner.hits

    # A new page view: URL destinations fire again; syncs wait for their ttl (60 minutes).
    page.reload()
    page.evaluate("() => window.rtdcs.send({c_section: 'sports', d_cts: 1})")
    _wait_for(partner, {"/px/serial"}, page)
    page.wait_for_timeout(500)
    paths = partner.paths()
    assert paths.count("/px/serial") == 2 and paths.count("/frame/auto") == 2
    assert paths.count("/sync/frame") == 1 and paths.count("/sync/page") == 1, paths

    # Once the ttl has passed (last fire times moved an hour back), the syncs fire again.
    page.evaluate("""() => {
        const last = JSON.parse(localStorage.getItem('rtdcs:syncs'));
        for (const id in last) last[id] -= 3600 * 1000;
        localStorage.setItem('rtdcs:syncs', JSON.stringify(last));
    }""")
    page.reload()
    page.evaluate("() => window.rtdcs.send({c_section: 'sports', d_cts: 1})")
    deadline = time.monotonic() + WAIT_S
    while partner.paths().count("/sync/page") < 2 and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    _wait_for(partner, {"/sync/frame"}, page)
    page.wait_for_timeout(300)
    assert partner.paths().count("/sync/frame") == 2 and partner.paths().count("/sync/page") == 2
    assert "/sync/other" not in partner.paths(), "another d_nsid's partner never syncs here"


def test_stuff_cookies_get_their_domain_and_lifetime(  # type: ignore[no-untyped-def]
    pub_context, local_stack, publisher, partner, fast_providers
) -> None:
    page = pub_context.new_page()
    page.goto(_publisher_page(publisher))
    page.evaluate("() => window.rtdcs.send({c_section: 'sports', d_cts: 1})")

    cookies = {c["name"]: c for c in pub_context.cookies(_publisher_page(publisher))}
    now = time.time()
    site = cookies["rtdcs_site"]
    assert site["domain"] == "." + PUB_SITE and site["path"] == "/"
    assert urllib.parse.unquote(site["value"]) == "seg=a,b"
    assert abs(site["expires"] - (now + 7 * 86400)) < 600
    own = cookies["rtdcs_segs"]  # the demo's cookie destination: dmn "" = the page's host only
    assert own["domain"] == f"www.{PUB_SITE}"
    assert abs(own["expires"] - (now + 30 * 86400)) < 600
    assert "rtdcs_foreign" not in cookies, "the browser refuses another site's domain"

    # The domain cookie reaches a sibling host of the publisher's site; the host-only one not.
    other = pub_context.new_page()
    other.goto(_publisher_page(publisher, host="shop").replace("/tagged.html", "/blank.html"))
    seen = other.evaluate("() => document.cookie")
    assert "rtdcs_site=" in seen and "rtdcs_segs=" not in seen, seen


def test_page_code_reads_key_values_and_openrtb_user_data(  # type: ignore[no-untyped-def]
    pub_context, local_stack, publisher, fast_providers
) -> None:
    page = pub_context.new_page()
    page.goto(_publisher_page(publisher))
    got = page.evaluate(
        """async () => {
            const before = window.rtdcs.targeting();
            // A Prebid RTD call made while the DCS answer is on its way waits for it.
            const req = {ortb2Fragments: {global: {user: {data: [
                {name: 'other', segment: [{id: 'x'}]}, {name: 'rtdcs', segment: [{id: 'old'}]}]}}}};
            const sent = window.rtdcs.send({c_section: 'sports', d_cts: 1});
            const rtd = new Promise(resolve => window.rtdcs.prebidRtd(req, resolve, {segtax: 4,
                                                                                   waitMs: 5000}));
            const res = await sent;
            await rtd;
            // googletag as page code would use it (docs/destinations.md).
            const calls = [];
            const pubads = {setTargeting: (k, v) => calls.push([k, v])};
            Object.entries(window.rtdcs.targeting()).forEach(([k, v]) => pubads.setTargeting(k, v));
            return {before, res, calls, data: req.ortb2Fragments.global.user.data,
                    named: window.rtdcs.targeting({key: 'seg'}),
                    ortb2: window.rtdcs.ortb2({segtax: 4, name: 'rtdcs'}),
                    plain: window.rtdcs.ortb2()};
        }"""
    )
    segments = [str(s) for s in got["res"]["segments"]]
    assert {"5001", "5002"} <= set(segments)
    assert got["before"] == {"rtdcs_seg": []}, "nothing known before the first answer"
    assert got["calls"] == [["rtdcs_seg", segments]]
    assert got["named"] == {"seg": segments}
    expected = {"name": "rtdcs", "ext": {"segtax": 4}, "segment": [{"id": s} for s in segments]}
    assert got["ortb2"] == [expected]
    assert got["plain"] == [{"name": "rtdcs", "segment": [{"id": s} for s in segments]}]
    assert got["data"] == [{"name": "other", "segment": [{"id": "x"}]}, expected], (
        "merged into ortb2Fragments.global.user.data, replacing the old rtdcs entry")

    # The next page view knows the segments before its own answer (stored on the site).
    page.reload()
    early = page.evaluate(
        """() => new Promise(resolve => {
            const req = {};
            window.rtdcs.prebidRtd(req, () => resolve({req, kv: window.rtdcs.targeting()}));
        })"""
    )
    assert early["kv"] == {"rtdcs_seg": segments}
    assert early["req"]["ortb2Fragments"]["global"]["user"]["data"][0]["segment"][0] == {
        "id": segments[0]}


def test_first_party_uuid_cookie_carries_the_visitor_without_the_dcs_cookie(  # type: ignore[no-untyped-def]
    pub_context, local_stack, publisher, fast_providers
) -> None:
    page = pub_context.new_page()
    page.goto(_publisher_page(publisher))
    bodies: list[str] = []
    page.on("request", lambda r: bodies.append(r.post_data or "")
            if urllib.parse.urlsplit(r.url).path == "/event" else None)
    first = page.evaluate(
        "() => window.rtdcs.send({d_cts: 1}, {transport: 'cors', uuidCookie: true})")
    cookies = {c["name"]: c for c in pub_context.cookies(_publisher_page(publisher))}
    assert cookies["rtdcs_fpid"]["value"] == first["uuid"]
    assert abs(cookies["rtdcs_fpid"]["expires"] - (time.time() + 180 * 86400)) < 600

    # Third-party cookies gone (as where a browser blocks them): the first-party id carries on.
    pub_context.clear_cookies(domain="127.0.0.1")
    second = page.evaluate(
        "() => window.rtdcs.send({d_cts: 1}, {transport: 'cors', uuidCookie: true})")
    assert second["uuid"] == first["uuid"]
    assert f"d_uuid={first['uuid']}" in bodies[1] and "d_uuid" not in bodies[0]
