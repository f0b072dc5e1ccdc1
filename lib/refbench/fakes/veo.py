"""A loopback fake of Veo's long-running video generation, for tests and key-less demos.

google-genai 3.4 in Vertex mode posts ``/v1beta1/publishers/google/models/{m}:predictLongRunning``
(with an API key and no project) and polls ``POST /v1beta1/{operation resource}:fetchPredictOperation``
with ``{"operationName": ...}``. The fake answers ``done: false`` for ``pending_polls`` polls, then a
Vertex-shaped response with inline MP4 bytes; it can be told to fail the submit with an HTTP status
or end the operation with an error. Every request is kept (path, key header, body).
"""

from __future__ import annotations

import base64
import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_SUBMIT = re.compile(
    r"^/(v1|v1beta1)/(?:projects/[^/]+/locations/[^/]+/)?publishers/google/models/([^/:]+)"
    r":predictLongRunning$"
)
_FETCH = re.compile(r"^/(v1|v1beta1)/(.+/models/([^/:]+)):fetchPredictOperation$")
# Smallest byte string the SDK treats as a video: an ISO-BMFF 'ftyp' box header (not a playable movie).
FAKE_MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"


@dataclass
class ReceivedRequest:
    """One request the fake answered."""

    path: str
    api_key: str | None
    body: dict[str, Any]


@dataclass
class FakeVeo:
    """Threaded HTTP server on 127.0.0.1 (ephemeral port) speaking the Vertex Veo LRO protocol.

    Args:
        pending_polls: Polls answered ``done: false`` before the result.
        fail_submit: HTTP status returned by the next ``fail_submit_times`` submits (e.g. 503, 400).
        fail_operation: Error message ending the operation instead of videos.
        reset_submits: Submits whose connection is reset (closed without an answer), like a dropped link.
    """

    pending_polls: int = 1
    fail_submit: int | None = None
    fail_submit_times: int = 1
    fail_operation: str | None = None
    reset_submits: int = 0  # the next N submits get their connection closed without an answer
    videos_per_request: int = 1
    requests: list[ReceivedRequest] = field(default_factory=list)
    polls: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        """Base URL to give ``HttpOptions(base_url=...)``."""
        if self._server is None:
            raise RuntimeError("FakeVeo is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FakeVeo:
        """Bind an ephemeral loopback port and serve in a daemon thread."""
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Shut the server down and close its socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeVeo:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def take_reset(self) -> bool:
        """Whether this submit's connection is to be reset (counts one down)."""
        with self._lock:
            if self.reset_submits > 0:
                self.reset_submits -= 1
                return True
        return False

    def submit(self, model: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Answer a predictLongRunning call: a new operation, or the configured failure."""
        with self._lock:
            if self.fail_submit and self.fail_submit_times > 0:
                self.fail_submit_times -= 1
                return self.fail_submit, {
                    "error": {
                        "code": self.fail_submit,
                        "message": "fake failure",
                        "status": "UNAVAILABLE" if self.fail_submit >= 500 else "INVALID_ARGUMENT",
                    }
                }
            name = f"projects/fake/locations/us-central1/publishers/google/models/{model}/operations/{uuid.uuid4().hex}"
            self.polls[name] = 0
        return 200, {"name": name}

    def fetch(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Answer a fetchPredictOperation call."""
        name = body.get("operationName", "")
        with self._lock:
            if name not in self.polls:
                return 404, {"error": {"code": 404, "message": f"operation {name} not found", "status": "NOT_FOUND"}}
            self.polls[name] += 1
            if self.polls[name] <= self.pending_polls:
                return 200, {"name": name, "done": False, "metadata": {"progressPercent": 50}}
        if self.fail_operation:
            return 200, {"name": name, "done": True, "error": {"code": 3, "message": self.fail_operation}}
        video = base64.b64encode(FAKE_MP4).decode()
        return 200, {
            "name": name,
            "done": True,
            "response": {
                "@type": "type.googleapis.com/cloud.ai.large_models.vision.GenerateVideoResponse",
                "raiMediaFilteredCount": 0,
                "videos": [{"bytesBase64Encoded": video, "mimeType": "video/mp4"}] * self.videos_per_request,
            },
        }


def _handler(fake: FakeVeo) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except json.JSONDecodeError:
                self._send(400, {"error": {"code": 400, "message": "body is not JSON", "status": "INVALID_ARGUMENT"}})
                return
            path = self.path.split("?", 1)[0]
            fake.requests.append(ReceivedRequest(path, self.headers.get("x-goog-api-key"), body))
            if match := _SUBMIT.match(path):
                if fake.take_reset():
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self._send(*fake.submit(match.group(2), body))
            elif _FETCH.match(path):
                self._send(*fake.fetch(body))
            else:
                self._send(404, {"error": {"code": 404, "message": f"no route {path}", "status": "NOT_FOUND"}})

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            """Silence per-request logging."""

    return Handler
