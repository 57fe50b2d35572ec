"""How long the rtdcs RTD submodule holds a real Prebid.js auction (issue 19).

    PYTHONPATH=. .venv/bin/python -m bench.prebid_auction [--auctions 20]

For each bundle in tests/fixtures/prebid/manifest.json and each case, ``--auctions`` first page
views in Chromium (a fresh context each: no stored segments), on the local stack with the demo
catalog as ``make run`` serves it (250 ms budget, FastData's 150 ms timeout):

* ``answered``: both providers answer in 40 ms;
* ``slow_dcs``: every ``/event`` held 1 s before it reaches the DCS (a DCS slower than
  ``auctionDelay``);
* ``dcs_down``: ``/event`` refused;
* ``no_tag``: the page has no rtdcs tag.

The hold is measured in the page: from ``pbjs.requestBids`` to Prebid's ``auctionInit``.
Prints one JSON document: per bundle and case, hold p50/max in ms, how many auctions exceeded
``auctionDelay`` + 20 ms, how many bid requests carried rtdcs segments; for ``answered``, how
long the tag's first ``send()`` took from navigation start (the figure ``waitMs`` is set from).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from devtools.prebid_page import auction_page, bundles, documented_auction_delay
from devtools.provider_sim import SimulatorClient
from devtools.stack import DUMMY_AWS_ENV, LocalStack, free_port

os.environ.update(DUMMY_AWS_ENV)  # dummy credentials, no metadata probing: moto only

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
CASES = ("answered", "slow_dcs", "dcs_down", "no_tag")
SLOW_DCS_S = 1.0


class _Publisher:
    """The publisher's site on loopback (a real server: Chromium refuses requests to the
    loopback DCS from a document Playwright fulfilled, which counts as public)."""

    def __init__(self) -> None:
        pages: dict[str, str] = {}  # path -> html
        self.pages = pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                body = pages.get(self.path.split("?")[0], "").encode()
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # Another origin and site than the DCS on 127.0.0.1.
        self.url = f"http://localhost:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _auction(browser: Any, stack: LocalStack, bundle: dict[str, Any], case: str,
             publisher: _Publisher) -> dict[str, Any]:
    context = browser.new_context()
    try:
        page = context.new_page()
        sent_to_bidder: list[dict[str, Any]] = []
        payload = open(bundle["path"], "rb").read()
        html = auction_page(stack.dcs_url, "/prebid.js", bundle["bidderCode"],
                            with_tag=case != "no_tag")

        def bidder(route: Any) -> None:
            sent_to_bidder.append(json.loads(route.request.post_data or "{}"))
            route.fulfill(status=204, body="")

        def slow(route: Any) -> None:
            time.sleep(SLOW_DCS_S)  # the page's own timers run on: only this request waits
            route.continue_()

        page.route(bundle["bidderEndpoint"].split("?")[0] + "*", bidder)
        page.route("**/prebid.js", lambda r: r.fulfill(status=200, body=payload,
                                                       content_type="application/javascript"))
        publisher.pages["/prebid.html"] = html
        if case == "slow_dcs":
            page.route(f"{stack.dcs_url}/event*", slow)
        if case == "dcs_down":
            page.route(f"{stack.dcs_url}/event*", lambda r: r.abort("connectionrefused"))
        page.goto(f"{publisher.url}/prebid.html")
        deadline = time.monotonic() + 10
        while not sent_to_bidder and time.monotonic() < deadline:
            page.wait_for_timeout(20)
        figures = page.evaluate("() => window.__auction")
        if case == "answered":  # wait for the send() figure (it settles before the auction)
            while page.evaluate("() => window.__sent") is None and time.monotonic() < deadline:
                page.wait_for_timeout(20)
        sent = page.evaluate("() => window.__sent || null")
        tag_loaded = page.evaluate("() => typeof window.rtdcs === 'object'")
        data = ((sent_to_bidder[0].get("user") or {}).get("data") or []) if sent_to_bidder else []
        with_segments = any(d.get("name") == "rtdcs" and d.get("segment") != [{"id": "stale"}]
                            for d in data)
        return {"hold_ms": figures.get("delayMs"), "bid_request": bool(sent_to_bidder),
                "tag_loaded": tag_loaded,
                "with_segments": with_segments, "send_ms": sent and sent.get("ms")}
    finally:
        context.close()


def measure(auctions: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    delay = documented_auction_delay()
    result: dict[str, Any] = {"auction_delay_ms": delay, "bound_ms": delay + 20,
                              "auctions_per_case": auctions, "bundles": {}}
    with LocalStack(dcs_port=free_port(), moto_port=free_port(), sim_port=free_port(),
                    quiet=True) as stack, sync_playwright() as pw:
        sim = SimulatorClient(stack.sim_url)
        for name in ("fast", "slow"):
            sim.update(name, latency_ms=40, jitter_ms=0, mode="ok")
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        publisher = _Publisher()
        try:
            for bundle in bundles():
                _auction(browser, stack, bundle, "answered", publisher)  # warm caches
                per_case: dict[str, Any] = {}
                for case in CASES:
                    runs = [_auction(browser, stack, bundle, case, publisher)
                            for _ in range(auctions)]
                    holds = [r["hold_ms"] for r in runs if r["hold_ms"] is not None]
                    sends = [r["send_ms"] for r in runs if r["send_ms"]]
                    per_case[case] = {
                        "hold_p50_ms": round(statistics.median(holds), 1) if holds else None,
                        "hold_max_ms": round(max(holds), 1) if holds else None,
                        "over_bound": sum(h > delay + 20 for h in holds),
                        "measured": len(holds),
                        "bid_requests": sum(r["bid_request"] for r in runs),
                        "tag_loaded": sum(r["tag_loaded"] for r in runs),
                        "with_rtdcs_segments": sum(r["with_segments"] for r in runs),
                    }
                    if case == "answered" and sends:
                        per_case[case]["first_send_p50_ms"] = round(statistics.median(sends), 1)
                        per_case[case]["first_send_max_ms"] = round(max(sends), 1)
                result["bundles"][bundle["version"]] = per_case
        finally:
            browser.close()
            publisher.close()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--auctions", type=int, default=20)
    args = parser.parse_args()
    print(json.dumps(measure(max(1, args.auctions)), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
