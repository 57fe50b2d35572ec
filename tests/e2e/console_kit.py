"""Helpers of the console's browser tests and screenshots: sign in, open a page, check that
nothing in it is wider than the viewport."""

from __future__ import annotations

from typing import Any

WAIT_MS = 15_000
PAGES = ("overview", "providers", "traits", "segments", "destinations", "profiles", "live")

# Elements sticking out of the viewport's right edge, ignoring what sits inside a horizontal
# scroll box (a wide table scrolls inside its wrapper, the page does not).
OVERFLOW_JS = """() => {
  const width = document.documentElement.clientWidth;
  const out = [];
  if (document.documentElement.scrollWidth > width + 1)
    out.push('document scrollWidth ' + document.documentElement.scrollWidth + ' > ' + width);
  for (const el of document.body.querySelectorAll('*')) {
    if (el.closest('.table-wrap, pre') && !el.matches('.table-wrap, pre')) continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0 || r.right <= 0) continue;
    if (r.right > width + 1 || r.width > width + 1)
      out.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + '.' + el.className +
               ' right=' + Math.round(r.right) + ' width=' + Math.round(r.width));
  }
  return out;
}"""


def sign_in(page: Any, dcs_url: str, token: str) -> None:
    page.goto(f"{dcs_url}/console")
    page.fill("#token", token)
    page.click("text=Use token")
    page.wait_for_selector("#nav a[aria-current=page]", timeout=WAIT_MS)


def open_page(page: Any, name: str) -> None:
    page.evaluate("name => { location.hash = '#/' + name; }", name)
    page.wait_for_selector(f"#nav a[href='#/{name}'][aria-current=page]", timeout=WAIT_MS)
    page.wait_for_load_state("networkidle", timeout=WAIT_MS)


def overflowing(page: Any) -> list[str]:
    return list(page.evaluate(OVERFLOW_JS))
