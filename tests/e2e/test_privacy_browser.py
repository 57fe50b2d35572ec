"""The tag reads a GPP CMP (window.__gpp, CMP API 1.1) and the DCS honours it (issue 14).

A publisher page (another site than the DCS) carries a stand-in CMP: ``ping`` first answers
"not ready", then an ``addEventListener`` event gives the string. With a ``usnat`` opt-out of
sale the real-time providers get no call and the answer says 905; the same page with a string
without an opt-out calls them. The strings are IAB reference-decoder vectors.
"""

from __future__ import annotations

import urllib.parse

import pytest

from tests.gpp_vectors import BY_ID

SALE_OPT_OUT = BY_ID["probe-usnat-sale-optout"]["gpp"]
NO_OPT_OUT = BY_ID["probe-usnat-all-notices-no-optout"]["gpp"]

# A stand-in GPP CMP: not ready at first ping, ready 50 ms later through the listener.
_GPP_CMP = """(gpp) => {
    const listeners = [];
    const ping = (ready) => ({gppVersion: '1.1', cmpStatus: 'loaded',
        signalStatus: ready ? 'ready' : 'not ready', gppString: ready ? gpp : '',
        applicableSections: ready ? [7] : [-1]});
    window.__gpp = (command, callback) => {
        if (command === 'ping') callback(ping(false), true);
        if (command === 'addEventListener') {
            listeners.push(callback);
            setTimeout(() => listeners.forEach(cb => cb(
                {eventName: 'signalStatus', listenerId: 1, data: 'ready',
                 pingData: ping(true)}, true)), 50);
        }
    };
}"""


def _send(page, publisher: str, gpp: str) -> dict:  # type: ignore[no-untyped-def]
    page.goto(f"{publisher}/tagged.html")
    return dict(page.evaluate(
        """async ([cmp, gpp]) => {
            eval('(' + cmp + ')')(gpp);
            const r = await window.rtdcs.send({c_section: 'sports', d_cts: 1},
                                              {transport: 'cors', cmpTimeout: 1000});
            return {errors: (r.errors || []).map(e => e.code), segments: r.segments || []};
        }""",
        [_GPP_CMP, gpp],
    ))


@pytest.mark.parametrize(("gpp", "called"), [(SALE_OPT_OUT, False), (NO_OPT_OUT, True)],
                         ids=["usnat-sale-opt-out", "no-opt-out"])
def test_a_gpp_cmp_on_the_page_decides_the_provider_calls(  # type: ignore[no-untyped-def]
    page, local_stack, publisher, sim, gpp, called
) -> None:
    sim.update("fast", latency_ms=10, jitter_ms=0, mode="ok")
    events = []
    page.on("request", lambda r: events.append(r) if r.url.split("?")[0].endswith("/event")
            else None)
    before = sum(sim.calls().values())
    result = _send(page, publisher, gpp)
    (request,) = events
    body = urllib.parse.parse_qs(request.post_data)
    assert body["gpp"] == [gpp] and body["gpp_sid"] == ["7"]  # read from the CMP
    assert (sum(sim.calls().values()) > before) is called
    assert (905 in result["errors"]) is not called
    assert 5001 in result["segments"]  # first party (c_section=sports) either way
