"""The server's connection limits: header and keep-alive timeouts, a connection cap, quiet errors.

aiohttp keeps a connection that never sends a byte for its keep-alive
default (an hour), has no separate deadline for the request line and
headers, accepts connections until the process runs out of file
descriptors, and answers a malformed or oversized request line with a
plain-text 400 and a traceback in the log. Here:

* `header_timeout_s`: a new connection must send its request line and
  headers within this time, else it gets `408` with one JSON line and is
  closed;
* `keepalive_timeout_s`: an idle kept-alive connection is closed after this
  time (aiohttp's own keep-alive timer);
* `max_connections`: beyond this many open connections a new one is
  answered `503` with one JSON line and closed at once; the cap is lowered
  to fit the process's file-descriptor limit (`RLIMIT_NOFILE`) with room for
  the model's own files, so accepting never runs out of descriptors;
* every error aiohttp answers itself (a request line over 8,190 bytes, too
  many or too large headers, a malformed request) is a 4xx with
  `{"error": ...}`, logged as one line without a traceback;
* the event loop's "out of system resource" accept errors, if they happen
  anyway, are logged as one line at most every `QUIET_INTERVAL_S`.
"""

import asyncio
import dataclasses
import json
import os
import resource
import time

from absl import logging
from aiohttp import web, web_protocol

from official.utils.errors import first_line

QUIET_INTERVAL_S = 10.0
FD_RESERVE = 64  # descriptors kept free for the model, logs and the executor
REFUSE_LINGER_S = 1.0
BACKLOG = 64  # the listen backlog, also the most connections asyncio accepts in one go


@dataclasses.dataclass(frozen=True)
class Limits:
    """Connection limits (see the module docstring)."""

    max_connections: int = 512
    header_timeout_s: float = 10.0
    keepalive_timeout_s: float = 15.0


def fitted_max_connections(requested: int) -> int:
    """`requested`, lowered to fit the file-descriptor limit (one descriptor a connection).

    Raises:
      ValueError: fewer than one connection fits.
    """
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return requested
    in_use = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else 32
    # asyncio accepts up to the backlog's worth of connections before any is counted.
    fits = soft - in_use - FD_RESERVE - BACKLOG
    if fits < 1:
        raise ValueError(f"the file-descriptor limit ({soft}, `ulimit -n`) leaves no room for "
                         f"connections ({in_use} in use); raise it")
    if fits < requested:
        logging.warning("--max_connections %d lowered to %d to fit the file-descriptor limit "
                        "%d (`ulimit -n`)", requested, fits, soft)
    return min(requested, fits)


def _raw_json_response(status: int, reason: str, message: str) -> bytes:
    body = json.dumps({"error": message}).encode()
    return (f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body


class _Refuse(asyncio.Protocol):
    """Answers 503 at once and closes: the server is at --max_connections.

    What the client sends is read and dropped until it closes (at most
    `REFUSE_LINGER_S`), so the close does not reset the connection before
    the client has read the answer; beyond `FD_RESERVE // 2` refusals
    lingering at once, a refusal closes at once (descriptors stay bounded).
    """

    def __init__(self, factory: "_GuardedFactory"):
        self.factory, self.transport = factory, None

    def connection_made(self, transport) -> None:
        """Writes the 503 and half-closes."""
        transport.write(_raw_json_response(
            503, "Service Unavailable", "the server is at its limit of "
            f"{self.factory.max_connections} open connections; retry later"))
        if self.factory.lingering >= FD_RESERVE // 2 or not transport.can_write_eof():
            transport.close()
            return
        self.transport = transport
        self.factory.lingering += 1
        transport.write_eof()
        asyncio.get_running_loop().call_later(REFUSE_LINGER_S, transport.close)

    def connection_lost(self, exc) -> None:
        """One lingering refusal less."""
        if self.transport is not None:
            self.transport = None
            self.factory.lingering -= 1

    def data_received(self, data: bytes) -> None:
        """Drops the request."""

    def eof_received(self) -> bool:
        """The client is done: close."""
        return False


class GuardedHandler(web_protocol.RequestHandler):
    """aiohttp's connection handler with a deadline for the request head and JSON errors."""

    def __init__(self, manager, *, header_timeout_s: float, **kwargs):
        super().__init__(manager, **kwargs)
        self._header_timeout_s = header_timeout_s
        self._head_timer = None

    def connection_made(self, transport) -> None:
        """Starts the deadline of the request head."""
        super().connection_made(transport)
        # aiohttp also starts its keep-alive timer here; the first request's head has this
        # deadline instead (its timer would close the connection without an answer).
        if self._keepalive_handle is not None:
            self._keepalive_handle.cancel()
            self._keepalive_handle = None
        self._head_timer = self._loop.call_later(self._header_timeout_s, self._head_too_slow)

    def data_received(self, data: bytes) -> None:
        """Feeds aiohttp's parser; a parsed request head stops the deadline."""
        super().data_received(data)
        if self._head_timer is not None and self._request_count:  # a request head parsed
            self._head_timer.cancel()
            self._head_timer = None

    def connection_lost(self, exc) -> None:
        """Stops the deadline."""
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().connection_lost(exc)

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self.transport is not None and not self._request_count:
            self.transport.write(_raw_json_response(
                408, "Request Timeout", "the request line and headers did not arrive within "
                f"{self._header_timeout_s:g} s"))
            self.force_close()

    def handle_error(self, request, status: int = 500, exc=None, message=None):
        """Errors aiohttp answers itself (request line, headers): one JSON line, no traceback."""
        text = first_line(getattr(exc, "message", None) or message or exc or "bad request", 80)
        logging.info("HTTP %d from %s: %s", status, request.remote, text)
        response = web.json_response({"error": f"bad request: {text}" if status < 500
                                      else "internal error"}, status=status)
        response.force_close()
        return response


class _GuardedFactory:
    """The protocol factory in place of aiohttp's `web.Server`: caps and guards connections."""

    def __init__(self, server, limits: Limits, handler_kwargs: dict):
        self._server, self._limits, self._kwargs = server, limits, handler_kwargs
        self.max_connections = limits.max_connections
        self.lingering = 0  # refused connections not yet closed

    def __getattr__(self, name):  # shutdown, connections, ...: aiohttp's server's own
        return getattr(self._server, name)

    def __call__(self):
        if len(self._server.connections) >= self.max_connections:
            return _Refuse(self)
        return GuardedHandler(self._server, loop=asyncio.get_running_loop(),
                              header_timeout_s=self._limits.header_timeout_s, **self._kwargs)


class GuardedRunner(web.AppRunner):
    """`web.AppRunner` whose connections follow `Limits` (use with `web.TCPSite`)."""

    def __init__(self, app, limits: Limits, **kwargs):
        self._handler_kwargs = {"keepalive_timeout": limits.keepalive_timeout_s,
                                "access_log": None}
        super().__init__(app, **kwargs, **self._handler_kwargs)
        self._limits = limits

    async def _make_server(self):
        return _GuardedFactory(await super()._make_server(), self._limits, self._handler_kwargs)


def quiet_resource_errors(loop: asyncio.AbstractEventLoop) -> None:
    """Logs the loop's accept errors for lack of descriptors as one line, at most every 10 s."""
    last = [-QUIET_INTERVAL_S]

    def handler(loop, context) -> None:
        error = context.get("exception")
        if isinstance(error, OSError) and "out of system resource" in context.get("message", ""):
            now = time.monotonic()
            if now - last[0] >= QUIET_INTERVAL_S:
                last[0] = now
                logging.warning("cannot accept connections: %s (too many open files; lower "
                                "--max_connections or raise `ulimit -n`)", error.strerror)
            return
        loop.default_exception_handler(context)

    loop.set_exception_handler(handler)
