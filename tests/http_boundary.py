"""The far side of our outgoing HTTP (Twilio's REST API, customers' webhooks) on 127.0.0.1.

A real HTTP server that answers as Twilio's Messages endpoint does (201 with a message sid) and
anything else with 200, and keeps every request as `(path, headers, body)` in `.requests`.
Tests read what we really sent there instead of stubbing our own senders.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TWILIO_SID = "AC0123456789abcdef0123456789abcdef"
TWILIO_TOKEN = "twilio-token"
TWILIO_FROM = "+15005550006"
MESSAGE_SID = "SM42"


class _Recorder(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.requests.append((self.path, dict(self.headers), body))
        reply = b'{"sid": "%s", "status": "queued"}' % MESSAGE_SID.encode()
        self.send_response(201 if "Messages.json" in self.path else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args) -> None:
        pass


@contextmanager
def recorder() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    server.requests = []
    server.url = f"http://127.0.0.1:{server.server_port}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def point_twilio_at(settings, server: ThreadingHTTPServer) -> None:
    settings.TWILIO_ACCOUNT_SID = TWILIO_SID
    settings.TWILIO_AUTH_TOKEN = TWILIO_TOKEN
    settings.TWILIO_FROM_NUMBER = TWILIO_FROM
    settings.TWILIO_API_BASE = server.url


def sms_sent(server: ThreadingHTTPServer) -> list[dict[str, list[str]]]:
    """The form of every SMS that reached Twilio's Messages endpoint, in order."""
    from urllib.parse import parse_qs

    return [parse_qs(body.decode()) for path, _, body in server.requests if "Messages.json" in path]
