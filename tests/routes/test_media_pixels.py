"""Media pixels on /event (dcs-protocol.md 4.9): impressions are events answered with the GIF;
clicks redirect to an allowed d_rd after macro substitution, or answer 903 and the GIF."""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import quote

import pytest

from chalicelib.store.profiles import profile_from_item
from tests.ddb_hooks import WRITES, dynamodb_calls

GIF_ACCEPT = {"Accept": "image/*"}


@pytest.fixture
def click_domains(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RTDCS_CLICK_REDIRECT_DOMAINS", "ads.example,*.brand.example")


def _uuid_of(profiles_table: Any) -> list[dict[str, Any]]:
    return profiles_table.scan()["Items"]


def test_an_impression_is_an_event_answered_with_the_gif(client: Any, profiles_table: Any) -> None:
    response = client.http.get(
        "/event?d_event=imp&d_rtbd=json&d_src=77&d_creative=9&c_section=sports",
        headers=GIF_ACCEPT)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/gif"  # d_rtbd=json is ignored
    assert "rtdcs_uuid=" in str(response.headers.get("Set-Cookie", ""))
    (item,) = _uuid_of(profiles_table)
    assert 1001 in profile_from_item(item, time.time()).traits  # c_section=sports realized its rule-based trait


def test_an_impression_without_consent_stores_nothing(
    client: Any, profiles_table: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RTDCS_TCF_VENDOR_ID", "1001")
    with dynamodb_calls() as calls:
        response = client.http.get("/event?d_event=imp&gdpr=1&c_section=sports",
                                   headers=GIF_ACCEPT)
    assert response.headers["Content-Type"] == "image/gif"
    assert "315" in response.headers["X-Error"]
    assert sum(c in WRITES for c in calls) == 0 and _uuid_of(profiles_table) == []


def test_a_click_redirects_with_its_macros_encoded(
    client: Any, click_domains: None, profiles_table: Any
) -> None:
    target = ("https://ads.example/land?c=%d_creative%&s=%d_site%&p=%d_placement%"
              "&r=%r_rand%&g=${gdpr}&reg=%d_region%&keep=%2F")
    with dynamodb_calls() as calls:
        response = client.http.get(
            f"/event?d_event=click&d_rd={quote(target, safe='')}&d_creative=a%20b&d_site=s/1")
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith("https://ads.example/land?c=a%20b&s=s%2F1&p=&r=")
    assert re.search(r"&r=\d+&g=0&reg=7&keep=%2F$", location), location
    assert calls == [] and _uuid_of(profiles_table) == []  # a click is not an event


def test_a_click_to_a_subdomain_of_a_wildcard_is_allowed(client: Any, click_domains: None) -> None:
    response = client.http.get(
        f"/event?d_event=click&d_rd={quote('http://shop.brand.example/x', safe='')}")
    assert response.status_code == 302
    assert response.headers["Location"] == "http://shop.brand.example/x"


@pytest.mark.parametrize("target", [
    "https://evil.example/",  # host not allowed
    "javascript:alert(1)",  # not http(s)
    "https://user:pw@ads.example/",  # credentials
    "//ads.example/relative",  # not absolute
    "https://evil.example\\.brand.example/",  # browsers read "\\" as "/": host evil.example
    "https://ads.example/\r\nSet-Cookie: a=b",  # would split the Location header
    "https://ads.example/\tx",  # browsers drop tabs; refused rather than guessed
])
def test_a_click_to_anywhere_else_is_903_and_the_gif(
    client: Any, click_domains: None, target: str
) -> None:
    response = client.http.get(f"/event?d_event=click&d_rd={quote(target, safe='')}",
                               headers=GIF_ACCEPT)
    assert response.status_code == 200 and "Location" not in response.headers
    assert response.headers["X-Error"] == "903"
    assert response.headers["Content-Type"] == "image/gif"


def test_no_click_domains_configured_means_no_redirect(client: Any) -> None:
    response = client.http.get(
        f"/event?d_event=click&d_rd={quote('https://ads.example/', safe='')}",
        headers=GIF_ACCEPT)
    assert response.status_code == 200 and response.headers["X-Error"] == "903"


def test_a_click_without_d_rd_is_the_gif(client: Any, click_domains: None) -> None:
    response = client.http.get("/event?d_event=click&d_creative=1", headers=GIF_ACCEPT)
    assert response.status_code == 200 and "X-Error" not in response.headers
    assert response.headers["Content-Type"] == "image/gif"
