"""A tiny blocking ESL client for tests of the double (no gevent): frames go to a queue."""

from __future__ import annotations

import collections
import queue
import socket
import threading

from pbx.esl.protocol import Event, Frame, FrameParser, is_event_frame, parse_event


class RawClient:
    """Connects, reads frames on a thread, lets tests wait for them with timeouts."""

    def __init__(self, host: str, port: int, timeout: float = 3.0, *, sock=None) -> None:
        self.sock = sock or socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(None)
        self.timeout = timeout
        self.frames: queue.Queue[Frame | None] = queue.Queue()
        self.raw = bytearray()
        self._skipped: collections.deque[Frame] = collections.deque()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    @classmethod
    def from_socket(cls, sock: socket.socket, timeout: float = 3.0) -> RawClient:
        """Wrap an accepted socket (our side of an outbound-socket session)."""
        return cls("", 0, timeout, sock=sock)

    def _read(self) -> None:
        parser = FrameParser()
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                self.frames.put(None)
                return
            self.raw += data
            for frame in parser.feed(data):
                self.frames.put(frame)

    def send(self, command: str) -> None:
        self.sock.sendall(command.encode("utf-8") + b"\n\n")

    def next_frame(self, timeout: float | None = None) -> Frame | None:
        """The next frame, or None when the server closed the connection."""
        if self._skipped:
            return self._skipped.popleft()
        return self.frames.get(timeout=timeout or self.timeout)

    def reply(self, command: str) -> Frame:
        """Send a command and return its reply (command/reply or api/response); events that
        arrive first stay queued for next_frame/next_event."""
        self.send(command)
        held = []
        while True:
            frame = self.frames.get(timeout=self.timeout)
            assert frame is not None, f"connection closed waiting for the reply to {command!r}"
            if not is_event_frame(frame) or frame.content_type == "command/reply":
                self._skipped.extend(held)
                return frame
            held.append(frame)

    def login(self, password: str = "ClueCon") -> Frame:
        first = self.next_frame()
        assert first is not None and first.content_type == "auth/request"
        return self.reply(f"auth {password}")

    def next_event(self, timeout: float | None = None) -> Event:
        while True:
            frame = self.next_frame(timeout)
            assert frame is not None, "connection closed"
            if is_event_frame(frame):
                return parse_event(frame)

    def events_until(self, predicate, timeout: float | None = None) -> list[Event]:
        """Events up to and including the first one for which ``predicate`` is true."""
        got = []
        while True:
            ev = self.next_event(timeout)
            got.append(ev)
            if predicate(ev):
                return got

    def wait_closed(self, timeout: float | None = None) -> bool:
        while True:
            try:
                frame = self.next_frame(timeout)
            except queue.Empty:
                return False
            if frame is None:
                return True

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
