"""Broken internal links of the built site, found by LinkChecker (PyPI ``LinkChecker``).

LinkChecker crawls the site as served over HTTP on 127.0.0.1 (so a link that leaves the
site is a 404, as it would be in a browser): every ``<a>``, ``<link>``, ``<img>``,
``<script>`` and CSS ``url()`` is fetched, and its ``AnchorCheck`` plugin reports
``#fragments`` without an element of that id. External URLs are only syntax-checked,
never fetched, so the check runs offline.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from .paths import BookError

SKIP_DIRS = ("_static", "_sources", "_images", "_sphinx_design_static", "_panels_static")
# [filtering] ignore: URLs that are only syntax-checked. {base} is the local server.
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


def html_pages(site: Path) -> list[Path]:
    """The site's pages (not the static files' HTML), sorted."""
    return sorted(page for page in site.rglob("*.html")
                  if page.relative_to(site).parts[0] not in SKIP_DIRS)


def linkchecker_executable() -> str:
    """``linkchecker`` of this environment, else the first one on PATH."""
    candidate = Path(sys.executable).with_name("linkchecker")
    if candidate.is_file():
        return str(candidate)
    found = shutil.which("linkchecker")
    if not found:
        raise BookError("the link check needs LinkChecker (pip install -r requirements.txt)")
    return found


def _short(url: str, base_url: str) -> str:
    return url[len(base_url):] if url.startswith(base_url) else url


def parse_report(report: str, base_url: str) -> list[str]:
    """LinkChecker's CSV report → one message per broken link or missing anchor."""
    lines = [line for line in report.splitlines() if line and not line.startswith("#")]
    problems = []
    for row in csv.DictReader(lines, delimiter=";"):
        where = f"{_short(row['parentname'] or '', base_url).split('#')[0] or '(start)'}: " \
                f"{row['urlname']}"
        if row["valid"] != "True":
            problems.append(f"{where}: {row['result'] or 'invalid'}")
        elif "Anchor" in (row["warningstring"] or ""):
            fragment = urlsplit(row["url"]).fragment
            problems.append(f"{where}: no element with id {fragment!r}")
    return problems


def check_links(site: Path, base_url: str) -> list[str]:
    """Crawl the pages of ``site`` served at ``base_url``; one message per problem."""
    pages = [base_url + page.relative_to(site).as_posix() for page in html_pages(site)]
    host = urlsplit(base_url).netloc.replace(".", r"\.")
    with tempfile.TemporaryDirectory(prefix="book-links-") as tmp:
        config = Path(tmp) / "linkcheckerrc"
        config.write_text(CONFIG.format(host=host), encoding="utf-8")
        cmd = [linkchecker_executable(), "--config", str(config), "--no-status",
               "--no-robots", "--output", "csv/utf-8", *pages]
        out = subprocess.run(cmd, capture_output=True, text=True, encoding="utf-8",
                             timeout=900)
    if out.returncode not in (0, 1):  # 1: problems found; anything else: it failed
        raise BookError(f"linkchecker exited with status {out.returncode}:\n"
                        f"{out.stderr[-2000:]}")
    return parse_report(out.stdout, base_url)
