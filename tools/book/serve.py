"""Serve the built site over HTTP on 127.0.0.1 for the link check and the browser test."""

from __future__ import annotations

import sys
import threading
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator


class QuietHandler(SimpleHTTPRequestHandler):
    """Static files without a log line per request; no favicon is no error."""

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
            return
        super().do_GET()


class QuietServer(ThreadingHTTPServer):
    """A threaded server that does not print a traceback when a client hangs up early."""

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
