"""Shared test support: the real server's URL, small HTTP helpers, a recording client and a scripted proxy.

The tests run against a real intersebd server whose URL is in ``INTERSEBD_URL`` (the node:test file
test/e2e/python-sdk.test.ts starts one and sets it). Without it they are skipped, loudly.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List, Optional, Tuple

# The package under test is the one next to these tests, whatever PYTHONPATH says.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import intersebd  # noqa: E402

SERVER_URL = (os.environ.get("INTERSEBD_URL") or "").rstrip("/")
# When the server requires a key, the helpers send it too (the SDK reads the same variable).
_KEY_HEADERS = {"x-intersebd-key": os.environ["INTERSEBD_API_KEY"]} if os.environ.get("INTERSEBD_API_KEY") else {}
_warned = False


def require_server() -> str:
    """Returns the server URL, or skips the calling module with a message on stderr that cannot be missed."""
    global _warned
    if not SERVER_URL:
        if not _warned:
            _warned = True
            sys.stderr.write(
                "\n!!! intersebd Python SDK server tests SKIPPED: INTERSEBD_URL is not set.\n"
                "!!! Run them through `node --test test/e2e/python-sdk.test.ts` (starts a server), or start one with\n"
                "!!! `node packages/server/src/cli/main.ts serve` and set INTERSEBD_URL=http://127.0.0.1:8787.\n\n"
            )
        raise unittest.SkipTest("INTERSEBD_URL is not set: no intersebd server to test against")
    return SERVER_URL


def unique(prefix: str) -> str:
    return "%s-%s" % (prefix, uuid.uuid4().hex[:12])


def api(method: str, path: str, body: Any = None) -> Tuple[int, Any]:
    """A request to the real server: (status, parsed JSON or text)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        SERVER_URL + path, data=data, method=method, headers={"content-type": "application/json", **_KEY_HEADERS}
    )
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            status, text = resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read().decode()
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def tag_detail(tag: str) -> Dict[str, Any]:
    status, body = api("GET", "/api/tags/" + urllib.parse.quote(tag, safe=""))
    assert status == 200, (status, body)
    return body


def annotations_on(key: str) -> List[Dict[str, Any]]:
    """The annotations stored with exactly this key."""
    return [a for a in tag_detail(key)["annotations"] if a["annotationKey"] == key]


def ingest_call(completion_id: str) -> Dict[str, Any]:
    """Stores a call with a known completion id through POST /api/calls."""
    status, body = api(
        "POST",
        "/api/calls",
        {
            "request": {"model": "m", "messages": [{"role": "user", "content": "title for my document"}]},
            "response": {
                "id": completion_id,
                "object": "chat.completion",
                "model": "m",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "A title"},
                        "finish_reason": "stop",
                    }
                ],
            },
        },
    )
    assert status in (201, 202), (status, body)
    return body


def wait_for(check: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    until = time.monotonic() + timeout
    while True:
        v = check()
        if v:
            return v
        if time.monotonic() > until:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.02)


def free_port() -> int:
    """A port on 127.0.0.1 where nothing listens (bound, read, released)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class RecordingClient(intersebd.Intersebd):
    """An Intersebd that records each request it makes (path, number of events, outcome) and each backoff delay.
    It still sends for real: only the bookkeeping is added."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.errors: List[intersebd.IntersebdError] = []
        kwargs.setdefault("on_error", self.errors.append)
        self.requests: List[Tuple[str, int, Any]] = []
        self.delays: List[float] = []
        super().__init__(*args, **kwargs)

    def _post(self, path: str, body: bytes) -> Tuple[int, Any, str]:
        n = len(json.loads(body))
        try:
            status, headers, text = super()._post(path, body)
        except Exception as exc:
            self.requests.append((path, n, exc))
            raise
        self.requests.append((path, n, status))
        return status, headers, text

    def _backoff(self, attempt: int, retry_after: Optional[float]) -> float:
        delay = super()._backoff(attempt, retry_after)
        self.delays.append(delay)
        return delay


# A rule sees (request number from 0, path, parsed body) and returns None to forward the request to the real
# server, or (status, headers, body) to answer it itself, or ("forward_then", status) to forward it and then
# answer with that status anyway (the server stored it; the client believes it failed).
Rule = Callable[[int, str, Any], Any]


class ScriptedProxy:
    """A local HTTP server between the SDK and the real server: records every request, answers some itself
    according to ``rule`` and forwards the others."""

    def __init__(self, rule: Rule, port: int = 0) -> None:
        self.rule = rule
        self.seen: List[Dict[str, Any]] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                parsed = json.loads(body)
                with proxy._lock:
                    n = len(proxy.seen)
                    proxy.seen.append({"path": self.path, "headers": dict(self.headers.items()), "body": parsed})
                action = proxy.rule(n, self.path, parsed)
                if action is None or action[0] == "forward_then":
                    status, text = _forward(self.path, body)
                    if action is not None:
                        status, text = action[1], json.dumps({"error": {"message": "scripted", "code": "x"}})
                    self._answer(status, {}, text)
                else:
                    status, headers, payload = action
                    self._answer(status, headers, json.dumps(payload))

            def _answer(self, status: int, headers: Dict[str, str], text: str) -> None:
                data = text.encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _forward(path: str, body: bytes) -> Tuple[int, str]:
    req = urllib.request.Request(
        SERVER_URL + path, data=body, method="POST", headers={"content-type": "application/json", **_KEY_HEADERS}
    )
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def error_answer(status: int, message: str, field: Optional[str] = None, code: str = "invalid_request") -> Any:
    return (status, {}, {"error": {"message": message, "field": field, "code": code, "type": "intersebd_error"}})
