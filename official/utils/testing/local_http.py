"""A real HTTP file server on 127.0.0.1 for download tests.

Serves in-memory files with HTTP Range support and can inject failures: the
first N requests of a path answer 503, or the first N responses of a path
advertise the full length but close the connection after `cut_after` bytes.
Every request is logged (path, Range header, status) for assertions.
"""

import dataclasses
import http.server
import re
import threading


@dataclasses.dataclass
class Faults:
    """Failures to inject for one path."""

    fail_503: int = 0  # Answer 503 to this many requests first.
    cut_responses: int = 0  # Cut this many responses short ...
    cut_after: int = 0  # ... after sending this many body bytes.
    ignore_range: bool = False  # Answer 200 with the whole file to Range requests.


@dataclasses.dataclass
class RequestRecord:
    """One request the server answered."""

    path: str
    range: str | None
    status: int


class LocalHTTPServer:
    """Context manager: `with LocalHTTPServer() as s: s.files["/a.zip"] = b"..."`."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.faults: dict[str, Faults] = {}
        self.requests: list[RequestRecord] = []
        self._lock = threading.Lock()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # Keep test output quiet.
                pass

            def do_GET(self):  # noqa: N802 (http.server API)
                server._serve(self)

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """Base URL, ending with `/`."""
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/"

    def __enter__(self) -> "LocalHTTPServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _record(self, handler, status: int) -> None:
        with self._lock:
            self.requests.append(RequestRecord(handler.path, handler.headers.get("Range"),
                                               status))

    def _serve(self, handler) -> None:
        path = handler.path.split("?")[0]
        body = self.files.get(path)
        faults = self.faults.setdefault(path, Faults())
        if body is None:
            self._record(handler, 404)
            handler.send_error(404)
            return
        if faults.fail_503 > 0:
            faults.fail_503 -= 1
            self._record(handler, 503)
            handler.send_error(503)
            return
        start = 0
        range_header = handler.headers.get("Range")
        match = re.fullmatch(r"bytes=(\d+)-", range_header or "")
        status = 200
        if match and not faults.ignore_range:
            start = int(match.group(1))
            if start >= len(body):
                self._record(handler, 416)
                handler.send_response(416)
                handler.send_header("Content-Range", f"bytes */{len(body)}")
                handler.send_header("Content-Length", "0")
                handler.end_headers()
                return
            status = 206
        payload = body[start:]
        self._record(handler, status)
        handler.send_response(status)
        handler.send_header("Content-Length", str(len(payload)))
        handler.send_header("Accept-Ranges", "bytes")
        if status == 206:
            handler.send_header("Content-Range",
                                f"bytes {start}-{len(body) - 1}/{len(body)}")
        if faults.cut_responses > 0:
            faults.cut_responses -= 1
            handler.send_header("Connection", "close")
            handler.end_headers()
            handler.wfile.write(payload[:faults.cut_after])
            handler.wfile.flush()
            handler.close_connection = True
            return
        handler.end_headers()
        handler.wfile.write(payload)
