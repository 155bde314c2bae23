"""A local OpenAI-compatible chat-completions server for the LLM polishing tests.

It speaks the real protocol (POST /v1/chat/completions, bearer auth, a `usage` block) and
answers each paragraph with `rewrite(paragraph)`; every request is recorded, so a test can
count the paragraphs a report sent for polishing. Threaded: Celery worker processes may
call it while the test process waits.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

API_KEY = "sk-test-secret-0123456789"
PROMPT_TOKENS = 120
COMPLETION_TOKENS = 45

Rewrite = Callable[[str], str]


class ReplayLLM:
    """A threaded chat-completions server; `rewrite` decides each answer."""

    def __init__(self) -> None:
        self.rewrite: Rewrite = lambda text: text
        self.requests: list[dict[str, Any]] = []
        self.fail_first: list[int] = []  # status codes to answer before succeeding
        server_self = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server_self.requests.append(
                    {"path": self.path, "auth": self.headers.get("Authorization"), "body": body}
                )
                if server_self.fail_first:
                    status = server_self.fail_first.pop(0)
                    self._send(status, {"error": {"message": "busy", "type": "rate_limit"}})
                    return
                if self.path != "/v1/chat/completions":
                    self._send(404, {"error": {"message": "not found"}})
                    return
                paragraph = body["messages"][-1]["content"]
                self._send(
                    200,
                    {
                        "id": "chatcmpl-replay",
                        "object": "chat.completion",
                        "created": 1700000000,
                        "model": body["model"],
                        "choices": [
                            {
                                "index": 0,
                                "message": {
                                    "role": "assistant",
                                    "content": server_self.rewrite(paragraph),
                                },
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {
                            "prompt_tokens": PROMPT_TOKENS,
                            "completion_tokens": COMPLETION_TOKENS,
                            "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
                        },
                    },
                )

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> ReplayLLM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def paragraphs(self) -> list[str]:
        """The paragraph texts sent so far (the last message of each chat request)."""
        return [r["body"]["messages"][-1]["content"] for r in self.requests if r.get("body")]
