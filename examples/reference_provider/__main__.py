"""``python -m examples.reference_provider --port 8090 --secret s3cr3t`` (127.0.0.1 only)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from typing import Any

from examples.reference_provider.server import _Server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.reference_provider",
                                     description="rtdcs reference real-time provider")
    parser.add_argument("--port", type=int, default=8090, help="port on 127.0.0.1 (0: any)")
    parser.add_argument("--secret", default=os.environ.get("REFERENCE_PROVIDER_SECRET"),
                        help="shared secret (default $REFERENCE_PROVIDER_SECRET; none: no check)")
    parser.add_argument("--header", default="X-Signature", help="HMAC signature header")
    parser.add_argument("--auth", choices=("hmac", "bearer"), default="hmac")
    parser.add_argument("--visitors", help="JSON file: {id: [segment, ...]} by DPUUID or UUID")
    parser.add_argument("--verbose", action="store_true", help="access log on stderr")
    args = parser.parse_args(argv)
    visitors: dict[str, list[str]] = {}
    if args.visitors:
        with open(args.visitors, encoding="utf-8") as handle:
            visitors = {str(k): [str(s) for s in v] for k, v in json.load(handle).items()}
    server = _Server(args.port, args.secret, args.header, args.auth, visitors, args.verbose)

    def _stop(signum: int, frame: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    print(f"reference provider listening on http://127.0.0.1:{server.server_address[1]}/segments",
          flush=True)
    server.serve_forever(poll_interval=0.1)
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
