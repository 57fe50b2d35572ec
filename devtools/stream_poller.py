"""Local DynamoDB Stream delivery: what Lambda's stream event source mapping does, for
``make run`` (the insight aggregator; docs/insight.md).

``chalice local`` never runs ``@app.on_dynamodb_record`` handlers, so under the local stack
nothing would read the profiles table's stream. This poller does, on the loopback moto server:

* every DynamoDB event source the app declares (``app.event_sources``: handler name, stream
  ARN, batch size) is read shard by shard with ``GetRecords`` (up to the batch size), from
  the oldest record the stream holds (the local moto server is new with each stack);
* each batch is handed to the app's real handler as the event Lambda would send (images in
  DynamoDB JSON, binary values base64-encoded, ``ApproximateCreationDateTime`` in epoch
  seconds), through ``chalice.test.Client(app).lambda_.invoke`` (the stage's environment
  variables applied);
* a batch whose handler raises is handed over again after ``--failure-pause-seconds`` (the
  iterator does not move), as Lambda retries a stream batch in order.

If the declared ARN is not a stream of this endpoint (the app was imported without
``RTDCS_INSIGHT_STREAM_ARN``), the profiles table's latest stream is read instead.

    python -m devtools.stream_poller [--stage local] [--poll-seconds 0.5]
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from devtools.sqs_poller import chalice_invoker, is_loopback_url, poller_logging, stop_on_signals

REPO_ROOT = Path(__file__).resolve().parent.parent
READY_MARKER = "stream poller: ready"
MAX_BATCH = 1000  # GetRecords' own limit

Invoke = Callable[[str, dict[str, Any]], Any]
Log = Callable[[str], None]


def _say(message: str) -> None:
    print(f"stream poller: {message}", flush=True)


@dataclass(frozen=True)
class StreamSource:
    handler: str
    stream_arn: str
    batch_size: int = 100


def stream_event_sources(app: Any) -> list[tuple[str, str, int]]:
    """``(handler name, stream ARN, batch size)`` of every ``on_dynamodb_record`` of ``app``."""
    found = []
    for source in getattr(app, "event_sources", []):
        arn = getattr(source, "stream_arn", None)
        if arn is None:
            continue
        batch = int(getattr(source, "batch_size", None) or 100)
        found.append((str(source.name), str(arn), max(1, min(batch, MAX_BATCH))))
    return found


def resolve_stream(streams: Any, ddb: Any, declared_arn: str, table: str) -> str | None:
    """The declared stream if this endpoint has it, else ``table``'s latest stream."""
    try:
        streams.describe_stream(StreamArn=declared_arn)
        return declared_arn
    except Exception:  # noqa: BLE001 - not a stream of this endpoint: use the table's
        pass
    try:
        return ddb.describe_table(TableName=table)["Table"].get("LatestStreamArn")
    except Exception:  # noqa: BLE001
        return None


# ---- the Lambda event ----------------------------------------------------------------------
def _typed(value: Mapping[str, Any]) -> dict[str, Any]:
    """A boto3 client's typed value (bytes for binary) as Lambda's JSON (base64 text)."""
    (tag, inner), = value.items()
    if tag == "B":
        return {"B": base64.b64encode(bytes(inner)).decode("ascii")}
    if tag == "BS":
        return {"BS": [base64.b64encode(bytes(v)).decode("ascii") for v in inner]}
    if tag == "M":
        return {"M": {k: _typed(v) for k, v in inner.items()}}
    if tag == "L":
        return {"L": [_typed(v) for v in inner]}
    return {tag: inner}


def _image(raw: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if raw is None else {k: _typed(v) for k, v in raw.items()}


def lambda_event(records: Sequence[Mapping[str, Any]], stream_arn: str) -> dict[str, Any]:
    """The event Lambda hands to a stream function for these ``GetRecords`` records."""
    region = stream_arn.split(":")[3] if stream_arn.count(":") >= 5 else ""
    converted = []
    for record in records:
        dynamodb = record["dynamodb"]
        created = dynamodb.get("ApproximateCreationDateTime", time.time())
        body: dict[str, Any] = {
            "ApproximateCreationDateTime": created.timestamp() if hasattr(created, "timestamp")
            else float(created),
            "Keys": _image(dynamodb.get("Keys")),
            "SequenceNumber": str(dynamodb.get("SequenceNumber", "")),
            "SizeBytes": int(dynamodb.get("SizeBytes", 0)),
            "StreamViewType": dynamodb.get("StreamViewType", "NEW_AND_OLD_IMAGES"),
        }
        for name in ("NewImage", "OldImage"):
            if name in dynamodb:
                body[name] = _image(dynamodb[name])
        converted.append({
            "eventID": record.get("eventID", ""),
            "eventName": record.get("eventName", ""),
            "eventVersion": record.get("eventVersion", "1.1"),
            "eventSource": "aws:dynamodb",
            "awsRegion": region,
            "dynamodb": body,
            "eventSourceARN": stream_arn,
        })
    return {"Records": converted}


# ---- polling -------------------------------------------------------------------------------
class StreamPoller:
    """Delivers the shards of each source's stream to ``invoke(handler name, event)``."""

    def __init__(self, streams: Any, sources: Sequence[StreamSource], invoke: Invoke, *,
                 poll_s: float = 0.5, failure_pause_s: float = 1.0, log: Log = _say) -> None:
        self._streams = streams
        self.sources = list(sources)
        self._invoke = invoke
        self._poll_s = poll_s
        self._failure_pause_s = failure_pause_s
        self._log = log
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._iterators: dict[tuple[str, str], str | None] = {}  # (arn, shard) -> iterator

    def _shards(self, arn: str) -> list[str]:
        description = self._streams.describe_stream(StreamArn=arn)["StreamDescription"]
        return [s["ShardId"] for s in description.get("Shards", [])]

    def poll_once(self, source: StreamSource) -> int:
        """One GetRecords per shard, each non-empty batch handed over; records delivered."""
        delivered = 0
        for shard in self._shards(source.stream_arn):
            key = (source.stream_arn, shard)
            if key not in self._iterators:
                self._iterators[key] = self._streams.get_shard_iterator(
                    StreamArn=source.stream_arn, ShardId=shard,
                    ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
            iterator = self._iterators[key]
            if iterator is None:
                continue  # a closed shard, read to its end
            answer = self._streams.get_records(ShardIterator=iterator, Limit=source.batch_size)
            records = answer.get("Records", [])
            if records:
                try:
                    self._invoke(source.handler, lambda_event(records, source.stream_arn))
                except Exception as exc:  # noqa: BLE001 - retried in order, as Lambda does
                    self._log(f"{source.handler}: batch of {len(records)} failed, retried "
                              f"({type(exc).__name__}: {exc})\n{traceback.format_exc(limit=6)}")
                    raise
                delivered += len(records)
                self._log(f"{source.handler}: batch of {len(records)} handled")
            self._iterators[key] = answer.get("NextShardIterator")
        return delivered

    def _loop(self, source: StreamSource) -> None:
        while not self._stop.is_set():
            try:
                delivered = self.poll_once(source)
            except Exception as exc:  # noqa: BLE001 - moto restarting, a failed batch: retry
                self._log(f"{source.handler}: {type(exc).__name__}: {exc}")
                self._stop.wait(self._failure_pause_s)
                continue
            if not delivered:
                self._stop.wait(self._poll_s)

    def start(self) -> None:
        for source in self.sources:
            thread = threading.Thread(target=self._loop, args=(source,), daemon=True,
                                      name=f"stream-{source.handler}")
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)

    def alive(self) -> bool:
        return any(t.is_alive() for t in self._threads)


def _clients(endpoint_url: str) -> tuple[Any, Any]:
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=2, read_timeout=10,
                    retries={"max_attempts": 2, "mode": "standard"})
    session = boto3.session.Session()
    return (session.client("dynamodbstreams", endpoint_url=endpoint_url, config=config),
            session.client("dynamodb", endpoint_url=endpoint_url, config=config))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.stream_poller", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", default="local")
    parser.add_argument("--endpoint-url", default=os.environ.get("AWS_ENDPOINT_URL", ""))
    parser.add_argument("--poll-seconds", type=float, default=0.5)
    parser.add_argument("--failure-pause-seconds", type=float, default=1.0)
    args = parser.parse_args(argv)
    if not is_loopback_url(args.endpoint_url):
        _say(f"refusing endpoint {args.endpoint_url!r}: only a loopback moto server is read "
             "(set AWS_ENDPOINT_URL)")
        return 2
    stop = stop_on_signals()
    poller_logging()

    sys.path.insert(0, str(REPO_ROOT))
    import app as app_module

    streams, ddb = _clients(args.endpoint_url)
    table = os.environ.get("RTDCS_PROFILES_TABLE", "rtdcs-local-profiles")
    sources = []
    for handler, arn, batch in stream_event_sources(app_module.app):
        resolved = resolve_stream(streams, ddb, arn, table)
        if resolved is None:
            _say(f"{handler}: no stream for {arn!r} nor table {table!r}; not polled")
            continue
        sources.append(StreamSource(handler, resolved, batch))
    if not sources:
        _say("no DynamoDB stream event source with an existing stream: nothing to poll")
        return 2
    poller = StreamPoller(streams, sources, chalice_invoker(app_module.app, args.stage),
                          poll_s=args.poll_seconds, failure_pause_s=args.failure_pause_seconds)
    poller.start()
    print(f"{READY_MARKER} (pid {os.getpid()}; "
          + ", ".join(f"{s.handler} <- {s.stream_arn}" for s in sources) + ")", flush=True)
    while not stop.wait(0.5):
        if not poller.alive():
            _say("polling threads died")
            return 1
    poller.stop()
    _say("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
