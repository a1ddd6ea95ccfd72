"""A stand-in for the OpenAI API on loopback: ``POST /v1/chat/completions`` with a canned answer and usage.

Streams (``"stream": true``) as server-sent events, with the usage chunk last when the client asks for it
(``stream_options.include_usage``), as the real API does. Every request body is kept in ``requests``.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PROMPT_TOKENS = 42
COMPLETION_TOKENS = 17
CACHED_TOKENS = 10
REASONING_TOKENS = 0


def _usage() -> dict[str, Any]:
    return {
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": COMPLETION_TOKENS,
        "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
        "prompt_tokens_details": {"cached_tokens": CACHED_TOKENS},
        "completion_tokens_details": {"reasoning_tokens": REASONING_TOKENS},
    }


class OpenAIStub:
    """``with OpenAIStub() as stub: OPENAI_BASE_URL = stub.url``."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                stub.requests.append(body)
                model = body.get("model", "gpt-4o-mini")
                if body.get("stream"):
                    self._stream(model, bool((body.get("stream_options") or {}).get("include_usage")))
                    return
                answer = {
                    "id": "chatcmpl-stub",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": "Hello!"},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": _usage(),
                }
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, model: str, include_usage: bool) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                base = {"id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": int(time.time())}
                chunks = [
                    {
                        **base,
                        "model": model,
                        "choices": [{"index": 0, "delta": {"role": "assistant", "content": "He"}}],
                    },
                    {**base, "model": model, "choices": [{"index": 0, "delta": {"content": "llo!"}}]},
                    {
                        **base,
                        "model": model,
                        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                    },
                ]
                if include_usage:
                    chunks.append({**base, "model": model, "choices": [], "usage": _usage()})
                for i, chunk in enumerate(chunks):
                    if i == 1:
                        time.sleep(0.03)  # a measurable time to first token
                    self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
                    self.wfile.flush()
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> OpenAIStub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
