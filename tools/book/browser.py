"""``browser-test``: the link check (links.py), then every page of ``_build/html`` in
headless Chromium through Playwright (Debian's ``/usr/bin/chromium`` or ``$CHROMIUM``;
Playwright downloads no browser). A page fails on console errors and uncaught exceptions,
requests that failed or answered 4xx/5xx, images that did not load, widgets that did not
render, math that MathJax did not typeset, or not loading within a minute. The first
``--screenshots`` chapters are saved to ``_build/screenshots/``.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .build import command_build
from .links import built_site, check_links, html_pages, serve_site
from .paths import BookError, parse_toc

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--no-default-browser-check", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-extensions",
                 "--disable-dev-shm-usage"]
LOAD_TIMEOUT_MS = 60_000
# Runs in each page after its load event: waits for widgets and math to render and for
# every image to finish loading, then reports what it found.
PAGE_PROBE = """
async () => {
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const widgets = document.querySelectorAll(
      'script[type="application/vnd.jupyter.widget-view+json"]').length;
  const math = document.querySelectorAll('.math').length;
  const deadline = Date.now() + 15000;
  let widgetsShown = 0, mathShown = 0;
  while (Date.now() < deadline) {
    widgetsShown = document.querySelectorAll('.jupyter-widgets, .widget-container').length;
    mathShown = document.querySelectorAll('mjx-container').length;
    if ((!widgets || widgetsShown) && (!math || mathShown)) break;
    await sleep(100);
  }
  const images = Array.from(document.images);
  images.forEach((img) => { img.loading = 'eager'; });
  await Promise.all(images.map((img) => img.complete ? null : new Promise((resolve) => {
    img.addEventListener('load', resolve); img.addEventListener('error', resolve);
    setTimeout(resolve, 10000);
  })));
  return {
    widgets, widgetsShown, math, mathShown, images: images.length,
    badImages: images.filter((i) => !i.complete || i.naturalWidth === 0)
                     .map((i) => i.getAttribute('src')),
  };
}
"""


def find_chromium() -> str:
    """Debian's Chromium (or ``$CHROMIUM``): Playwright drives it, downloads none."""
    for candidate in (os.environ.get("CHROMIUM", ""), "/usr/bin/chromium", "chromium",
                      "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = candidate and shutil.which(candidate)
        if found:
            return found
    raise BookError("browser-test needs Chromium: apt-get install chromium (or set CHROMIUM)")


@dataclass
class PageLog:
    """The console errors and failed requests of a page while it loads."""

    errors: list[str] = field(default_factory=list)

    def attach(self, page: Any) -> None:
        page.on("console", self.on_console)
        page.on("pageerror", self.on_page_error)
        page.on("requestfailed", lambda request: self.errors.append(
            f"request failed: {request.url} ({request.failure})"))
        page.on("response", self.on_response)

    def on_console(self, message: Any) -> None:
        # "Failed to load resource" repeats what on_response/requestfailed report
        if message.type in ("error", "assert") and \
                not message.text.startswith("Failed to load resource"):
            where = message.location or {}
            at = f" ({where.get('url')}:{where.get('lineNumber')})" if where.get("url") else ""
            self.errors.append(f"console.{message.type}: {message.text[:300]}{at}")

    def on_page_error(self, error: Any) -> None:
        name = getattr(error, "name", "") or "Error"
        message = (getattr(error, "message", "") or str(error)).splitlines()[0]
        self.errors.append(f"uncaught exception: {name}: {message}")

    def on_response(self, response: Any) -> None:
        if response.status >= 400:
            self.errors.append(f"HTTP {response.status}: {response.url}")


def probe_page(page: Any, url: str) -> dict[str, Any]:
    """Open ``url`` and run :data:`PAGE_PROBE`; a page that redirects is probed at its end."""
    page.goto(url, wait_until="load", timeout=LOAD_TIMEOUT_MS)
    for attempt in range(3):
        try:
            return page.evaluate(PAGE_PROBE)
        except Exception as error:  # the redirect of index.html destroys the context
            if "context was destroyed" not in str(error) and "navigat" not in str(error) \
                    or attempt == 2:
                raise
            page.wait_for_load_state("load", timeout=LOAD_TIMEOUT_MS)
    raise AssertionError("unreachable")


def page_problems(rel: str, probe: dict[str, Any], log: PageLog) -> list[str]:
    """Everything wrong with one page, each message starting with the page's path."""
    problems = [f"{rel}: {error}" for error in log.errors]
    problems += [f"{rel}: image did not load: {src}" for src in probe.get("badImages", [])]
    if probe.get("widgets") and not probe.get("widgetsShown"):
        problems.append(f"{rel}: {probe['widgets']} widget(s) did not render")
    if probe.get("math") and not probe.get("mathShown"):
        problems.append(f"{rel}: math did not render (MathJax)")
    return problems


def browse(site: Path, base_url: str, shoot: list[Path], shots_dir: Path) -> list[str]:
    """Open every page of ``site`` in headless Chromium; one message per problem."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=find_chromium(),
                                             args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 1000})
            for path in html_pages(site):
                rel = path.relative_to(site).as_posix()
                start = time.monotonic()
                page, log = context.new_page(), PageLog()
                log.attach(page)
                try:
                    probe = probe_page(page, base_url + rel)
                    page.wait_for_timeout(200)  # let late console messages arrive
                    if path in shoot:
                        page.screenshot(path=str(shots_dir / f"{path.stem}.png"))
                except PlaywrightError as error:
                    problems.append(f"{rel}: {str(error).splitlines()[0]}")
                    continue
                finally:
                    page.close()
                found = page_problems(rel, probe, log)
                print(f"{'FAIL' if found else 'ok  '} {rel} ({time.monotonic() - start:.1f} s; "
                      f"{probe.get('images', 0)} images, {probe.get('widgets', 0)} widgets, "
                      f"{probe.get('math', 0)} math)", flush=True)
                problems += found
        finally:
            browser.close()
    return problems


def command_browser_test(root: Path, screenshots: int = 2) -> int:
    """``browser-test``: links, then every page in Chromium; 0 when nothing is wrong."""
    if not (root / "_build" / "html" / "index.html").is_file():
        print("browser-test: no _build/html yet, building it first", flush=True)
        if rc := command_build(root):
            return rc
    site = built_site(root)
    start = time.monotonic()
    chapters = [site / f"{entry.docname}.html" for entry in parse_toc(root)
                if entry.path is not None and entry.path.suffix == ".ipynb"]
    shoot = [page for page in chapters if page.is_file()][:screenshots]
    shots_dir = root / "_build" / "screenshots"
    shots_dir.mkdir(parents=True, exist_ok=True)
    with serve_site(site) as base_url:
        problems = check_links(site, base_url)
        print(f"browser-test: LinkChecker found {len(problems)} broken link(s)", flush=True)
        problems += browse(site, base_url, shoot, shots_dir)
    for problem in problems:
        print(f"error: {problem}")
    pages, elapsed = len(html_pages(site)), time.monotonic() - start
    if shoot:
        print(f"browser-test: screenshots in {shots_dir}: "
              + ", ".join(page.stem + ".png" for page in shoot))
    if problems:
        print(f"browser-test: {len(problems)} problem(s) in {pages} pages ({elapsed:.1f} s)")
        return 1
    print(f"browser-test: {pages} pages ok in {elapsed:.1f} s")
    return 0
