"""Move a catalog between stacks through the admin API (issue 12; docs/admin-api.md).

    python -m devtools.catalog export catalog.ndjson --url https://dcs.example --token T
    python -m devtools.catalog import catalog.ndjson --url http://127.0.0.1:8000 --token T

``export`` follows ``GET /v1/catalog/export`` page by page (kinds in dependency order) into an
NDJSON file; ``import`` sends the file to ``POST /v1/catalog/import`` 1,000 lines a request, in
the file's order, ids kept. Both show a progress bar (tqdm) and end with a summary; a refused
request stops the import with the API's error (each request is all-or-nothing, so what was
sent before it stays and what follows is not sent). The token may also come from
``RTDCS_ADMIN_TOKEN``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator

from tqdm import tqdm

BATCH = 1000
TIMEOUT_S = 120


class CatalogApi:
    def __init__(self, url: str, token: str) -> None:
        self.base = url.rstrip("/")
        self._token = token
        # Straight to the stack: no proxy from the environment.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def request(self, method: str, path: str, body: bytes | None = None
                ) -> tuple[int, dict[str, str], bytes]:
        headers = {"Authorization": f"Bearer {self._token}"}
        if body is not None:
            headers["Content-Type"] = "application/x-ndjson"
        req = urllib.request.Request(self.base + path, data=body, method=method,
                                     headers=headers)
        try:
            with self._opener.open(req, timeout=TIMEOUT_S) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def export_pages(self) -> Iterator[list[str]]:
        path: str | None = "/v1/catalog/export?limit=1000"
        while path is not None:
            status, headers, body = self.request("GET", path)
            if status != 200:
                raise SystemExit(f"export failed: {status} {body[:500].decode(errors='replace')}")
            yield [line for line in body.decode("utf-8").split("\n") if line]
            link = headers.get("Link", "")
            path = link[1:link.index(">")] if link.startswith("<") else None


def export(api: CatalogApi, target: Path) -> dict[str, Any]:
    counts: dict[str, int] = {}
    started = time.monotonic()
    with target.open("w", encoding="utf-8") as out, tqdm(unit=" objects", desc="export") as bar:
        for lines in api.export_pages():
            for line in lines:
                kind = json.loads(line)["kind"]
                counts[kind] = counts.get(kind, 0) + 1
                out.write(line + "\n")
            bar.update(len(lines))
    return {"exported": sum(counts.values()), "by_kind": counts, "file": str(target),
            "seconds": round(time.monotonic() - started, 1)}


def import_file(api: CatalogApi, source: Path) -> dict[str, Any]:
    lines = [line for line in source.read_text(encoding="utf-8").split("\n") if line.strip()]
    written = 0
    started = time.monotonic()
    with tqdm(total=len(lines), unit=" objects", desc="import") as bar:
        for start in range(0, len(lines), BATCH):
            chunk = lines[start:start + BATCH]
            status, _, body = api.request("POST", "/v1/catalog/import",
                                          "\n".join(chunk).encode("utf-8"))
            answer = json.loads(body or b"{}")
            if status != 200:
                error = answer.get("error", answer)
                index = error.get("index")
                where = f" (line {start + index + 1} of the file)" if isinstance(index, int) else ""
                raise SystemExit(f"import stopped at lines {start + 1}-{start + len(chunk)}"
                                 f"{where}: {status} {json.dumps(error)[:800]}\n"
                                 f"{written} objects were imported before it")
            written += int(answer.get("written", 0))
            bar.update(len(chunk))
    return {"imported": written, "file": str(source),
            "seconds": round(time.monotonic() - started, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.catalog",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=("export", "import"))
    parser.add_argument("file", type=Path)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--token", default=os.environ.get("RTDCS_ADMIN_TOKEN", ""))
    args = parser.parse_args(argv)
    if not args.token:
        parser.error("an admin token is needed (--token or RTDCS_ADMIN_TOKEN)")
    api = CatalogApi(args.url, args.token)
    summary = export(api, args.file) if args.action == "export" else import_file(api, args.file)
    print(json.dumps(summary), file=sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
