"""An OpenAI-compatible chat server for tests of the endpoint backends (LLM teacher, refinement, VLM)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class ChatServer:
    """A tiny OpenAI chat-completions server on 127.0.0.1, standing in for a remote vLLM/SGLang endpoint.

    ``answer`` maps the request's last user message to the reply (default: upper-cased); ``fail_first``
    requests get HTTP 500 before it starts answering; ``status`` forces one status for all.
    """

    def __init__(self, fail_first: int = 0, status: int | None = None, answer: Callable[[str], str] | None = None):
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        self.fail_first = fail_first
        self.status = status
        self.answer = answer or str.upper
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with lock:
                    server.requests.append(body)
                    server.headers.append(dict(self.headers))
                    n = len(server.requests)
                if self.path != "/v1/chat/completions":
                    return self._send(404, {"error": "not found"})
                if server.status is not None:
                    return self._send(server.status, {"error": "forced"})
                if n <= server.fail_first:
                    return self._send(500, {"error": "try again"})
                content = server.answer(body["messages"][-1]["content"])
                self._send(200, {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]})

            def _send(self, status, payload):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
