"""Screenshots of every console page at 1280x800, for docs/console.md (``make
console-screenshots``).

Starts its own local stack on free loopback ports (devtools/stack.py), captures one demo
visitor so Live events and Profiles have something to show, and drives Debian's Chromium
(/usr/bin/chromium, never a downloaded browser) through the pages; writes
``docs/console/<page>.png`` and stops everything it started.

    python -m devtools.console_screenshots [--out docs/console]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from devtools.stack import DUMMY_AWS_ENV, LocalStack, free_port

REPO_ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PAGES = ("overview", "providers", "traits", "segments", "destinations", "profiles", "live")
WAIT_MS = 20_000


def _loopback_only(route: Any) -> None:
    host = route.request.url.split("/")[2].split(":")[0]
    if host in ("127.0.0.1", "localhost"):
        route.continue_()
    else:
        route.abort()


def _open(page: Any, name: str) -> None:
    page.evaluate("name => { location.hash = '#/' + name; }", name)
    page.wait_for_selector(f"#nav a[href='#/{name}'][aria-current=page]", timeout=WAIT_MS)
    page.wait_for_load_state("networkidle", timeout=WAIT_MS)
    page.wait_for_timeout(500)


def _demo_visit(ctx: Any, dcs: str) -> Any:
    demo = ctx.new_page()
    demo.goto(f"{dcs}/demo?c_section=sports")
    demo.wait_for_function("() => document.body.dataset.state === 'done'", timeout=WAIT_MS)
    return demo


def shoot(stack: LocalStack, out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    dcs = stack.dcs_url
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            ctx = browser.new_context(viewport={"width": 1280, "height": 800})
            ctx.route("**/*", _loopback_only)
            demo = _demo_visit(ctx, dcs)
            uuid = demo.text_content("#uuid").strip()
            page = ctx.new_page()
            page.goto(f"{dcs}/console")
            page.screenshot(path=str(out / "sign-in.png"))
            written.append(out / "sign-in.png")
            page.fill("#token", stack.admin_token)
            page.click("text=Use token")
            page.wait_for_selector("#nav a[aria-current=page]", timeout=WAIT_MS)
            _open(page, "live")
            page.fill("input[name=captureUuid]", uuid)
            page.click("text=Start capture")
            page.wait_for_selector(f"text=Capturing UUID {uuid}", timeout=WAIT_MS)
            deadline = time.monotonic() + 30
            while page.locator("details.event").count() == 0 and time.monotonic() < deadline:
                demo.reload()
                demo.wait_for_function("() => document.body.dataset.state === 'done'",
                                       timeout=WAIT_MS)
                page.wait_for_timeout(1500)
                page.click("text=Refresh")
                page.wait_for_timeout(500)
            for name in PAGES:
                _open(page, name)
                if name == "profiles":
                    page.fill("input[name=uuid]", uuid)
                    page.click("text=Look up")
                    page.wait_for_selector(f"text=Profile {uuid}", timeout=WAIT_MS)
                if name == "live" and page.locator("details.event").count():
                    page.locator("details.event summary").first.click()
                if name == "providers":
                    page.click("[aria-label='Test call provider 1']")
                    page.wait_for_selector(".verdict .badge", timeout=WAIT_MS)
                if name == "segments":
                    page.click("[aria-label='Trend of segment 5001']")
                    page.wait_for_selector(".chart .uplot", timeout=WAIT_MS)
                    page.fill("input[name=a]", "segment:5001")
                    page.fill("input[name=b]", "segment:5002")
                    page.fill("input[name=c]", "trait:1001")
                    page.click("text=Compare")
                    page.wait_for_selector(".venn", timeout=WAIT_MS)
                if name == "destinations":
                    page.locator("button", has_text="Mappings").first.click()
                    page.wait_for_selector("text=Add mapping", timeout=WAIT_MS)
                if name == "traits":
                    page.click("text=New trait")
                    page.fill("#f-name", "Golf reader")
                    page.fill("#f-dataSourceId", "1")
                    page.type("#f-traitRule", 'c_section == "golf" AND', delay=5)
                    page.wait_for_selector(".rule-status.error", timeout=WAIT_MS)
                path = out / f"{name}.png"
                page.screenshot(path=str(path), full_page=True)
                written.append(path)
            narrow = browser.new_context(viewport={"width": 390, "height": 844})
            narrow.route("**/*", _loopback_only)
            small = narrow.new_page()
            small.goto(f"{dcs}/console")
            small.fill("#token", stack.admin_token)
            small.click("text=Use token")
            small.wait_for_selector("#nav a[aria-current=page]", timeout=WAIT_MS)
            _open(small, "overview")
            small.screenshot(path=str(out / "overview-390.png"), full_page=True)
            written.append(out / "overview-390.png")
        finally:
            browser.close()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(REPO_ROOT / "docs" / "console"))
    args = parser.parse_args()
    import os

    os.environ.update(DUMMY_AWS_ENV)
    taken: list[int] = [8000, 5055, 8081]
    ports = []
    for _ in range(3):
        ports.append(free_port(exclude=tuple(taken)))
        taken.append(ports[-1])
    stack = LocalStack(dcs_port=ports[0], moto_port=ports[1], sim_port=ports[2], quiet=True)
    stack.start()
    try:
        for path in shoot(stack, Path(args.out)):
            print(path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path)
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
