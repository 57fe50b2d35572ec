"""The page tag in a real browser: demo page, iframe and cors transports, postMessage checks.

Runs headless Debian Chromium (tests/e2e/conftest.py) against the local stack: ``chalice local``,
DynamoDB on a moto server and the provider simulator (tests/fixtures_stack.py). A publisher's
page on another site is the ``publisher`` fixture (tests/e2e/conftest.py): the other loopback
name, so another origin and another site than the DCS.
"""

from __future__ import annotations

import re
import time
import urllib.parse

import pytest

pytestmark = pytest.mark.e2e

WAIT_MS = 15_000
UUID = re.compile(r"[0-9]{38}")

# Stand-ins for an IAB TCF v2 CMP (window.__tcfapi), by name.
_CMPS = {
    "no-cmp": "",
    "gdpr-not-applicable": """(cmd, version, cb) => {
        if (cmd === 'addEventListener')
            cb({gdprApplies: false, eventStatus: 'tcloaded', listenerId: 1}, true);
    }""",
    "gdpr-applies": """(cmd, version, cb) => {
        if (cmd !== 'addEventListener') return;
        cb({gdprApplies: true, eventStatus: 'cmpuishown', listenerId: 1}, true);
        setTimeout(() => cb({gdprApplies: true, eventStatus: 'useractioncomplete',
                             tcString: 'not-a-tc-string', listenerId: 1}, true), 50);
    }""",
    "silent-cmp": "() => {}",
}
_CMP_PARAMS = {
    "no-cmp": "",
    "gdpr-not-applicable": "gdpr=0&",
    "gdpr-applies": "gdpr=1&gdpr_consent=not-a-tc-string&",
    "silent-cmp": "",
}


@pytest.fixture
def fast_providers(sim):  # type: ignore[no-untyped-def]
    """Both providers answer quickly, well inside the real-time budget (``sim`` resets them)."""
    sim.update("fast", latency_ms=30, jitter_ms=0, mode="ok")
    sim.update("slow", latency_ms=30, jitter_ms=0, mode="ok")
    return sim


def _path(url: str) -> str:
    return urllib.parse.urlsplit(url).path


def _netloc(url: str) -> str:
    return urllib.parse.urlsplit(url).netloc


def _requests(page, path_part: str) -> list:  # type: ignore[no-untyped-def]
    """Every request the page (any frame) makes whose path contains ``path_part``, live."""
    seen: list = []
    page.on("request", lambda r: seen.append(r) if path_part in _path(r.url) else None)
    return seen


def _wait_rendered(page, count: int = 1) -> None:  # type: ignore[no-untyped-def]
    """Wait until the demo rendered ``count`` responses (or failed)."""
    page.wait_for_function(
        """n => document.body.dataset.state === 'error'
                || Number(document.body.dataset.count || 0) >= n""",
        arg=count,
        timeout=WAIT_MS,
    )
    state = page.get_attribute("body", "data-state")
    assert state == "done", (
        f"demo page ended in state {state!r}: {page.text_content('#status')!r}, "
        f"errors {page.text_content('#errors')!r}; {page.context.log}"
    )


def _segments(page) -> dict[int, str]:  # type: ignore[no-untyped-def]
    """Rendered segments: sid -> data-from-provider."""
    pairs = page.eval_on_selector_all(
        "#segments li[data-sid]", "lis => lis.map(li => [li.dataset.sid, li.dataset.fromProvider])"
    )
    return {int(sid): flag for sid, flag in pairs}


def _traits(page) -> set[int]:  # type: ignore[no-untyped-def]
    sids = page.eval_on_selector_all("#traits li[data-sid]", "lis => lis.map(li => li.dataset.sid)")
    return {int(s) for s in sids}


def test_demo_iframe_transport_shows_realtime_segments(  # type: ignore[no-untyped-def]
    page, local_stack, stack_dynamodb, fast_providers
):
    dcs = local_stack.dcs_url
    events = _requests(page, "/event")

    page.goto(f"{dcs}/demo?c_section=sports")
    _wait_rendered(page)

    # The event went through the dest.html iframe, as a form POST.
    assert len(events) == 1, "one /event request on load"
    assert events[0].method == "POST"
    assert _path(events[0].frame.url) == "/dest.html", events[0].frame.url

    segments = _segments(page)
    assert {5001, 5002} <= set(segments), segments
    assert segments[5001] == "0", "5001 (1001T) comes from a site rule, not a provider"
    assert segments[5002] == "1", "5002 (2001T) comes from FastData's real-time answer"
    assert segments.get(5003) == "1", "5003 (1001T AND 2002T) needs FastData's sports-fan answer"
    assert "FastData" in page.text_content('#segments li[data-sid="5002"] .badge')
    assert {1001, 2001, 2002} <= _traits(page)

    # Provider latencies, parsed from Server-Timing.
    row = page.locator('#providers tr[data-pid="1"]')
    assert row.count() == 1, page.inner_html("#providers")
    assert row.locator(".name").text_content() == "FastData"
    assert row.get_attribute("data-outcome") == "answered"
    assert 0 <= float(row.locator(".ms").text_content()) < 1000

    # The cookie destination, written by the tag as a first-party cookie.
    cookies = {c["name"]: c for c in page.context.cookies(dcs)}
    assert "rtdcs_segs" in cookies, sorted(cookies)
    value = urllib.parse.unquote(cookies["rtdcs_segs"]["value"])
    assert value.startswith("seg=") and "auto" in value[4:].split(","), value
    assert abs(cookies["rtdcs_segs"]["expires"] - (time.time() + 30 * 86400)) < 600
    assert page.locator('#cookies li[data-name="rtdcs_segs"]').count() == 1

    # The UUID: shown on the page, set as the DCS cookie, stored as a profile.
    uuid = page.text_content("#uuid").strip()
    assert UUID.fullmatch(uuid), uuid
    assert cookies.get("rtdcs_uuid", {}).get("value") == uuid
    table = stack_dynamodb.Table(local_stack.tables["profiles"])
    assert "Item" in table.get_item(Key={"uuid": uuid}), f"no profile stored for {uuid}"
    raw = page.text_content("#raw")
    assert uuid in raw and "Server-Timing:" in raw

    # A second event from the form: same visitor (cookie sent by the iframe), stored segments stay.
    page.select_option("#c_section", "news")
    page.click("#send")
    _wait_rendered(page, count=2)
    assert page.text_content("#uuid").strip() == uuid
    assert 1001 not in _traits(page), "c_section=news does not realize 1001"
    assert 5001 in _segments(page), "5001 stays: 1001 was realized by the first event"
    assert len(events) == 2


def test_demo_cors_transport(page, local_stack, fast_providers):  # type: ignore[no-untyped-def]
    dcs = local_stack.dcs_url
    events = _requests(page, "/event")

    page.goto(f"{dcs}/demo?c_section=sports&transport=cors")
    _wait_rendered(page)

    assert [(r.method, r.frame.url) for r in events] == [("POST", page.url)]
    segments = _segments(page)
    assert {5001, 5002} <= set(segments), segments
    assert segments[5002] == "1"
    assert UUID.fullmatch(page.text_content("#uuid").strip())
    assert page.locator('#providers tr[data-pid="1"]').get_attribute("data-outcome") == "answered"
    assert "rtdcs_segs" in {c["name"] for c in page.context.cookies(dcs)}


def test_publisher_page_on_another_site_gets_segments(  # type: ignore[no-untyped-def]
    page, local_stack, publisher, fast_providers
):
    """The mission's flow: a page on another site loads the tag from the DCS; iframe transport."""
    events = _requests(page, "/event")
    page.goto(f"{publisher}/tagged.html")

    res = page.evaluate(
        """async () => {
            const r = await window.rtdcs.send({c_section: 'sports', d_cts: 1});
            return {uuid: r.uuid, segments: r.segments, serverTiming: r.serverTiming,
                    keys: Object.keys(r)};
        }"""
    )
    assert UUID.fullmatch(res["uuid"])
    assert {5001, 5002} <= set(res["segments"]), res
    assert "rt-1;" in res["serverTiming"]
    assert "serverTiming" not in res["keys"], "serverTiming must not be enumerable"
    assert [_netloc(r.frame.url) for r in events] == [_netloc(local_stack.dcs_url)], (
        "the event is sent by the dest.html iframe on the DCS origin"
    )
    # The cookie destination is first-party to the publisher's page.
    cookies = {c["name"]: c["value"] for c in page.context.cookies(publisher)}
    assert "auto" in urllib.parse.unquote(cookies["rtdcs_segs"])


def test_publisher_page_on_another_site_cors_transport(  # type: ignore[no-untyped-def]
    page, local_stack, publisher, fast_providers
):
    """cors transport across sites: a simple POST (no preflight), Server-Timing readable."""
    events = _requests(page, "/event")
    page.goto(f"{publisher}/tagged.html")

    res = page.evaluate(
        """async () => {
            // The chainable form: init(options).signals(...).submit(callback).
            const r = await new Promise((resolve, reject) => window.rtdcs.init({transport: 'cors'})
                .signals({c_section: 'sports'}).signals({d_cts: 1})
                .submit((err, res) => err ? reject(err) : resolve(res)));
            return {uuid: r.uuid, segments: r.segments, serverTiming: r.serverTiming,
                    frames: document.querySelectorAll('iframe').length};
        }"""
    )
    assert UUID.fullmatch(res["uuid"])
    assert {5001, 5002} <= set(res["segments"]), res
    assert "rt-1;" in res["serverTiming"], "Server-Timing must be exposed to the page by CORS"
    assert [(r.method, r.frame.url) for r in events] == [("POST", f"{publisher}/tagged.html")]
    # A form content type and no custom header: a CORS "simple" request, so no preflight.
    assert events[0].headers.get("content-type") == "application/x-www-form-urlencoded"
    assert res["frames"] == 0, "nothing to fire: the cors transport creates no iframe"
    cookies = {c["name"]: c["value"] for c in page.context.cookies(publisher)}
    assert "auto" in urllib.parse.unquote(cookies["rtdcs_segs"])


def test_tag_ignores_forged_result_posted_by_the_page(page, local_stack):  # type: ignore[no-untyped-def]
    """A result message from a window other than the tag's iframe is dropped (source check)."""
    page.goto(f"{local_stack.dcs_url}/demo?autosend=0")
    page.wait_for_selector('body[data-state="idle"]')

    res = page.evaluate(
        """async () => {
            const pending = window.rtdcs.send({c_section: 'sports', d_cts: 1});
            await new Promise(r => setTimeout(r, 0));
            const json = {uuid: 'forged', segments: [999],
                          stuff: [{cn: 'forged', cv: '1', ttl: 1, dmn: ''}]};
            for (let id = 0; id <= 20; id++) {
                const result = {id, status: 200, json, serverTiming: ''};
                window.postMessage({rtdcs: 1, result}, '*');
            }
            const r = await pending;
            return {uuid: r.uuid, segments: r.segments, cookie: document.cookie};
        }"""
    )
    assert UUID.fullmatch(res["uuid"]), res
    assert 999 not in res["segments"]
    assert "forged=" not in res["cookie"]


def test_tag_ignores_result_from_a_foreign_origin_in_its_iframe(  # type: ignore[no-untyped-def]
    page, local_stack, publisher
):
    """The tag's iframe navigated off the DCS origin: its messages are dropped (origin check)."""
    page.goto(f"{publisher}/tagged.html")
    page.evaluate("() => window.rtdcs.send({d_cts: 1})")  # creates the iframe; a real answer

    # Any origin but the DCS's will do; the navigated frame keeps its WindowProxy (same source).
    foreign_url = f"{publisher}/foreign.html"
    page.evaluate(
        """url => {
            window.__foreignResults = 0;
            window.addEventListener('message', e => {
                if (e.origin === new URL(url).origin && e.data && e.data.result) {
                    window.__foreignResults++;
                }
            });
            document.querySelector('iframe[src*="dest.html"]').src = url;
        }""",
        foreign_url,
    )
    deadline = time.monotonic() + WAIT_MS / 1000
    frame = None
    while frame is None and time.monotonic() < deadline:
        frame = next((f for f in page.frames if f.url == foreign_url), None)
        if frame is None:
            page.wait_for_timeout(50)
    assert frame is not None, [f.url for f in page.frames]
    frame.wait_for_load_state()

    page.evaluate(
        """() => {
            window.__outcome = window.rtdcs.send({d_cts: 1}, {timeout: 1500}).then(
                r => 'resolved:' + JSON.stringify(r), e => 'rejected:' + e.message);
        }"""
    )
    frame.evaluate(
        """() => {
            const json = {uuid: 'forged', segments: [999], stuff: []};
            for (let id = 0; id <= 20; id++) {
                const result = {id, status: 200, json, serverTiming: ''};
                parent.postMessage({rtdcs: 1, result}, '*');
            }
        }"""
    )
    outcome = page.evaluate("() => window.__outcome")
    assert page.evaluate("() => window.__foreignResults") == 21, "forged messages were delivered"
    assert outcome.startswith("rejected:") and "1500 ms" in outcome, outcome


@pytest.mark.parametrize("hash_is_true", [True, False], ids=["names-parent", "names-other"])
def test_dest_iframe_serves_only_the_page_origin_in_its_hash(  # type: ignore[no-untyped-def]
    page, local_stack, publisher, hash_is_true
):
    """dest.html answers and fires only for a parent whose origin its hash names; https only."""
    dcs = local_stack.dcs_url
    url = f"{publisher}/blank.html"
    events = _requests(page, "/event")
    pixels = _requests(page, "/px-")
    page.goto(url)

    claimed = url if hash_is_true else f"{dcs}/not-the-parent.html"
    got = page.evaluate(
        """([dcs, claimed]) => new Promise(resolve => {
            const seen = [];
            window.addEventListener('message', e => {
                if (e.data && e.data.rtdcs === 1) seen.push({origin: e.origin, data: e.data});
            });
            const host = new URL(dcs).host;
            const f = document.createElement('iframe');
            f.src = dcs + '/dest.html?d_nsid=0#' + encodeURIComponent(claimed);
            f.onload = () => {
                const w = f.contentWindow;
                w.postMessage({rtdcs: 1, event: {id: 7, body: 'd_rtbd=json&d_cts=1'}}, '*');
                const fire = [{tag: 'img', url: 'http://' + host + '/px-http'},
                              {tag: 'img', url: 'https://' + host + '/px-https'}];
                w.postMessage({rtdcs: 1, fire}, '*');
                setTimeout(() => resolve(seen), 2000);
            };
            document.body.appendChild(f);
        })""",
        [dcs, claimed],
    )
    results = [m for m in got if "result" in m["data"]]
    fired = [_path(r.url) for r in pixels]
    if hash_is_true:
        assert any(m["data"].get("ready") for m in got), got
        assert len(results) == 1 and results[0]["origin"] == dcs, got
        result = results[0]["data"]["result"]
        assert result["id"] == 7 and result["status"] == 200
        assert UUID.fullmatch(result["json"]["uuid"])
        assert len(events) == 1
        assert fired == ["/px-https"], "dest.html fires https: URLs only"
    else:
        assert got == [], "dest.html must not talk to a parent its hash does not name"
        assert events == [], "dest.html must not call /event for a foreign parent"
        assert fired == [], "dest.html must not fire for a foreign parent"


@pytest.mark.parametrize("cmp", list(_CMPS))
def test_tag_request_body_and_consent(page, local_stack, publisher, cmp):  # type: ignore[no-untyped-def]
    """Form body: control keys first, arrays as repeated keys; gdpr from __tcfapi if present."""
    events = _requests(page, "/event")
    page.goto(f"{publisher}/tagged.html")
    res = page.evaluate(
        """async (cmp) => {
            if (cmp) window.__tcfapi = eval('(' + cmp + ')');
            const t0 = performance.now();
            const r = await window.rtdcs.send(
                {c_tags: ['a', 'b,c'], c_n: 5, c_skip: null, d_cts: 1},
                {transport: 'cors', cmpTimeout: 300});
            return {ms: performance.now() - t0, uuid: r.uuid || null};
        }""",
        _CMPS[cmp],
    )
    assert [r.post_data for r in events] == [
        f"d_rtbd=json&d_dst=1&d_jsonv=1&d_nsid=0&{_CMP_PARAMS[cmp]}"
        "c_tags=a&c_tags=b%2Cc&c_n=5&d_cts=1"
    ]
    if cmp == "silent-cmp":
        assert res["ms"] >= 290, "the tag waits cmpTimeout for a CMP that does not answer"
    if cmp != "gdpr-applies":  # with gdpr=1 and a bogus TC string the DCS stops the request
        assert UUID.fullmatch(res["uuid"]), res


def test_tag_fires_dests_and_syncs_https_only(page, local_stack, publisher):  # type: ignore[no-untyped-def]
    """dests and syncOnPage:0 syncs fire from dest.html, syncOnPage:1 from the page; https only."""
    dcs = local_stack.dcs_url
    pixel = f"https://{_netloc(dcs)}/px-"  # loopback; the TLS handshake fails, harmlessly
    insecure = "http://127.0.0.1:9/px-insecure"

    def sync(sid: str, on_page: int, url: str) -> dict[str, object]:
        return {"id": sid, "ttl": 1, "tag": "img", "fireURLSync": 1, "syncOnPage": on_page,
                "url": [url]}  # fmt: skip

    extra = {
        "dests": [
            {"id": "52-5001", "y": "img", "c": pixel + "dest-img"},
            {"id": "53", "y": "iframe", "c": insecure, "e": pixel + "dest-frame"},
            {"id": "54", "y": "img", "c": "javascript:alert(1)"},
        ],
        "ibs": [
            sync("9001", 0, pixel + "sync-frame"),
            sync("9002", 1, pixel + "sync-page"),
            sync("9003", 0, insecure),
        ],
    }

    def add_destinations(route) -> None:  # type: ignore[no-untyped-def]
        response = route.fetch()
        route.fulfill(response=response, json=dict(response.json(), **extra))

    page.route("**/event", add_destinations)
    pixels = _requests(page, "/px-")
    page.goto(f"{publisher}/tagged.html")
    page.evaluate("() => window.rtdcs.send({d_cts: 1}, {transport: 'cors'})")
    deadline = time.monotonic() + 5
    while len(pixels) < 4 and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    page.wait_for_timeout(300)  # anything else would have fired by now

    fired = {_path(r.url): r.frame.url for r in pixels}
    assert len(pixels) == 4 and sorted(fired) == [
        "/px-dest-frame", "/px-dest-img", "/px-sync-frame", "/px-sync-page"
    ], fired  # fmt: skip
    assert _netloc(fired["/px-dest-img"]) == _netloc(dcs), "dests fire from dest.html"
    assert _netloc(fired["/px-sync-frame"]) == _netloc(dcs), "syncOnPage 0 fires from dest.html"
    assert fired["/px-sync-page"] == f"{publisher}/tagged.html", "syncOnPage 1 fires on the page"
