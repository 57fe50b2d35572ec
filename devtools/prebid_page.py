"""A publisher page running a real Prebid.js build with the rtdcs RTD submodule, for the e2e
test (``tests/e2e/test_prebid_browser.py``) and the bench (``bench/prebid_auction.py``).

The page is made of ``docs/destinations.md``'s Prebid snippets, verbatim except for the DCS
origin (``https://dcs.example.com`` becomes the stack's), then one ad unit for the bundle's
OpenRTB bidder and an auction that records how long the RTD module held it: from
``requestBids`` to Prebid's ``auctionInit`` event. The bundles, their bidder and its endpoint
come from ``tests/fixtures/prebid/manifest.json`` (built by ``devtools/prebid/build_prebid.sh``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DOC = REPO_ROOT / "docs" / "destinations.md"
FIXTURES = REPO_ROOT / "tests" / "fixtures" / "prebid"
DOC_DCS_ORIGIN = "https://dcs.example.com"
AUCTION_DELAY_MS = 300  # the documented config's auctionDelay (checked against the doc)

_SNIPPET = re.compile(r"<!-- prebid-snippet: (\w+) -->\n```\w*\n(.*?)\n```", re.S)

# Bidder params that make each adapter's ad unit valid (what a publisher would configure).
BIDDER_PARAMS: dict[str, dict[str, Any]] = {
    "openx": {"unit": "539439964", "delDomain": "se-demo-d.openx.net"},
}

# A stale rtdcs entry from the publisher's own config (replaced) and another provider's (kept).
STALE_USER_DATA = [
    {"name": "rtdcs", "segment": [{"id": "stale"}]},
    {"name": "other.example", "segment": [{"id": "x"}]},
]


def doc_snippets(doc: Path = DOC) -> dict[str, str]:
    """The ``<!-- prebid-snippet: NAME -->`` code blocks of the doc, by name."""
    return {name: code for name, code in _SNIPPET.findall(doc.read_text())}


def bundles(fixtures: Path = FIXTURES) -> list[dict[str, Any]]:
    """The manifest's bundles, each with its ``path``, ``bidderCode`` and ``bidderEndpoint``."""
    manifest = json.loads((fixtures / "manifest.json").read_text())
    return [dict(entry, path=str(fixtures / entry["file"]), bidderCode=entry["bidder"]["code"],
                 bidderEndpoint=entry["bidder"]["endpoint"])
            for entry in manifest["bundles"]]


def auction_page(dcs_url: str, bundle_url: str, bidder: str, *, with_tag: bool = True,
                 stale_entries: bool = True) -> str:
    """The publisher page: the doc's tag snippet (unless ``with_tag`` is false), the Prebid
    bundle, the doc's config snippet, and one auction. ``window.__auction`` holds
    ``{delayMs, auctionInit, bidsBack}`` as the auction goes; ``window.__sent`` the tag's
    ``send()`` outcome and how long it took from navigation start."""
    snippets = doc_snippets()
    tag = snippets["tag"].replace(DOC_DCS_ORIGIN, dcs_url.rstrip("/"))
    if with_tag:  # when the doc's send() settles (ms from navigation start), left as it is
        tag += ("\n<script>rtdcs.ready && rtdcs.ready(60000).then(function (outcome) {"
                " window.__sent = {outcome: outcome, ms: performance.now()}; });</script>")
    config = snippets["config"]
    stale = json.dumps(STALE_USER_DATA if stale_entries else [])
    unit = json.dumps([{
        "code": "div-1",
        "mediaTypes": {"banner": {"sizes": [[300, 250]]}},
        "bids": [{"bidder": bidder, "params": BIDDER_PARAMS[bidder]}],
    }])
    auction = f"""
<script>
  window.__auction = {{}};
  pbjs.que.push(function () {{
    pbjs.setConfig({{ortb2: {{user: {{data: {stale}}}}}}});
    pbjs.addAdUnits({unit});
    pbjs.onEvent('auctionInit', function () {{
      if (window.__auction.auctionInit === undefined) {{
        window.__auction.auctionInit = performance.now();
        window.__auction.delayMs = window.__auction.auctionInit - window.__auction.requested;
      }}
    }});
    window.__auction.requested = performance.now();
    pbjs.requestBids({{timeout: 1000, bidsBackHandler: function () {{
      window.__auction.bidsBack = performance.now();
    }}}});
  }});
</script>"""
    parts = [
        "<!doctype html><html><head><title>prebid publisher</title>",
        tag if with_tag else "",
        f'<script async src="{bundle_url}"></script>',
        "<script>window.pbjs = window.pbjs || {que: []};</script>",
        f"<script>\n{config}\n</script>",
        auction,
        "</head><body><div id='div-1'></div></body></html>",
    ]
    return "\n".join(parts)


def documented_auction_delay() -> int:
    """The ``auctionDelay`` of the doc's config snippet."""
    found = re.search(r"auctionDelay:\s*(\d+)", doc_snippets()["config"])
    if not found:
        raise ValueError("docs/destinations.md's Prebid config has no auctionDelay")
    return int(found.group(1))
