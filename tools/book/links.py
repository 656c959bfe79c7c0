"""``links``: the built site served on 127.0.0.1 and its broken links, found by LinkChecker.

LinkChecker crawls the site over HTTP (so a link that leaves the site is a 404, as in a
browser): every ``<a>``, ``<link>``, ``<img>``, ``<script>`` and CSS ``url()`` is fetched,
and its ``AnchorCheck`` plugin reports ``#fragments`` without an element of that id.
External URLs are only syntax-checked, never fetched, so the check runs offline.
"""

from __future__ import annotations

import csv
import subprocess
import sys
import tempfile
import threading
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

from .paths import BookError, executable

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


class QuietHandler(SimpleHTTPRequestHandler):
    """Static files without a log line per request."""

    def end_headers(self) -> None:
        # LinkChecker waits 0.1-0.6 s between requests to a host unless the host answers
        # with this header (then its maxrequestspersecond applies): a local server may.
        self.send_header("LinkChecker", "local")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:
        # Chromium asks for /favicon.ico by itself; the book has none, which is no error.
        if self.path == "/favicon.ico" and not Path(self.translate_path(self.path)).exists():
            self.send_response(204)
            self.end_headers()
        else:
            super().do_GET()


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
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


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


def command_links(root: Path) -> int:
    """``links``: LinkChecker over the built site only; 0 when no link is broken."""
    site = built_site(root)
    with serve_site(site) as base_url:
        problems = check_links(site, base_url)
    for problem in problems:
        print(f"error: {problem}")
    print(f"links: {len(problems)} broken link(s) in {len(html_pages(site))} pages")
    return 1 if problems else 0
