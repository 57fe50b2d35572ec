"""The local SQS poller (devtools/sqs_poller.py) against a loopback moto server holding the
data stack (infra/data-stack.yaml): messages built with the app's own producers (the spool
codec through ``SqsSpool``, S2S plans through ``S2SQueue``) are delivered to the app's real
handlers by ``python -m devtools.sqs_poller``, as Lambda would; a failing batch is not deleted.

The poller under test runs as a child process with the environment ``chalice local`` gets
under ``make run`` (AWS_ENDPOINT_URL = the moto server, the RTDCS_* names from the stack), so
no handler cache of this test process is touched.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.moto_server.threaded_moto_server import ThreadedMotoServer

from chalicelib.destinations.s2s import plan_s2s
from chalicelib.destinations.s2s_delivery import S2SQueue
from chalicelib.rules.catalog import compile_catalog
from chalicelib.spool.codec import encode
from chalicelib.spool.queue import SqsSpool
from chalicelib.store.catalog import CatalogRepository
from chalicelib.store.profiles import ProfileChanges, new_stamp, profile_from_item
from devtools.seed import seed
from devtools.sqs_poller import (
    READY_MARKER,
    BatchResult,
    QueueSource,
    SqsPoller,
    is_loopback_url,
    main,
    resolve_sources,
    sqs_event_sources,
)
from devtools.stack import REPO_ROOT, free_port
from infra.bootstrap import create_data_stack, settings_env
from tests.routes.test_s2s_delivery import SECRET, Partner

UUID = "04817263550918273645501928374655610293"
START_TIMEOUT_S = 15.0
DELIVERY_TIMEOUT_S = 10.0
DESTINATION_ID = 70
DATA_SOURCE = 900
HMAC = {"type": "hmac", "algorithm": "sha256", "header": "X-Signature",
        "secretRef": "env:RTDCS_TEST_S2S_SECRET"}


@dataclass
class Moto:
    url: str
    outputs: dict[str, str]  # infra.bootstrap.create_data_stack's outputs
    session: Any

    def client(self, service: str) -> Any:
        return self.session.client(service, endpoint_url=self.url)

    def table(self, key: str) -> Any:
        return self.session.resource("dynamodb", endpoint_url=self.url).Table(self.outputs[key])

    def counts(self, key: str) -> tuple[int, int]:
        """(visible, in flight) messages of the queue ``outputs[key]``."""
        attributes = self.client("sqs").get_queue_attributes(
            QueueUrl=self.outputs[key],
            AttributeNames=["ApproximateNumberOfMessages",
                            "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return (int(attributes["ApproximateNumberOfMessages"]),
                int(attributes["ApproximateNumberOfMessagesNotVisible"]))


def _reset(url: str) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    opener.open(urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=5)


@pytest.fixture
def moto() -> Iterator[Moto]:
    """A moto server on a free loopback port with the data stack (tables, queues, DLQs)."""
    port = free_port(exclude=(8000, 5055, 8081))  # never the developer's `make run` ports
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    try:
        _reset(url)  # the backends are this process's: start from nothing
        session = boto3.session.Session(region_name="us-east-1")
        outputs = create_data_stack(session.client("cloudformation", endpoint_url=url),
                                    session.client("dynamodb", endpoint_url=url))
        yield Moto(url, outputs, session)
    finally:
        _reset(url)
        server.stop()


@pytest.fixture
def partner() -> Iterator[Partner]:
    server = Partner()  # a loopback S2S partner that checks HMAC and records each POST
    yield server
    server.close()


@dataclass
class PollerProcess:
    proc: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self, timeout_s: float = 5.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # this PID only
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=timeout_s)
        return int(self.proc.returncode)


@pytest.fixture
def start_poller(moto: Moto, tmp_path: Path) -> Iterator[Callable[..., PollerProcess]]:
    """Starts ``python -m devtools.sqs_poller`` with the stack's app environment."""
    started: list[PollerProcess] = []

    def start(*extra_args: str) -> PollerProcess:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("RTDCS_", "AWS_PROFILE", "AWS_ENDPOINT_URL"))}
        env.update(settings_env(moto.outputs))
        env.update({
            "AWS_ENDPOINT_URL": moto.url,
            "RTDCS_PROVIDERS_HTTP_HOSTS": "127.0.0.1",
            "RTDCS_S2S_TIMEOUT_SECONDS": "2",
            "RTDCS_S2S_RETRY_DELAY_SECONDS": "0",
            "RTDCS_TEST_S2S_SECRET": SECRET,
            "PYTHONUNBUFFERED": "1",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        })
        log_path = tmp_path / f"sqs-poller-{len(started)}.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "devtools.sqs_poller", "--stage", "local",
                 "--wait-seconds", "1", *extra_args],
                cwd=str(REPO_ROOT), env=env, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT,
            )
        poller = PollerProcess(proc, log_path)
        started.append(poller)
        deadline = time.monotonic() + START_TIMEOUT_S
        while READY_MARKER not in poller.log():
            assert proc.poll() is None, f"poller exited {proc.returncode}:\n{poller.log()}"
            assert time.monotonic() < deadline, f"poller not ready:\n{poller.log()}"
            time.sleep(0.05)
        return poller

    yield start
    for poller in started:
        poller.stop()


def _wait_for(condition: Callable[[], bool], poller: PollerProcess, what: str) -> None:
    deadline = time.monotonic() + DELIVERY_TIMEOUT_S
    while not condition():
        assert poller.proc.poll() is None, f"poller died:\n{poller.log()}"
        assert time.monotonic() < deadline, f"{what} not seen in time:\n{poller.log()}"
        time.sleep(0.05)


def _spooled_changes(now: float, event_id: str) -> ProfileChanges:
    return ProfileChanges(now=now, event_id=event_id, add_stamps={1001: new_stamp(now)},
                          segments=frozenset({5001}))


def _s2s_bodies(moto: Moto, partner_url: str, now: float) -> list[str]:
    """Adds an S2S destination (HMAC-signed, to ``partner_url``) to the demo catalog and
    plans the real-time message a visitor entering 5001 causes."""
    repo = CatalogRepository(moto.table("catalog"))
    seed(moto.table("catalog"), "http://127.0.0.1:9")
    repo.put("destination", DESTINATION_ID, {
        "destinationId": DESTINATION_ID, "name": "DSP", "destinationType": "S2S",
        "url": f"{partner_url}/rt", "dataSourceId": DATA_SOURCE, "auth": HMAC})
    repo.put("mapping", DESTINATION_ID * 100 + 1, {
        "mappingId": DESTINATION_ID * 100 + 1, "destinationId": DESTINATION_ID, "sid": 5001})
    repo.bump_version()
    plan = plan_s2s(compile_catalog(repo.load_all(), version=99), {5001}, uuid=UUID,
                    synced_ids={DATA_SOURCE: "dp-0293"}, states={}, region=7, now=now)
    return plan.queue_bodies()


# ---- under `make run`: both queues delivered to the real handlers ---------------------------


def test_spool_and_s2s_messages_reach_their_handlers_then_the_queues_are_empty(
    moto: Moto, partner: Partner, start_poller: Callable[..., PollerProcess]
) -> None:
    now = time.time()
    bodies = _s2s_bodies(moto, partner.url, now)
    assert len(bodies) == 1
    poller = start_poller()
    sqs = moto.client("sqs")

    SqsSpool(lambda: sqs, moto.outputs["spool_queue_url"]).send(
        UUID, _spooled_changes(now, "ZXZlbnQtMQ=="), "ThrottlingException (400)")
    S2SQueue(sqs, moto.outputs["s2s_queue_url"]).send(bodies)

    profiles = moto.table("profiles")

    def profile() -> dict[str, Any]:
        return profiles.get_item(Key={"uuid": UUID}, ConsistentRead=True).get("Item") or {}

    _wait_for(lambda: bool(profile()) and len(partner.posts) == 1, poller, "delivery")
    item = profile()
    traits = profile_from_item(item, time.time()).traits
    assert len(traits[1001].stamps) == 1 and traits[1001].count == 1  # the spooled write
    assert item["segs"] == {5001}
    post = partner.posts[0]
    assert post["path"] == "/rt" and post["signed"]
    assert post["body"]["AAM_Destination_Id"] == DESTINATION_ID
    assert [u["AAM_UUID"] for u in post["body"]["Users"]] == [UUID]
    _wait_for(lambda: moto.counts("spool_queue_url") == (0, 0)
              and moto.counts("s2s_queue_url") == (0, 0), poller, "empty queues")
    assert moto.counts("spool_dlq_url") == (0, 0) and moto.counts("s2s_dlq_url") == (0, 0)

    started = time.monotonic()
    assert poller.stop() == 0, poller.log()  # SIGTERM: a clean exit, promptly
    assert time.monotonic() - started < 10.0  # not the 20 s long poll; a batch gets 3 s
    log = poller.log()
    assert "spool_replay: batch of 1 handled, 1 deleted" in log, log
    assert "s2s_delivery: batch of 1 handled, 1 deleted" in log, log
    assert "sqs poller: stopped" in log, log


def test_failed_spool_message_is_redelivered_until_the_dead_letter_queue(
    moto: Moto, start_poller: Callable[..., PollerProcess]
) -> None:
    """A batch with a good and an undecodable message: the handler applies and deletes the
    good one, then raises SpoolBatchFailed; the poller deletes nothing, so the bad one comes
    back (visibility timeout 0 here, to make it quick) until moto's redrive policy
    (maxReceiveCount 5) moves it to the dead-letter queue."""
    sqs = moto.client("sqs")
    queue = moto.outputs["spool_queue_url"]
    sqs.set_queue_attributes(QueueUrl=queue, Attributes={"VisibilityTimeout": "0"})
    now = time.time()
    good = encode(UUID, _spooled_changes(now, "ZXZlbnQtMg=="), "ThrottlingException (400)", now)
    sqs.send_message_batch(QueueUrl=queue, Entries=[
        {"Id": "good", "MessageBody": good}, {"Id": "bad", "MessageBody": "{not json"}])

    poller = start_poller("--failure-pause-seconds", "0.05")
    _wait_for(lambda: moto.counts("spool_dlq_url")[0] == 1, poller, "the dead letter")

    dead = sqs.receive_message(QueueUrl=moto.outputs["spool_dlq_url"],
                               MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in dead] == ["{not json"]
    assert moto.counts("spool_queue_url") == (0, 0)
    item = moto.table("profiles").get_item(Key={"uuid": UUID}, ConsistentRead=True)["Item"]
    # the good message was applied once, not with each retry
    assert profile_from_item(item, time.time()).traits[1001].count == 1
    log = poller.log()
    assert log.count("spool_replay: batch of") >= 5, log  # failed receives 1 to 5
    assert "SpoolBatchFailed" in log and "left on the queue for redelivery" in log, log
    assert '"to_dead_letter_queue":true' in log, log  # the handler saw receive count 5
    assert poller.stop() == 0, poller.log()


# ---- the poller's rules, with a stand-in handler --------------------------------------------


class _Handler:
    def __init__(self, fail: bool) -> None:
        self.fail = fail
        self.events: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, name: str, event: dict[str, Any]) -> Any:
        self.events.append((name, event))
        if self.fail:
            raise RuntimeError("handler crashed")
        return None


def _spool_source(moto: Moto) -> QueueSource:
    sqs = moto.client("sqs")
    name = moto.outputs["spool_queue_name"]
    [source] = resolve_sources(sqs, [("spool_replay", name, 10)], log=lambda _: None)
    return source


def test_a_batch_whose_handler_raises_is_not_deleted(moto: Moto) -> None:
    sqs = moto.client("sqs")
    source = _spool_source(moto)
    sqs.send_message(QueueUrl=source.queue_url, MessageBody="payload-1",
                     MessageAttributes={"event_id": {"DataType": "String",
                                                     "StringValue": "e-1"}})
    failing = _Handler(fail=True)
    poller = SqsPoller(sqs, [source], failing, wait_s=1, log=lambda _: None)

    result = poller.poll_once(source)

    assert result == BatchResult("spool_replay", 1, 0, "RuntimeError: handler crashed")
    [(name, event)] = failing.events
    [record] = event["Records"]
    assert name == "spool_replay" and record["body"] == "payload-1"
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["messageAttributes"]["event_id"]["stringValue"] == "e-1"
    assert record["eventSource"] == "aws:sqs" and record["eventSourceARN"] == source.queue_arn
    # Not deleted: in flight for the queue's visibility timeout (360 s), then redelivered.
    assert moto.counts("spool_queue_url") == (0, 1)

    # As if the visibility timeout had passed: the same message comes back.
    sqs.change_message_visibility(QueueUrl=source.queue_url, VisibilityTimeout=0,
                                  ReceiptHandle=record["receiptHandle"])
    accepting = _Handler(fail=False)
    poller = SqsPoller(sqs, [source], accepting, wait_s=1, log=lambda _: None)
    assert poller.poll_once(source) == BatchResult("spool_replay", 1, 1)
    [(_, again)] = accepting.events
    assert again["Records"][0]["attributes"]["ApproximateReceiveCount"] == "2"
    assert moto.counts("spool_queue_url") == (0, 0)  # accepted: deleted
    assert poller.poll_once(source, wait_s=0) == BatchResult("spool_replay")


def test_the_app_declares_both_queue_handlers() -> None:
    import app

    names = {name for name, _, _ in sqs_event_sources(app.app)}
    assert names == {"spool_replay", "s2s_delivery"}


def test_only_a_loopback_endpoint_is_polled() -> None:
    assert is_loopback_url("http://127.0.0.1:5055") and is_loopback_url("http://localhost:1")
    assert not is_loopback_url("https://sqs.us-east-1.amazonaws.com")
    assert main(["--endpoint-url", "https://sqs.us-east-1.amazonaws.com"]) == 2
