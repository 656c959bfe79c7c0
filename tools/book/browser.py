"""``browser-test``: the built site served on 127.0.0.1, crawled by LinkChecker,
then every page opened in headless Chromium (Debian's, driven by Playwright).

LinkChecker fetches every link, image, script and style (one that leaves the site is a 404,
as in a browser) and reports ``#fragments`` without their element; external URLs are only
syntax-checked. A page fails in Chromium on console errors, uncaught exceptions, failed or
4xx/5xx requests, images that did not load, widgets or math that did not render, or not
loading within a minute. The first chapters are screenshot to ``_build/screenshots``.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

from playwright.sync_api import Error as PlaywrightError, sync_playwright

from .build import command_build
from .paths import BookError, executable, parse_toc

SKIP_DIRS = ("_static", "_sources", "_images", "_sphinx_design_static", "_panels_static")
CONFIG = """\
[checking]
threads=4
maxrequestspersecond=1000
[filtering]
checkextern=0
ignore=
  ^(mailto|tel|ftp|data|javascript):
  ^https?://(?!{host})
[AnchorCheck]
"""
# besides those Playwright passes (no sandbox, no /dev/shm, no background networking ...)
CHROMIUM_ARGS = ["--disable-gpu", "--disable-quic", "--disable-sync"]
LOAD_TIMEOUT_MS = 60_000
# Runs in each page after its load event: waits for widgets and math to render and for
# every image to finish loading, then reports what it found.
PAGE_PROBE = """
async () => {
  const count = (selector) => document.querySelectorAll(selector).length;
  const widgets = count('script[type="application/vnd.jupyter.widget-view+json"]');
  const math = count('.math');
  const deadline = Date.now() + 15000;
  let widgetsShown = 0, mathShown = 0;
  while (Date.now() < deadline) {
    widgetsShown = count('.jupyter-widgets, .widget-container');
    mathShown = count('mjx-container');
    if ((!widgets || widgetsShown) && (!math || mathShown)) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const images = Array.from(document.images);
  images.forEach((img) => { img.loading = 'eager'; });
  await Promise.all(images.map((img) => img.complete ? null : new Promise((resolve) => {
    img.addEventListener('load', resolve); img.addEventListener('error', resolve);
    setTimeout(resolve, 10000);
  })));
  const badImages = images.filter((i) => !i.complete || i.naturalWidth === 0)
                          .map((i) => i.getAttribute('src'));
  return {widgets, widgetsShown, math, mathShown, images: images.length, badImages};
}
"""


class QuietHandler(SimpleHTTPRequestHandler):
    def end_headers(self) -> None:
        # LinkChecker waits 0.1-0.6 s between requests to a host unless the host answers
        # with this header (then its maxrequestspersecond applies): a local server may.
        self.send_header("LinkChecker", "local")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


class QuietServer(ThreadingHTTPServer):
    """No traceback when a client hangs up early."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


@contextmanager
def serve_site(site: Path) -> Iterator[str]:
    """Serve ``site`` in a background thread; yields the base URL (ends with ``/``)."""
    server = QuietServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()  # returns once serve_forever has
        server.server_close()


def html_pages(site: Path) -> list[Path]:
    """The site's pages (not the static files' HTML), sorted."""
    return sorted(page for page in site.rglob("*.html")
                  if page.relative_to(site).parts[0] not in SKIP_DIRS)


def parse_report(report: str, base_url: str) -> list[str]:
    """LinkChecker's CSV report -> one message per broken link or missing anchor."""
    rows = [line for line in report.splitlines() if line and not line.startswith("#")]
    problems = []
    for row in csv.DictReader(rows, delimiter=";"):
        parent = (row["parentname"] or "").removeprefix(base_url).split("#")[0]
        where = f"{parent or '(start)'}: {row['urlname']}"
        if row["valid"] != "True":
            problems.append(f"{where}: {row['result'] or 'invalid'}")
        elif "Anchor" in (row["warningstring"] or ""):
            problems.append(f"{where}: no element with id {urlsplit(row['url']).fragment!r}")
    return problems


def check_links(site: Path, base_url: str) -> list[str]:
    """Crawl the pages of ``site`` served at ``base_url``; one message per problem."""
    pages = [base_url + page.relative_to(site).as_posix() for page in html_pages(site)]
    host = urlsplit(base_url).netloc.replace(".", r"\.")
    with tempfile.TemporaryDirectory(prefix="book-links-") as tmp:
        config = Path(tmp) / "linkcheckerrc"
        config.write_text(CONFIG.format(host=host), encoding="utf-8")
        cmd = [executable("linkchecker"), "--config", str(config), "--no-status",
               "--no-robots", "--output", "csv/utf-8", *pages]
        out = subprocess.run(cmd, capture_output=True, text=True, encoding="utf-8",
                             timeout=900)
    if out.returncode not in (0, 1):  # 1: problems found; anything else: it failed
        raise BookError(f"linkchecker exited with status {out.returncode}:\n"
                        f"{out.stderr[-2000:]}")
    return parse_report(out.stdout, base_url)


def built_site(root: Path) -> Path:
    site = root / "_build" / "html"
    if not (site / "index.html").is_file():
        raise BookError(f"{site} has no index.html; run `python -m tools.book build` first")
    return site


def report(command: str, problems: list[str], site: Path, start: float) -> int:
    """Print the problems of ``site`` and a summary; the exit status."""
    for problem in problems:
        print(f"error: {problem}")
    pages, elapsed = len(html_pages(site)), time.monotonic() - start
    print(f"{command}: {len(problems)} problem(s) in {pages} pages ({elapsed:.1f} s)" if problems
          else f"{command}: {pages} pages ok in {elapsed:.1f} s")
    return 1 if problems else 0


def find_chromium() -> str:
    for candidate in (os.environ.get("CHROMIUM", ""), "/usr/bin/chromium", "chromium",
                      "chromium-browser", "google-chrome", "google-chrome-stable"):
        if candidate and (found := shutil.which(candidate)):
            return found
    raise BookError("browser-test needs Chromium: apt-get install chromium (or set CHROMIUM)")


class PageLog:
    """The console errors and failed requests of a page while it loads."""

    def __init__(self) -> None:
        self.errors: list[str] = []

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
        # Chromium asks for /favicon.ico by itself; the book has none, which is no error
        if response.status >= 400 and urlsplit(response.url).path != "/favicon.ico":
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
    problems: list[str] = []
    with sync_playwright() as playwright:  # its end closes the browser
        browser = playwright.chromium.launch(executable_path=find_chromium(),
                                             args=CHROMIUM_ARGS, headless=True)
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
    return problems


def command_browser_test(root: Path, screenshots: int = 2) -> int:
    if not (root / "_build" / "html" / "index.html").is_file():
        print("browser-test: no _build/html yet, building it first", flush=True)
        if rc := command_build(root):
            return rc
    site, start = built_site(root), time.monotonic()
    chapters = [site / f"{entry.docname}.html" for entry in parse_toc(root)
                if entry.path is not None and entry.path.suffix == ".ipynb"]
    shoot = [page for page in chapters if page.is_file()][:screenshots]
    shots_dir = root / "_build" / "screenshots"
    shots_dir.mkdir(parents=True, exist_ok=True)
    with serve_site(site) as base_url:
        problems = check_links(site, base_url)
        print(f"browser-test: LinkChecker found {len(problems)} broken link(s)", flush=True)
        problems += browse(site, base_url, shoot, shots_dir)
    if shoot:
        print(f"browser-test: screenshots in {shots_dir}: "
              + ", ".join(page.stem + ".png" for page in shoot))
    return report("browser-test", problems, site, start)
