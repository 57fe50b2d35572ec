"""The demo page shows which profiles an event's segments were evaluated over (identity.md 3):
a segment under a ``current``/``current`` merge rule, realized on one device while logged in,
qualifies on another device that logs in with the same ID, and the page says it was evaluated
over "device + authenticated". The catalog objects are removed again afterwards."""

from __future__ import annotations

import time
import urllib.parse
from typing import Any, Iterator

import pytest

pytestmark = pytest.mark.e2e
WAIT_MS = 15_000


class _Admin:
    def __init__(self, http: Any, url: str, token: str) -> None:
        self.http, self.url = http, url
        self.headers = {"Authorization": f"Bearer {token}"}

    def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = self.http.post(self.url + path, json=body, headers=self.headers, timeout=10)
        assert answer.status_code == 201, answer.text
        return dict(answer.json())

    def delete(self, path: str) -> None:
        answer = self.http.delete(self.url + path, headers=self.headers, timeout=10)
        assert answer.status_code == 204, answer.text


@pytest.fixture
def merge_catalog(local_stack: Any, stack_http: Any) -> Iterator[dict[str, int]]:
    admin = _Admin(stack_http, local_stack.dcs_url, local_stack.admin_token)
    source = admin.create("/v1/datasources", {"name": "Demo CRM", "idType": "CROSS_DEVICE"})
    ds = source["dataSourceId"]
    trait = admin.create("/v1/traits", {"name": "Cross-device reader", "dataSourceId": 1,
                                        "traitType": "RULE_BASED_TRAIT",
                                        "traitRule": 'c_xdemo == "yes"'})
    rule = admin.create("/v1/mergerules", {"name": "Logged in", "crossDeviceDataSources": [ds]})
    segment = admin.create("/v1/segments", {"name": "Cross-device readers",
                                            "segmentRule": f"{trait['sid']}T",
                                            "mergeRuleId": rule["mergeRuleId"]})
    time.sleep(float(local_stack.env.get("RTDCS_CATALOG_REFRESH_SECONDS", "2")) + 1.0)
    try:
        yield {"ds": ds, "segment": segment["sid"]}
    finally:
        admin.delete(f"/v1/segments/{segment['sid']}")
        admin.delete(f"/v1/mergerules/{rule['mergeRuleId']}")
        admin.delete(f"/v1/traits/{trait['sid']}")
        admin.delete(f"/v1/datasources/{ds}")


def _send(browser_context: Any, dcs: str, query: str) -> Any:
    page = browser_context.new_page()
    page.goto(f"{dcs}/demo?transport=cors&{query}")
    page.wait_for_function("() => document.body.dataset.state === 'done' || "
                           "document.body.dataset.state === 'error'", timeout=WAIT_MS)
    assert page.get_attribute("body", "data-state") == "done", page.text_content("#status")
    return page


def test_demo_shows_the_profiles_a_segment_was_evaluated_over(  # type: ignore[no-untyped-def]
    browser, local_stack, merge_catalog
):
    from tests.e2e.conftest import guarded_context

    dcs, ds, sid = local_stack.dcs_url, merge_catalog["ds"], merge_catalog["segment"]
    login = urllib.parse.quote(f"{ds}\x01user-demo\x011", safe="")
    with guarded_context(browser) as device_a:  # logs in and realizes the trait
        page = _send(device_a, dcs, f"c_xdemo=yes&d_cid={login}")
        li = page.locator(f'#segments li[data-sid="{sid}"]')
        assert li.get_attribute("data-profiles") == "device + authenticated"
    with guarded_context(browser) as device_b:  # another device, same login, no trait
        page = _send(device_b, dcs, f"c_section=sports&d_cid={login}")
        li = page.locator(f'#segments li[data-sid="{sid}"]')
        assert li.count() == 1, page.inner_html("#segments")
        assert li.get_attribute("data-profiles") == "device + authenticated"
        assert "over device + authenticated" in li.text_content()
        other = page.locator('#segments li[data-sid="5001"]')  # the default: device only
        assert other.get_attribute("data-profiles") == "device"
