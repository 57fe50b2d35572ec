"""Server-side requests never go to this machine, its network or the metadata service
(issue 13, defect 4): provider URLs, S2S destination URLs and OAuth token URLs are refused at
save time when their host is a loopback, link-local, private or otherwise non-public address,
or a local name, unless it is in RTDCS_PROVIDERS_HTTP_HOSTS."""

from __future__ import annotations

import pytest

from chalicelib.providers.addresses import address_problem
from tests.routes.test_admin_support import PROVIDER, Admin, admin  # noqa: F401 (fixtures)
from tests.routes.test_admin_validation import S2S

INTERNAL = [
    "https://169.254.169.254/latest/meta-data/", "https://127.0.0.2/x", "https://10.1.2.3/",
    "https://172.16.0.1/", "https://192.168.1.1/", "https://[::1]/", "https://[fd00::1]/",
    "https://[::ffff:169.254.169.254]/", "https://0.0.0.0/", "https://localhost/",
    "https://api.localhost/", "https://100.64.0.1/",
]


@pytest.mark.parametrize("url", INTERNAL)
def test_a_provider_url_on_an_internal_host_is_refused(admin: Admin, url: str) -> None:  # noqa: F811
    answer = admin.post("/v1/providers", {**PROVIDER, "url": url})
    assert answer.status == 400 and answer.error()["field"] == "url", answer.raw


@pytest.mark.parametrize("url", INTERNAL[:4])
def test_s2s_and_token_urls_on_internal_hosts_are_refused(admin: Admin, url: str) -> None:  # noqa: F811
    assert admin.post("/v1/destinations", {**S2S, "url": url}).error()["field"] == "url"
    oauth = {"type": "oauth2", "tokenUrl": url, "clientId": "c", "secretRef": "env:S"}
    answer = admin.post("/v1/destinations", {**S2S, "auth": oauth})
    assert answer.error()["field"] == "auth.tokenUrl"


def test_public_hosts_and_the_allow_listed_local_ones_are_accepted(admin: Admin) -> None:  # noqa: F811
    assert admin.post("/v1/providers", {**PROVIDER, "url": "https://rt.third.example/s"}
                      ).status == 201
    # The route tests list 127.0.0.1 in RTDCS_PROVIDERS_HTTP_HOSTS (the simulator's host).
    assert address_problem("127.0.0.1", ("127.0.0.1",)) is None
    assert address_problem("8.8.8.8") is None and address_problem("rt.example.com") is None
