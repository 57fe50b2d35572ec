"""The rtdcs RTD submodule inside real Prebid.js builds (tests/fixtures/prebid), in Chromium.

Each bundle is a Prebid release built with ``rtdModule``, ``rtdcsRtdProvider``
(integrations/prebid) and one OpenRTB bidder (``devtools/prebid/build_prebid.sh``). The page
is made of docs/destinations.md's Prebid snippets (``devtools/prebid_page.py``); the bidder's
request is intercepted (never sent) and its ``user.data`` checked. Since Prebid 10.16,
``ortb2Fragments.global`` is getter-only: the current release is the case a plain object
in a unit test cannot show.

The auction-delay figures (20 auctions per case, ``auctionDelay`` + 20 ms) are measured by
``bench/prebid_auction.py``; the bounds here only catch an auction held by the tag.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from typing import Any, Iterator

import pytest

from devtools.prebid_page import (
    STALE_USER_DATA,
    auction_page,
    bundles,
    documented_auction_delay,
)
from tests.e2e.conftest import PUBLISHER_PAGES

pytestmark = pytest.mark.e2e

BUNDLES = bundles()
WAIT_S = 10.0
# An auction held by the tag (its 3 s send() timeout) or the DCS is far above this.
HELD_MS = documented_auction_delay() + 500


class Auction:
    """One page view's auction: the bidder requests it sent, and the page's own figures."""

    def __init__(self, page: Any, bundle: dict[str, Any]) -> None:
        self.page = page
        self.requests: list[dict[str, Any]] = []
        endpoint = bundle["bidderEndpoint"]
        bundle_bytes = open(bundle["path"], "rb").read()

        def bidder(route: Any) -> None:
            self.requests.append(json.loads(route.request.post_data or "{}"))
            route.fulfill(status=204, body="")

        page.route(endpoint.split("?")[0] + "*", bidder)
        page.route("**/prebid.js", lambda route: route.fulfill(
            status=200, body=bundle_bytes, content_type="application/javascript"))

    def load(self, publisher: str, html: str) -> None:
        PUBLISHER_PAGES["/prebid.html"] = html
        try:
            self.page.goto(f"{publisher}/prebid.html")
        finally:
            PUBLISHER_PAGES.pop("/prebid.html", None)

    def bid_request(self) -> dict[str, Any]:
        deadline = time.monotonic() + WAIT_S
        while not self.requests and time.monotonic() < deadline:
            self.page.wait_for_timeout(50)
        assert self.requests, ("the bidder was never called", self.page.context.log)
        assert len(self.requests) == 1, self.requests
        return self.requests[0]

    def figures(self) -> dict[str, Any]:
        return dict(self.page.evaluate("() => window.__auction"))


def _user_data(request: dict[str, Any]) -> list[dict[str, Any]]:
    return list(((request.get("user") or {}).get("data")) or [])


def _rtdcs_entries(request: dict[str, Any]) -> list[dict[str, Any]]:
    return [d for d in _user_data(request) if d.get("name") == "rtdcs"]


@pytest.fixture
def fast_providers(sim):  # type: ignore[no-untyped-def]
    sim.update("fast", latency_ms=30, jitter_ms=0, mode="ok")
    sim.update("slow", latency_ms=30, jitter_ms=0, mode="ok")
    return sim


@pytest.fixture(params=BUNDLES, ids=[b["version"] for b in BUNDLES])
def bundle(request: Any) -> dict[str, Any]:
    return dict(request.param)


@pytest.fixture
def auction(page: Any, bundle: dict[str, Any]) -> Iterator[Auction]:
    yield Auction(page, bundle)


def _page(local_stack: Any, bundle: dict[str, Any], **options: Any) -> str:
    return auction_page(local_stack.dcs_url, "/prebid.js", bundle["bidderCode"], **options)


def test_segments_reach_the_bid_request_replacing_the_stale_entry(  # type: ignore[no-untyped-def]
    auction, bundle, local_stack, publisher, fast_providers
) -> None:
    """Two page views of one visitor. Whether the first answer beats ``waitMs`` depends on the
    machine (bench/prebid_auction.py measures it); the second view's auction has the segments
    either way: its own answer, or the first one's, stored on the site. Both go through the
    same in-place merge into Prebid's (getter-only, since 10.16) ``ortb2Fragments.global``."""
    answers: list[dict[str, Any]] = []
    auction.page.on("response", lambda r: answers.append(r.json())
                    if urllib.parse.urlsplit(r.url).path == "/event" else None)
    html = _page(local_stack, bundle)
    auction.load(publisher, html)
    auction.bid_request()
    _wait_until(lambda: answers, auction.page)
    assert answers, "the tag's send() never reached the DCS"
    segments = [str(s) for s in answers[0]["segments"]]
    assert {"5001", "5002"} <= set(segments), answers[0]

    auction.requests.clear()
    auction.load(publisher, html)
    request = auction.bid_request()
    rtdcs = _rtdcs_entries(request)
    expected: dict[str, Any] = {"name": "rtdcs", "segment": [{"id": s} for s in segments]}
    if _documented_segtax() is not None:
        expected["ext"] = {"segtax": _documented_segtax()}
    assert rtdcs == [expected], _user_data(request)
    assert STALE_USER_DATA[1] in _user_data(request), "another provider's entry is kept"
    assert {"id": "stale"} not in rtdcs[0]["segment"], "the stale rtdcs entry is replaced"

    figures = auction.figures()
    assert figures["delayMs"] < HELD_MS, figures
    stats = _settled_stats(auction.page)
    assert stats["calls"] == 1 and stats["merged"] == 1 and stats["failed"] == 0, stats


def _wait_until(condition: Any, page: Any) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition() and time.monotonic() < deadline:
        page.wait_for_timeout(50)


def test_a_slow_dcs_releases_the_auction_and_the_next_page_view_targets(  # type: ignore[no-untyped-def]
    auction, bundle, local_stack, publisher, sim
) -> None:
    sim.set("fast", mode="hang", segments=["auto-intender"])  # the DCS waits for its timeout
    html = _page(local_stack, bundle)
    auction.load(publisher, html)
    request = auction.bid_request()
    figures = auction.figures()
    assert figures["delayMs"] < HELD_MS, figures
    assert _rtdcs_entries(request) == [STALE_USER_DATA[0]], "nothing known yet: left as it was"
    stats = _settled_stats(auction.page)
    assert stats["timeouts"] == 1 and stats["empty"] == 1, stats

    # The late answer is kept on the site: the next page view targets before its own answer.
    deadline = time.monotonic() + WAIT_S
    while auction.page.evaluate("() => window.__sent") is None and time.monotonic() < deadline:
        auction.page.wait_for_timeout(50)
    sent = auction.page.evaluate("() => window.__sent")
    assert sent and sent["outcome"] == "answer", sent
    stored = auction.page.evaluate("() => rtdcs.segments()")
    assert "5001" in stored, stored
    auction.requests.clear()
    auction.load(publisher, html)
    request = auction.bid_request()
    assert [s["id"] for s in _rtdcs_entries(request)[0]["segment"]][:1] == stored[:1]
    assert _rtdcs_entries(request)[0]["segment"] == [{"id": s} for s in stored]


def test_a_dcs_that_is_down_adds_nothing_and_holds_nothing(  # type: ignore[no-untyped-def]
    auction, bundle, local_stack, publisher
) -> None:
    dcs = local_stack.dcs_url
    auction.page.route(f"{dcs}/event*", lambda route: route.abort("connectionrefused"))
    auction.load(publisher, _page(local_stack, bundle))
    request = auction.bid_request()
    figures = auction.figures()
    assert figures["delayMs"] < HELD_MS, figures
    assert _rtdcs_entries(request) == [STALE_USER_DATA[0]]
    assert STALE_USER_DATA[1] in _user_data(request)
    assert _settled_stats(auction.page)["empty"] == 1


def test_without_the_tag_the_auction_goes_on_at_once(  # type: ignore[no-untyped-def]
    auction, bundle, local_stack, publisher
) -> None:
    auction.load(publisher, _page(local_stack, bundle, with_tag=False))
    request = auction.bid_request()
    figures = auction.figures()
    assert figures["delayMs"] < HELD_MS, figures
    assert _rtdcs_entries(request) == [STALE_USER_DATA[0]]
    assert auction.page.evaluate("() => typeof window.rtdcs") == "undefined"


def _settled_stats(page: Any) -> dict[str, int]:
    """rtdcs.stats().prebid once the tag's wait is over (Prebid may release the auction first)."""
    deadline = time.monotonic() + WAIT_S
    while True:
        stats = dict(page.evaluate("() => rtdcs.stats().prebid"))
        done = stats["merged"] + stats["empty"] + stats["failed"]
        if done >= stats["calls"] or time.monotonic() > deadline:
            return stats
        page.wait_for_timeout(20)


def _documented_segtax() -> int | None:
    """The doc's segtax (None: left out, the publisher's own ids)."""
    import re

    from devtools.prebid_page import doc_snippets

    found = re.search(r"segtax:\s*(\d+)", doc_snippets()["config"])
    return int(found.group(1)) if found else None


def test_the_tag_merges_in_place_and_counts_what_it_cannot_add(  # type: ignore[no-untyped-def]
    page, local_stack, publisher, fast_providers
) -> None:
    """prebidRtd on Prebid's shapes without Prebid: a getter-only ``global`` (10.16+) gets the
    data in place; a frozen one cannot, which is warned once, counted, and still calls back."""
    page.goto(f"{publisher}/tagged.html")
    got = page.evaluate(
        """async () => {
            await window.rtdcs.send({c_section: 'sports', d_cts: 1});
            const run = req => new Promise(resolve => {
                let calls = 0;
                window.rtdcs.prebidRtd(req, () => { calls++; setTimeout(() => resolve(calls), 50); },
                                       {segtax: 4, waitMs: 100});
            });
            const global = {user: {data: [{name: 'rtdcs', segment: [{id: 'old'}]}]}};
            const fragments = {};
            Object.defineProperty(fragments, 'global', {get: () => global, enumerable: true});
            const getterCalls = await run({ortb2Fragments: fragments});
            const warnings = [];
            const warn = console.warn;
            console.warn = (...args) => warnings.push(String(args[0]));
            const frozen = {ortb2Fragments: {global: Object.freeze({user: Object.freeze({})})}};
            const frozenCalls = [await run(frozen), await run(frozen)];
            console.warn = warn;
            return {getterCalls, frozenCalls, warnings, data: global.user.data,
                    stats: window.rtdcs.stats().prebid, segments: window.rtdcs.segments()};
        }"""
    )
    assert got["getterCalls"] == 1 and got["frozenCalls"] == [1, 1]
    assert got["data"] == [{"name": "rtdcs", "ext": {"segtax": 4},
                            "segment": [{"id": s} for s in got["segments"]]}]
    assert got["stats"] == {"calls": 3, "merged": 1, "empty": 0, "timeouts": 0, "failed": 2}
    assert len(got["warnings"]) == 1 and "rtdcs" in got["warnings"][0], got["warnings"]
