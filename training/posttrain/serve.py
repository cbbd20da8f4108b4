"""A small OpenAI-compatible server over a transformers model (``/v1/models``, ``/v1/completions``,
``/v1/chat/completions``): the generation engine for `OpenAIBackend` where no vLLM is at hand, and the real
server the tests start on 127.0.0.1. One request generates at a time (a lock around the model)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from training.posttrain.chat import generation_prompt
from training.posttrain.generate import TransformersBackend


def make_server(backend: TransformersBackend, name: str, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            return

        def _send(self, code: int, payload: dict) -> None:
            body = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path.rstrip("/") == "/v1/models":
                return self._send(200, {"object": "list", "data": [{"id": name, "object": "model"}]})
            self._send(404, {"error": {"message": f"no route {self.path}"}})

        def do_POST(self):
            try:
                req = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                if self.path.rstrip("/") == "/v1/completions":
                    prompt, chat = req["prompt"], False
                elif self.path.rstrip("/") == "/v1/chat/completions":
                    prompt, chat = generation_prompt(req["messages"]), True
                else:
                    return self._send(404, {"error": {"message": f"no route {self.path}"}})
                max_tokens = int(req.get("max_tokens") or 256)
                with lock:
                    c = backend.complete(
                        [prompt], max_tokens, float(req.get("temperature") or 0.0), int(req.get("seed") or 0)
                    )[0]
            except (KeyError, ValueError, TypeError) as exc:
                return self._send(400, {"error": {"message": f"bad request: {exc}"}})
            prompt_tokens = len(backend.tok.encode(prompt, add_special_tokens=False))
            choice = {"index": 0, "finish_reason": c.finish}
            if chat:
                choice["message"] = {"role": "assistant", "content": c.text}
            else:
                choice["text"] = c.text
            self._send(
                200,
                {
                    "id": f"cmpl-{time.time_ns()}",
                    "object": "chat.completion" if chat else "text_completion",
                    "model": name,
                    "choices": [choice],
                    "usage": {
                        "prompt_tokens": prompt_tokens,
                        "completion_tokens": c.tokens,
                        "total_tokens": prompt_tokens + c.tokens,
                    },
                },
            )

    return ThreadingHTTPServer((host, port), Handler)


def serve_in_thread(server: ThreadingHTTPServer) -> threading.Thread:
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    return t
