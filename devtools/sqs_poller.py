"""Local SQS delivery: what Lambda's SQS event source mappings do, for ``make run``.

``chalice local`` serves HTTP routes only; it never runs ``@app.on_sqs_message`` handlers, so
under the local stack nothing would drain the spool or S2S queues. This poller does:

* every SQS event source the app declares (``app.event_sources``: handler name, queue name,
  batch size) is polled on the loopback moto server, one thread per queue, with long polls
  of ``--wait-seconds`` (bounded) and the queue's own visibility timeout;
* each batch is handed to the app's real handler as the SQS-shaped event Lambda would send
  (real message ids, receipt handles, ``ApproximateReceiveCount``), through
  ``chalice.test.Client(app).lambda_.invoke``, which also applies the stage's
  ``environment_variables`` from ``.chalice/config.json`` as ``chalice local`` does;
* a batch whose handler returns is deleted; a batch whose handler raises is left alone (the
  spool handler has deleted its own successes before raising ``SpoolBatchFailed``): its
  messages come back after the queue's visibility timeout, and moto's redrive policy moves
  them to the dead-letter queue after ``maxReceiveCount`` receives, as SQS does.

Handler calls are serialized: Chalice's test client swaps ``os.environ`` for each call, which
is not safe from two threads at once. SIGTERM / SIGINT stop the poller: a batch being handled
gets up to ``--stop-grace-seconds`` to finish; a long poll in progress is abandoned (a message
it might still receive reappears after the visibility timeout, as with Lambda).

    python -m devtools.sqs_poller [--stage local] [--wait-seconds 5]

It runs with the environment of the ``chalice local`` child (``AWS_ENDPOINT_URL`` = the moto
server, the ``RTDCS_*`` queue names and URLs) and refuses an endpoint that is not loopback.
"""

from __future__ import annotations

import argparse
import base64
import ipaddress
import logging
import os
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence
from urllib.parse import urlsplit

REPO_ROOT = Path(__file__).resolve().parent.parent
READY_MARKER = "sqs poller: ready"
MAX_WAIT_S = 20  # SQS's own limit for a long poll
SQS_BATCH_LIMIT = 10  # ReceiveMessage / DeleteMessageBatch take at most 10

Invoke = Callable[[str, dict[str, Any]], Any]
Log = Callable[[str], None]


@dataclass(frozen=True)
class QueueSource:
    """One SQS event source: the handler (Lambda function) name and its queue."""

    handler: str
    queue_name: str
    queue_url: str
    queue_arn: str
    batch_size: int = SQS_BATCH_LIMIT


@dataclass(frozen=True)
class BatchResult:
    handler: str
    received: int = 0
    deleted: int = 0
    error: str = ""  # why the handler failed ("" = it returned)

    @property
    def failed(self) -> bool:
        return bool(self.error)


def _say(message: str) -> None:
    print(f"sqs poller: {message}", flush=True)


# ---- the app's event sources ----------------------------------------------------------------


def sqs_event_sources(app: Any) -> list[tuple[str, str, int]]:
    """``(handler name, queue name, batch size)`` of every ``on_sqs_message`` of ``app``."""
    found = []
    for source in getattr(app, "event_sources", []):
        queue = getattr(source, "queue", None)
        arn = getattr(source, "queue_arn", None)
        if queue is None and arn is None:
            continue  # not an SQS event source
        name = str(queue) if queue else str(arn).rsplit(":", 1)[-1]
        batch = int(getattr(source, "batch_size", None) or SQS_BATCH_LIMIT)
        found.append((str(source.name), name, max(1, min(batch, SQS_BATCH_LIMIT))))
    return found


def resolve_sources(
    sqs: Any, declared: Sequence[tuple[str, str, int]], log: Log = _say
) -> list[QueueSource]:
    """The declared sources whose queue exists on the endpoint (the others are logged)."""
    sources = []
    for handler, queue_name, batch_size in declared:
        try:
            url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
                "Attributes"
            ]["QueueArn"]
        except Exception as exc:  # noqa: BLE001 - a missing queue only disables its handler
            log(f"{handler}: queue {queue_name!r} not found ({type(exc).__name__}); not polled")
            continue
        sources.append(QueueSource(handler, queue_name, url, arn, batch_size))
    return sources


# ---- the Lambda event ----------------------------------------------------------------------


def _message_attributes(raw: dict[str, Any]) -> dict[str, Any]:
    converted = {}
    for name, value in raw.items():
        binary = value.get("BinaryValue")
        converted[name] = {
            "dataType": value.get("DataType", "String"),
            "stringValue": value.get("StringValue"),
            "binaryValue": base64.b64encode(binary).decode() if binary is not None else None,
            "stringListValues": list(value.get("StringListValues", [])),
            "binaryListValues": [],
        }
    return converted


def lambda_event(messages: Sequence[dict[str, Any]], source: QueueSource) -> dict[str, Any]:
    """The event Lambda's SQS poller hands to the function for these received messages."""
    region = source.queue_arn.split(":")[3] if source.queue_arn.count(":") >= 5 else ""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": dict(m.get("Attributes", {})),
                "messageAttributes": _message_attributes(m.get("MessageAttributes", {})),
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": source.queue_arn,
                "awsRegion": region,
            }
            for m in messages
        ]
    }


# ---- polling -------------------------------------------------------------------------------


class SqsPoller:
    """Delivers the queues of ``sources`` to ``invoke(handler name, event)``.

    ``sqs`` is a boto3 SQS client whose read timeout exceeds ``wait_s``. ``pause`` waits
    between a failed batch (or an unreachable endpoint) and the next receive, so a message
    whose visibility timeout is 0 does not spin; it returns early when the poller stops.
    """

    def __init__(
        self,
        sqs: Any,
        sources: Sequence[QueueSource],
        invoke: Invoke,
        *,
        wait_s: int = 5,
        failure_pause_s: float = 1.0,
        log: Log = _say,
    ) -> None:
        self._sqs = sqs
        self.sources = list(sources)
        self._invoke = invoke
        self._wait_s = max(0, min(int(wait_s), MAX_WAIT_S))
        self._failure_pause_s = failure_pause_s
        self._log = log
        self._invoke_lock = threading.Lock()  # handler calls one at a time (see module doc)
        self._busy = 0  # batches received and not yet settled
        self._busy_changed = threading.Condition()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- one batch ---------------------------------------------------------------------------

    def poll_once(self, source: QueueSource, wait_s: int | None = None) -> BatchResult:
        """Receive one batch (long poll), hand it to the handler, delete it if it returned."""
        answer = self._sqs.receive_message(
            QueueUrl=source.queue_url,
            MaxNumberOfMessages=source.batch_size,
            WaitTimeSeconds=self._wait_s if wait_s is None else wait_s,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = list(answer.get("Messages", []))
        if not messages:
            return BatchResult(source.handler)
        with self._busy_changed:
            self._busy += 1
        try:
            return self._deliver(source, messages)
        finally:
            with self._busy_changed:
                self._busy -= 1
                self._busy_changed.notify_all()

    def _deliver(self, source: QueueSource, messages: list[dict[str, Any]]) -> BatchResult:
        event = lambda_event(messages, source)
        try:
            with self._invoke_lock:
                self._invoke(source.handler, event)
        except Exception as exc:  # noqa: BLE001 - Lambda only sees "the invocation failed"
            error = f"{type(exc).__name__}: {exc}"[:500]
            self._log(
                f"{source.handler}: batch of {len(messages)} failed, left on the queue for "
                f"redelivery ({error})\n{traceback.format_exc(limit=8)}"
            )
            return BatchResult(source.handler, len(messages), 0, error)
        deleted = self._delete(source, messages)
        self._log(f"{source.handler}: batch of {len(messages)} handled, {deleted} deleted")
        return BatchResult(source.handler, len(messages), deleted)

    def _delete(self, source: QueueSource, messages: list[dict[str, Any]]) -> int:
        deleted = 0
        for start in range(0, len(messages), SQS_BATCH_LIMIT):
            chunk = messages[start:start + SQS_BATCH_LIMIT]
            answer = self._sqs.delete_message_batch(
                QueueUrl=source.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                         for i, m in enumerate(chunk)],
            )
            deleted += len(answer.get("Successful", []))
            for failure in answer.get("Failed", []):
                self._log(f"{source.handler}: delete failed: {failure}")
        return deleted

    # -- the loop ----------------------------------------------------------------------------

    def _loop(self, source: QueueSource) -> None:
        while not self._stop.is_set():
            try:
                result = self.poll_once(source)
            except Exception as exc:  # noqa: BLE001 - moto restarting, a bad answer: retry
                self._log(f"{source.handler}: receive failed: {type(exc).__name__}: {exc}")
                self._stop.wait(self._failure_pause_s)
                continue
            if result.failed:
                self._stop.wait(self._failure_pause_s)

    def start(self) -> None:
        for source in self.sources:
            thread = threading.Thread(
                target=self._loop, args=(source,), name=f"sqs-{source.handler}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self, grace_s: float = 3.0) -> bool:
        """Stop polling; wait up to ``grace_s`` for batches being handled. True if none was
        left unfinished (idle long polls are abandoned: their threads are daemons)."""
        self._stop.set()
        deadline = time.monotonic() + grace_s
        with self._busy_changed:
            while self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._busy_changed.wait(left)
        return True

    def alive(self) -> bool:
        return any(t.is_alive() for t in self._threads)


# ---- wiring --------------------------------------------------------------------------------


def is_loopback_url(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def sqs_client(endpoint_url: str, wait_s: int) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=2,
        read_timeout=wait_s + 5,  # a long poll answers after at most wait_s
        retries={"max_attempts": 2, "mode": "standard"},
    )
    return boto3.session.Session().client("sqs", endpoint_url=endpoint_url, config=config)


def chalice_invoker(app: Any, stage: str, project_dir: Path = REPO_ROOT) -> Invoke:
    """``invoke(name, event)``: the app's handler through Chalice's test client (the stage's
    environment variables applied, as ``chalice local`` does)."""
    from chalice.test import Client

    client = Client(app, stage_name=stage, project_dir=str(project_dir))

    def invoke(name: str, event: dict[str, Any]) -> Any:
        return client.lambda_.invoke(name, event).payload

    return invoke


def stop_on_signals() -> threading.Event:
    """An event SIGTERM and SIGINT set: a poller's main loop waits on it, then stops."""
    stop = threading.Event()

    def _on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    return stop


def poller_logging() -> None:
    """Timestamped lines on stdout (the stack's log file), boto's chatter left out."""
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("botocore", "boto3", "urllib3"):  # credential/endpoint lines on each client
        logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.sqs_poller", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", default="local")
    parser.add_argument("--endpoint-url", default=os.environ.get("AWS_ENDPOINT_URL", ""))
    parser.add_argument("--wait-seconds", type=int, default=5)
    parser.add_argument("--failure-pause-seconds", type=float, default=1.0)
    parser.add_argument("--stop-grace-seconds", type=float, default=3.0)
    args = parser.parse_args(argv)

    if not is_loopback_url(args.endpoint_url):
        _say(f"refusing endpoint {args.endpoint_url!r}: only a loopback moto server is polled "
             "(set AWS_ENDPOINT_URL)")
        return 2
    stop = stop_on_signals()
    poller_logging()

    sys.path.insert(0, str(REPO_ROOT))
    import app as app_module  # the repo's app.py: imports the handlers with this environment

    sqs = sqs_client(args.endpoint_url, args.wait_seconds)
    sources = resolve_sources(sqs, sqs_event_sources(app_module.app))
    if not sources:
        _say("no SQS event source with an existing queue: nothing to poll")
        return 2
    poller = SqsPoller(sqs, sources, chalice_invoker(app_module.app, args.stage),
                       wait_s=args.wait_seconds, failure_pause_s=args.failure_pause_seconds)
    poller.start()
    print(f"{READY_MARKER} (pid {os.getpid()}; "
          + ", ".join(f"{s.handler} <- {s.queue_url}" for s in sources) + ")", flush=True)
    while not stop.wait(0.5):
        if not poller.alive():
            _say("polling threads died")
            return 1
    finished = poller.stop(args.stop_grace_seconds)
    _say("stopped" if finished else "stopped with a batch unfinished (it will be redelivered)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
