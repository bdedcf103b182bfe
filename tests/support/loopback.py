"""A scriptable HTTP server on 127.0.0.1 for driving real provider SDKs in tests.

Each test queues :class:`Reply` objects; every incoming request takes the next
one (or the route's default).  A reply is a JSON body, an SSE stream (with
per-event delays), a raw body, or a connection that drops mid-stream.  Every
request is recorded so tests can assert on what the SDK actually sent.

Protocol-specific helpers (Chat Completions chunks, Responses events,
Anthropic events, Gemini chunks) live in sibling modules and only build
:class:`Reply` objects.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class SSEEvent:
    data: str
    event: str | None = None
    delay: float = 0.0


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    json_body: Any = None
    raw_body: bytes | None = None
    sse: list[SSEEvent] | None = None
    #: for SSE: close the socket after this many events, without a proper end
    drop_after: int | None = None
    #: seconds to wait before sending the status line (read-timeout tests)
    delay: float = 0.0
    #: JSON lines streaming (newline-delimited JSON) instead of SSE
    ndjson: list[Any] | None = None


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")


class LoopbackServer:
    """Start with ``with LoopbackServer() as srv:``; ``srv.url`` is ``http://127.0.0.1:PORT``."""

    def __init__(self) -> None:
        self.queue: deque[Reply] = deque()
        self.default: Reply | None = None
        #: when set, decides each reply from the recorded request (queued replies still go first)
        self.responder: Callable[[Recorded], Reply] | None = None
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with server._lock:
                    server.requests.append(
                        Recorded(
                            self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body
                        )
                    )
                    recorded = server.requests[-1]
                    if server.queue:
                        reply = server.queue.popleft()
                    elif server.responder is not None:
                        reply = server.responder(recorded)
                    else:
                        reply = server.default
                if reply is None:
                    reply = Reply(status=500, json_body={"error": {"message": "loopback: no reply queued"}})
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    server._send(self, reply)

            do_GET = _handle  # noqa: N815 - http.server's naming
            do_POST = _handle  # noqa: N815
            do_DELETE = _handle  # noqa: N815
            do_PUT = _handle  # noqa: N815

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # -- scripting -------------------------------------------------------------------------
    def push(self, *replies: Reply) -> None:
        with self._lock:
            self.queue.extend(replies)

    def last_json(self) -> Any:
        return self.requests[-1].json()

    # -- sending ---------------------------------------------------------------------------
    @staticmethod
    def _send(h: BaseHTTPRequestHandler, reply: Reply) -> None:
        if reply.delay:
            time.sleep(reply.delay)
        if reply.sse is not None or reply.ndjson is not None:
            h.send_response(reply.status)
            ctype = "text/event-stream" if reply.sse is not None else "application/json"
            h.send_header("Content-Type", ctype)
            h.send_header("Cache-Control", "no-cache")
            h.send_header("Connection", "close")
            for k, v in reply.headers.items():
                h.send_header(k, v)
            h.end_headers()
            h.close_connection = True
            items: list[bytes] = []
            delays: list[float] = []
            if reply.sse is not None:
                for ev in reply.sse:
                    chunk = ""
                    if ev.event:
                        chunk += f"event: {ev.event}\n"
                    for line in ev.data.split("\n"):
                        chunk += f"data: {line}\n"
                    items.append((chunk + "\n").encode())
                    delays.append(ev.delay)
            else:
                assert reply.ndjson is not None
                items = [(json.dumps(o) + "\n").encode() for o in reply.ndjson]
                delays = [0.0] * len(items)
            for i, (item, delay) in enumerate(zip(items, delays, strict=True)):
                if reply.drop_after is not None and i >= reply.drop_after:
                    h.wfile.flush()
                    h.connection.shutdown(socket.SHUT_RDWR)
                    return
                if delay:
                    time.sleep(delay)
                h.wfile.write(item)
                h.wfile.flush()
            return
        if reply.raw_body is not None:
            payload = reply.raw_body
            ctype = reply.headers.get("Content-Type", "text/plain")
        else:
            payload = json.dumps(reply.json_body if reply.json_body is not None else {}).encode()
            ctype = "application/json"
        h.send_response(reply.status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(payload)))
        for k, v in reply.headers.items():
            if k.lower() != "content-type":
                h.send_header(k, v)
        h.end_headers()
        h.wfile.write(payload)
        h.wfile.flush()

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
