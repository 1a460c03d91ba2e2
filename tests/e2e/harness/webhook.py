"""A notification receiver on loopback: what the engine's webhooks really delivered."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any


class Webhook:
    """Records every JSON body POSTed to ``url`` (and each try's headers and raw body);
    answers 500 to the first ``fail_first`` tries."""

    def __init__(self, fail_first: int = 0) -> None:
        received: list[dict[str, Any]] = []
        self.received = received
        self.tries: list[tuple[dict[str, str], bytes]] = []
        tries = self.tries
        self.fail_first = fail_first
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                tries.append((dict(self.headers.items()), body))
                if len(tries) <= hook.fail_first:
                    self.send_response(500)
                    self.end_headers()
                    return
                received.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}/emergency"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
