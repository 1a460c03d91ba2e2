"""Asterisk's own view over AMI: every event, read by a thread of the test, to prove
what ARI does not report (music on hold starting and stopping)."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any


class AmiWatcher:
    def __init__(self, host: str = "127.0.0.1", port: int = 5038, user: str = "cti",
                 secret: str = "cti-sandbox") -> None:
        self.events: list[dict[str, str]] = []
        self._sock = socket.create_connection((host, port), timeout=5)
        self._sock.sendall(f"Action: Login\r\nUsername: {user}\r\nSecret: {secret}\r\nEvents: on\r\n\r\n".encode())
        self._closed = False
        self._logged_in = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        if not self._logged_in.wait(10):
            raise AssertionError("AMI login failed or timed out")

    def _read(self) -> None:
        buf = b""
        self._sock.settimeout(0.5)
        while not self._closed:
            try:
                chunk = self._sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            while b"\r\n\r\n" in buf:
                block, buf = buf.split(b"\r\n\r\n", 1)
                fields: dict[str, str] = {}
                for line in block.decode(errors="replace").split("\r\n"):
                    key, sep, value = line.partition(": ")
                    if sep:
                        fields.setdefault(key, value)
                if fields.get("Response") == "Success" and "Message" in fields:
                    self._logged_in.set()
                if "Event" in fields:
                    fields["_seen_at"] = str(time.time())
                    self.events.append(fields)

    def of(self, kind: str, **match: Any) -> list[dict[str, str]]:
        return [ev for ev in list(self.events) if ev.get("Event") == kind
                and all(ev.get(k) == v for k, v in match.items())]

    def close(self) -> None:
        self._closed = True
        try:
            self._sock.sendall(b"Action: Logoff\r\n\r\n")
        except OSError:
            pass
        self._thread.join(2)
        self._sock.close()
