"""The viewer's HTTP server: the page and the endpoints of :mod:`lift3d.viewer.api` (JSON state, PNG frames in
every render mode, loss curves, validation grids, exports), for one source or two side by side (``compare``).

Standard library only (``http.server``), one thread per request, loopback by default. The page
(``web/live.html``) orbits by asking for frames; lift3d renders them with its own renderers
(:mod:`lift3d.viewer.frames`). With ``idle_timeout`` the server stops by itself once no page has polled
it for that long (the page polls every second while open), e.g. after the browser tab closes; the clock
starts with the first request, so a browser may take its time to open.

Every request passes :meth:`_Handler._refusal` first (403 and a one-line JSON error otherwise):

* the ``Host`` header must name this viewer: ``localhost`` or a loopback address, the ``--host`` value,
  and, when bound to every interface (``0.0.0.0``/``::``), an IP address or this machine's name; any
  port (so ssh tunnels work). A web page that rebinds its own DNS name to 127.0.0.1 sends its own name;
* bound beyond loopback, the request must carry the viewer's random token (``?token=`` in the printed
  URL, then an HttpOnly ``SameSite=Strict`` cookie the first answer sets, or ``?token=`` again);
* an ``Origin`` header, when present, must be the served origin; a state-changing request (POST)
  without one must not say ``Sec-Fetch-Site: cross-site``/``same-site`` (browsers send one or the other).
"""

from __future__ import annotations

import errno
import ipaddress
import json
import secrets
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from urllib.parse import parse_qs, urlsplit

from lift3d.types import LiftError
from lift3d.viewer import api
from lift3d.viewer.frames import FrameRenderer
from lift3d.viewer.query import BadRequest
from lift3d.viewer.source_base import Source

LOOPBACK = ("127.0.0.1", "localhost", "::1")
WILDCARD = ("", "0.0.0.0", "::")
"""Hosts that bind every interface."""
_SAFE_METHODS = ("GET", "HEAD")


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

    ``compare``: a second source the page shows beside the first, from the same camera (``src=1``).

    Bound beyond loopback, every request must carry :attr:`token` (``require_token``: on loopback too);
    :attr:`page_url` is the URL to open (it carries the token when one is required).

    Raises:
        LiftError: the port is out of range or in use, or the host cannot be resolved or bound (one line,
            with what to do).
    """

    def __init__(self, source: Source, host: str = "127.0.0.1", port: int = 7007, idle_timeout: float | None = None,
                 duty: float = 0.03, require_token: bool = False, compare: Source | None = None) -> None:
        host = _unbracket(host)
        self.source, self.host, self.idle_timeout = source, host, idle_timeout
        self.sources: list[Source] = [source] if compare is None else [source, compare]
        self.httpd = _bind(host, port, _Handler)
        self.httpd.viewer = self
        self.port = self.httpd.server_address[1]
        self.token = secrets.token_urlsafe(24) if require_token or not is_loopback(host) else None
        """Required on every request when set (``?token=`` or the cookie :attr:`cookie_name`)."""
        self.cookie_name = f"lift3d_token_{self.port}"
        self.host_names = _host_names(host, self.httpd)
        lock = threading.Lock()  # one render at a time, whichever pane asks
        self.renderers = [FrameRenderer(s, duty, lock) for s in self.sources]
        self.frames = self.renderers[0]
        self.last_request: float | None = None
        """When the last request arrived (None before the first: the idle timeout starts with the first page)."""
        self.stopped = threading.Event()
        self._threads: list[threading.Thread] = []
        self._close_lock = threading.Lock()
        self._closed = False

    @property
    def url(self) -> str:
        """The server's base URL, without the token (loopback when bound to every interface)."""
        host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.host, self.host)
        return f"http://[{host}]:{self.port}/" if ":" in host else f"http://{host}:{self.port}/"

    @property
    def page_url(self) -> str:
        """The URL to open in a browser: :attr:`url`, with ``?token=`` when a token is required."""
        return self.url + (f"?token={self.token}" if self.token else "")

    def allows_host(self, header: str | None) -> bool:
        """Whether a request's ``Host`` header names this viewer (any port; see the module docstring)."""
        name = _host_name(header or "")
        if name is None:
            return False
        if name in self.host_names or is_loopback(name):
            return True
        return self.host in WILDCARD and _is_ip(name)

    def has_token(self, query: dict[str, list[str]], cookie_header: str | None) -> bool:
        """Whether the request carries :attr:`token` (always true when none is required)."""
        if self.token is None:
            return True
        offered = query.get("token", []) + _cookies(cookie_header).get(self.cookie_name, [])
        return any(secrets.compare_digest(t.encode(), self.token.encode()) for t in offered)

    def start(self) -> ViewerServer:
        """Serve in background threads (daemons: they never keep the process alive)."""
        if not is_loopback(self.host):
            where = f"http://{socket.gethostname()}:{self.port}/" if self.host in WILDCARD else self.url
            print(f"warning: the viewer listens on {self.host or '*'}:{self.port}, reachable from other machines; "
                  f"anyone with its token can see this scene and write exports into the run folder (open "
                  f"{where}?token={self.token} from elsewhere; the connection is not encrypted)", file=sys.stderr)
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
        """What the page polls every second (:func:`lift3d.viewer.api.state`)."""
        return api.state(self)


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    server_version = "lift3d-viewer"
    _cookie: str | None = None

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        """Quiet: a page polls every second."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._route("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._route("POST")

    def _route(self, method: str) -> None:
        viewer = self.server.viewer
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        self._cookie = None
        refusal = self._refusal(method, query)
        if refusal is not None:
            self._json(403, {"error": refusal})
            return
        viewer.last_request = time.monotonic()
        try:
            if method == "GET" and url.path in ("/", "/index.html"):
                if viewer.token is not None:  # the page's own requests then carry it without ?token=
                    self._cookie = f"{viewer.cookie_name}={viewer.token}; Path=/; HttpOnly; SameSite=Strict"
                self._send(200, page_html(), "text/html; charset=utf-8")
                return
            answer = api.handle(viewer, method, url.path, query)
            if answer is None:
                self._json(404, {"error": f"no such endpoint: {method} {url.path}"})
            else:
                self._send(*answer)
        except BadRequest as e:
            self._json(400, {"error": str(e)})
        except LiftError as e:
            self._json(422, {"error": str(e)})
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as e:  # one line for the page; the server keeps serving
            self._json(500, {"error": f"{type(e).__name__}: {e}"})

    def _refusal(self, method: str, query: dict[str, list[str]]) -> str | None:
        """Why this request is refused (one line), or None to serve it; see the module docstring."""
        viewer = self.server.viewer
        host = self.headers.get("Host")
        if not viewer.allows_host(host):
            return (f"refused: Host {host!r} is not this viewer's; open {viewer.url} (or pass the name you use "
                    "as --host)")
        if not viewer.has_token(query, self.headers.get("Cookie")):
            return "refused: this viewer needs its token; open the URL lift3d printed (it ends in ?token=...)"
        origin = self.headers.get("Origin")
        if origin is not None and origin.lower() != f"http://{host.strip().lower()}":
            return f"refused: cross-origin request from {origin!r}"
        if method not in _SAFE_METHODS and origin is None \
                and self.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
            return "refused: cross-site request"
        return None

    def _json(self, code: int, payload: dict) -> None:
        self._send(code, json.dumps(payload).encode(), "application/json")

    def _send(self, code: int, body: bytes, content_type: str) -> None:
        try:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("Referrer-Policy", "no-referrer")
            self.send_header("X-Frame-Options", "DENY")
            self.send_header("X-Content-Type-Options", "nosniff")
            if self._cookie:
                self.send_header("Set-Cookie", self._cookie)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass


def check_address(host: str, port: int) -> None:
    """Raise :class:`LiftError` (one line, with what to do) unless ``host:port`` can be listened on.

    Cheap (binds and frees the port), so callers run it before loading a scene.
    """
    _bind(_unbracket(host), port, BaseHTTPRequestHandler).server_close()


def _bind(host: str, port: int, handler: type[BaseHTTPRequestHandler]) -> _HTTPServer:
    """A bound HTTP server, or a one-line :class:`LiftError` naming the problem and the fix."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise LiftError(f"port {port} is out of range 0-65535; pass --port 7007 or another free port "
                        "(--port 0: any free port)")
    try:
        return (_HTTPServer6 if ":" in host else _HTTPServer)((host, port), handler)
    except socket.gaierror as e:
        raise LiftError(f"cannot resolve host {host!r} ({e.strerror}); pass --host 127.0.0.1 (this machine only) "
                        "or an address or name of this machine") from None
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise LiftError(f"port {port} on {host} is already in use; pass --port N (or --port 0 for any free "
                            "port)") from None
        if e.errno == errno.EADDRNOTAVAIL:
            raise LiftError(f"cannot listen on {host}: it is not an address of this machine; pass --host "
                            "127.0.0.1 (this machine only) or 0.0.0.0 (every interface)") from None
        if e.errno == errno.EACCES:
            raise LiftError(f"no permission to listen on {host}:{port} (ports below 1024 need root); pass --port "
                            "7007 or another free port above 1023") from None
        raise LiftError(f"cannot listen on {host}:{port} ({e.strerror or e}); check --host and --port") from None


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback IP address (names other than ``localhost`` are not trusted to be)."""
    host = _unbracket(host).lower()
    return host == "localhost" or (_is_ip(host) and ipaddress.ip_address(host.split("%")[0]).is_loopback)


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name.split("%")[0])
    except ValueError:
        return False
    return True


def _unbracket(host: str) -> str:
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def _host_names(host: str, httpd: _HTTPServer) -> frozenset[str]:
    """The names a ``Host`` header may use besides loopback ones: ``host``, or this machine's when bound to all."""
    if host in WILDCARD:
        return frozenset(n.lower() for n in (socket.gethostname(), httpd.server_name) if n)
    return frozenset({host.lower()})


def _host_name(header: str) -> str | None:
    """The lower-case name of a ``Host`` header without port or IPv6 brackets; None when malformed."""
    header = header.strip().lower()
    if header.startswith("["):
        name, _, rest = header[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else rest
    else:
        name, _, port = header.partition(":")
    if not name or (port and not port.isdigit()):
        return None
    return name


def _cookies(header: str | None) -> dict[str, list[str]]:
    """``Cookie: a=1; b=2`` as ``{"a": ["1"], "b": ["2"]}`` (lenient: malformed pairs are skipped)."""
    out: dict[str, list[str]] = {}
    for pair in (header or "").split(";"):
        name, eq, value = pair.strip().partition("=")
        if eq:
            out.setdefault(name, []).append(value.strip('"'))
    return out
