"""The viewer's HTTP server: the page, its JSON state, PNG frames, validation images and exports.

Standard library only (``http.server``), one thread per request, loopback by default. The page
(``web/live.html``) orbits by asking for frames; lift3d renders them with its own renderers
(:mod:`lift3d.viewer.frames`). With ``idle_timeout`` the server stops by itself once no page has polled
it for that long (the page polls every second while open), e.g. after the browser tab closes; the clock
starts with the first request, so a browser may take its time to open.
"""

from __future__ import annotations

import errno
import json
import re
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from urllib.parse import parse_qs, urlsplit

from lift3d.types import LiftError
from lift3d.viewer.frames import FrameRenderer
from lift3d.viewer.orbit import Orbit, framing_distance
from lift3d.viewer.sources import Source

LOOPBACK = ("127.0.0.1", "localhost", "::1")
_VALIDATION = re.compile(r"val_\d+\.png")


def page_html() -> bytes:
    """The live viewer page (plain HTML + JavaScript, no dependencies)."""
    return files("lift3d.viewer").joinpath("web", "live.html").read_bytes()


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    viewer: ViewerServer


class _HTTPServer6(_HTTPServer):
    address_family = socket.AF_INET6


class ViewerServer:
    """Serve ``source`` on ``host:port`` (``port=0``: any free port); :meth:`start`, then :meth:`wait` or :meth:`close`.

    Raises:
        LiftError: the port is in use or the address cannot be bound (one line, with what to do).
    """

    def __init__(self, source: Source, host: str = "127.0.0.1", port: int = 7007, idle_timeout: float | None = None,
                 duty: float = 0.03) -> None:
        self.source, self.host, self.idle_timeout = source, host, idle_timeout
        try:
            self.httpd = (_HTTPServer6 if ":" in host else _HTTPServer)((host, port), _Handler)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise LiftError(f"port {port} on {host} is already in use; pass --port N (or --port 0 for any free "
                                "port)") from None
            raise LiftError(f"cannot listen on {host}:{port} ({e.strerror or e}); check --host and --port") from None
        self.httpd.viewer = self
        self.port = self.httpd.server_address[1]
        self.frames = FrameRenderer(source, duty)
        self.last_request: float | None = None
        """When the last request arrived (None before the first: the idle timeout starts with the first page)."""
        self.stopped = threading.Event()
        self._threads: list[threading.Thread] = []
        self._close_lock = threading.Lock()
        self._closed = False

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://[{host}]:{self.port}/" if ":" in host else f"http://{host}:{self.port}/"

    def start(self) -> ViewerServer:
        """Serve in background threads (daemons: they never keep the process alive)."""
        if self.host not in LOOPBACK:
            print(f"warning: the viewer listens on {self.host}:{self.port}, reachable from other machines; anyone "
                  "who can reach it can see this scene and write exports into the run folder", file=sys.stderr)
        self._threads.append(threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                              name="lift3d-viewer", daemon=True))
        if self.idle_timeout is not None:
            self._threads.append(threading.Thread(target=self._watch_idle, name="lift3d-viewer-idle", daemon=True))
        for t in self._threads:
            t.start()
        return self

    def _watch_idle(self) -> None:
        while not self.stopped.wait(0.1):
            last = self.last_request
            if last is not None and time.monotonic() - last > self.idle_timeout:
                self.close()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the server stops (idle timeout or :meth:`close`); True if it stopped."""
        return self.stopped.wait(timeout)

    def close(self) -> None:
        """Stop serving and free the port (idempotent)."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
            if self._threads:  # shutdown() waits for serve_forever, which only runs once started
                self.httpd.shutdown()
            self.httpd.server_close()
        self.stopped.set()

    def state(self) -> dict:
        """What the page polls every second."""
        return {
            "title": self.source.title,
            "versions": self.source.versions(),
            "target": list(self.source.target),
            "distance": framing_distance(self.source.radius),
            "fov": Orbit.fov_y,
            "exportable": hasattr(self.source, "run"),
            "status": self.source.status(),
        }


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    server_version = "lift3d-viewer"

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        """Quiet: a page polls every second."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._route("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._route("POST")

    def _route(self, method: str) -> None:
        viewer = self.server.viewer
        viewer.last_request = time.monotonic()
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        try:
            if method == "GET" and url.path in ("/", "/index.html"):
                self._send(200, page_html(), "text/html; charset=utf-8")
            elif method == "GET" and url.path == "/api/state":
                self._json(200, viewer.state())
            elif method == "GET" and url.path == "/api/frame":
                png = viewer.frames.png(_version(query), Orbit.from_query(query), query.get("live") == ["1"])
                self._send(200, png, "image/png")
            elif method == "GET" and url.path == "/api/validation":
                self._validation(query.get("name", [""])[0])
            elif method == "POST" and url.path == "/api/export":
                written = viewer.source.export(_version(query))
                self._json(200, {"written": [str(p) for p in written]})
            else:
                self._json(404, {"error": f"no such endpoint: {method} {url.path}"})
        except LiftError as e:
            self._json(422, {"error": str(e)})
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as e:  # one line for the page; the server keeps serving
            self._json(500, {"error": f"{type(e).__name__}: {e}"})

    def _validation(self, name: str) -> None:
        run = getattr(self.server.viewer.source, "run", None)
        if run is None or not _VALIDATION.fullmatch(name) or not (run.media_dir / name).is_file():
            self._json(404, {"error": f"no validation image {name!r}"})
            return
        self._send(200, (run.media_dir / name).read_bytes(), "image/png")

    def _json(self, code: int, payload: dict) -> None:
        self._send(code, json.dumps(payload).encode(), "application/json")

    def _send(self, code: int, body: bytes, content_type: str) -> None:
        try:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass


def _version(query: dict[str, list[str]]) -> int:
    try:
        return int(query.get("v", ["0"])[0])
    except ValueError:
        raise LiftError("bad version: v must be an integer") from None
