"""Concurrent events for one visitor lose nothing: 8 threads x 250 events, through the
pipeline and the profile store, against a loopback moto server (real HTTP, real threads).

Each write is a PutItem conditional on the version its event read; a write that lost the race
is applied again to the item DynamoDB returned with the failure (docs/profile-storage.md), so
the realization count is exact however the 2,000 events interleave.

DynamoDB applies each request to an item atomically. moto applies a request as a
read-modify-write in Python, so its *threaded* server loses concurrent updates by itself (8
threads x 150 ``SET r = :big, ADD n :one`` ended at n = 1084 of 1200 here). The server below
is moto's app on a werkzeug server that handles one request at a time: each request is
atomic, as in DynamoDB, while the 8 clients still interleave their reads and writes freely.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

from chalicelib.runtime import services
from chalicelib.dcs.ids import new_uuid
from chalicelib.dcs.params import parse_request
from chalicelib.pipeline import EventInput
from chalicelib.spool.codec import decode
from chalicelib.store.compaction import GUARD_KEEP
from chalicelib.store.profiles import profile_from_item
from devtools.seed import seed
from devtools.stack import free_port
from infra.bootstrap import create_data_stack, settings_env
from tests.infra.spool_kit import receive

pytestmark = pytest.mark.integration

THREADS = 8
EVENTS_PER_THREAD = 250
TRAIT = 1001  # demo catalog: c_section == "sports"


class SerialMotoServer(ThreadedMotoServer):
    """moto's server app, one request at a time (per-request atomicity, like DynamoDB)."""

    def _server_entry(self) -> None:
        app = DomainDispatcherApplication(create_backend_app)
        self._server = make_server(self._ip_address, self._port, app, threaded=False,
                                   request_handler=MotoRequestHandler)
        self._server_ready_event.set()
        self._server.serve_forever()


@pytest.fixture
def moto_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    port = free_port()
    server = SerialMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", url)
        session = boto3.session.Session(region_name="us-east-1")
        outputs = create_data_stack(session.client("cloudformation", endpoint_url=url),
                                    session.client("dynamodb", endpoint_url=url))
        for name, value in settings_env(outputs).items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("RTDCS_RT_BUDGET_MS", "0")  # no providers: storage under test
        seed(session.resource("dynamodb", endpoint_url=url).Table(outputs["catalog"]),
             "http://127.0.0.1:9")
        services.reset()
        yield url
    finally:
        services.reset()
        server.stop()


def test_eight_threads_one_visitor_counts_exact(moto_server: str) -> None:
    pipeline = services.get_services().pipeline
    settings = services.get_services().settings
    uuid = new_uuid()
    cookies = {settings.cookie_uuid_name: uuid}

    def run(_: int) -> list[int]:
        codes = []
        for _ in range(EVENTS_PER_THREAD):
            parsed = parse_request("/event", {"c_section": ["sports"], "d_rtbd": ["json"]})
            result = pipeline.handle(EventInput(parsed, cookies))
            assert result.fields.get("uuid") == uuid
            codes.extend(e.code for e in result.errors)
        return codes

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        codes = [c for batch in pool.map(run, range(THREADS)) for c in batch]

    assert codes == []  # no 200/201: every read and write went through
    # A write that lost the race 128 times in a row is spooled (not lost): replay it.
    sqs = boto3.client("sqs", endpoint_url=moto_server, region_name="us-east-1")
    spooled = 0
    while messages := receive(sqs, settings.spool_queue_url, visibility_timeout=30):
        for message in messages:
            write = decode(message["Body"])
            assert services.get_services().profiles.replay(write.uuid, write.changes) in (
                "replayed", "merged")
            sqs.delete_message(QueueUrl=settings.spool_queue_url,
                               ReceiptHandle=message["ReceiptHandle"])
            spooled += 1
    print(f"concurrency: {spooled} of {THREADS * EVENTS_PER_THREAD} writes spooled")
    assert spooled <= THREADS  # rare: a handful at most
    table = boto3.resource("dynamodb", endpoint_url=moto_server, region_name="us-east-1").Table(
        settings.profiles_table)
    item: dict[str, Any] = table.get_item(Key={"uuid": uuid}, ConsistentRead=True)["Item"]
    total = THREADS * EVENTS_PER_THREAD
    profile = profile_from_item(item, time.time())
    assert profile.traits[TRAIT].count == total  # every realization counted once
    assert int(item["v"]) == total  # one write landed per event, none twice
    events = [event_id for _, event_id in profile.guard.entries]
    assert len(events) == len(set(events)) == GUARD_KEEP  # the guard is bounded
