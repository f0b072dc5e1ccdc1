"""A loopback fake of the Gemini API's ``generateContent`` for tests and key-less demos.

The real google-genai SDK talks to it over HTTP (``HttpOptions(base_url=fake.url)``); google-genai
3.4 in Gemini API mode posts to ``/v1/models/{model}:generateContent`` (verified), older versions to
``/v1beta/...``: both are served. Answers look like recorded API responses, including
``usageMetadata`` with token counts computed the way Gemini 2.x counts them (258 tokens per image
tile), and can be told to fail: HTTP 429/500/503, a safety stop, a blocked prompt, malformed JSON
text; or like a broken endpoint: trickle the body a byte at a time, never answer, send a body without
end, send HTML, redirect to another origin, echo the API key in an error, reset the connection. Every
request is kept (path, model, the ``x-goog-api-key`` it carried, body).

Image models answer with the request's first image (the "generation" is then the same person, a known right
answer for identity checks), or a wrong image when told (``mirror``, ``shrink``); a request with no image
gets ``text_image`` (what the fake "draws" from text alone) or, without one, the 400 an edit of nothing gets.
"""

from __future__ import annotations

import base64
import io
import json
import math
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image, ImageOps

FAILURE_KINDS = ("429", "500", "503", "safety", "prompt_blocked", "malformed")
# Image models' answers that hold an image, but a wrong one: the request's first image mirrored left-right (a
# generator that turned the head the wrong way), shrunk to a third in the middle of a grey canvas of the same
# size (a face far too small in frame), or ``text_image`` whatever the request holds (someone else: drift).
IMAGE_KINDS = ("mirror", "shrink", "stranger")
# Failures of the connection rather than of the answer: what a hostile or broken endpoint does.
TRANSPORT_KINDS = ("trickle", "hang", "huge", "html", "redirect", "echo_key", "reset")
_PATH = re.compile(r"^/(v1|v1beta|v1alpha)/models/([^/:]+):generateContent$")
_TYPE_MARKER = re.compile(r"ASSET TYPE: (\w+)")
IMAGE_TILE_TOKENS = 258  # Gemini 2.x: an image <= 384 px both sides, or each 768x768 tile of a larger one
IMAGE_OUTPUT_TOKENS = 1290  # gemini-2.5-flash-image bills each generated image (up to 1024 px) as 1290 tokens

# Recorded-style answers per asset type; schema properties not listed here get neutral defaults.
RECORDED: dict[str, dict[str, Any]] = {
    "character": {
        "reverse_prompt": "Head-and-shoulders photo of a man in his fifties with short grey hair, a clean-shaven "
        "oval face and a calm, slight smile, wearing a dark navy suit, white shirt and a blue tie; "
        "facing the camera, soft frontal daylight, blurred neutral background.",
        "visual_description": "Short grey hair, oval face, brown eyes, slight smile, navy suit, white shirt, blue "
        "tie, frontal head pose.",
        "suggested_name": "Grey-Haired Man In Navy Suit",
        "suitability": 8,
        "suitability_reason": "Sharp, frontal and evenly lit; the face is large in the crop.",
        "apparent_age_range": "50-60",
        "hair": "short, grey, neatly combed",
        "face": "oval face, straight eyebrows",
        "expression": "calm slight smile",
        "clothing": "navy suit, white shirt, blue tie",
        "pose_and_view": "frontal, looking at the camera",
        "lighting": "soft frontal daylight",
    },
    "prop": {
        "reverse_prompt": "Close-up product photo of a silk necktie with a diagonal stripe pattern in deep red and "
        "navy, knotted in a neat four-in-hand knot, soft studio light, plain background.",
        "visual_description": "Deep red silk tie with thin navy diagonal stripes, four-in-hand knot, glossy sheen.",
        "suggested_name": "Red Striped Silk Tie",
        "suitability": 6,
        "suitability_reason": "Object fully visible but partly covered by a jacket.",
        "object_kind": "necktie",
        "materials": "silk",
        "colours": "deep red body, navy stripes",
        "shape_and_proportions": "long narrow tapered blade",
        "markings": "diagonal stripes",
        "scale_cues": "worn by an adult",
    },
    "animal": {
        "reverse_prompt": "Photo of a medium-sized dog with a short tan and white coat, floppy ears and a dark "
        "muzzle, standing on grass and looking to camera-left, late afternoon light.",
        "visual_description": "Tan and white short coat, white chest blaze, floppy ears, dark muzzle.",
        "suggested_name": "Tan And White Dog",
        "suitability": 7,
        "suitability_reason": "Whole body visible and sharp; light is slightly harsh.",
        "species": "dog",
        "breed_guess": "mixed breed",
        "coat": "short tan and white",
        "markings": "white chest blaze",
        "pose": "standing, head turned to camera-left",
    },
    "vehicle": {
        "reverse_prompt": "Photo of a white compact pickup truck seen from the front-left three-quarter view, "
        "chrome grille, black bumpers, parked on a suburban street in daylight.",
        "visual_description": "White body, chrome grille, black bumpers, two doors, front-left three-quarter view.",
        "suggested_name": "White Compact Pickup",
        "suitability": 5,
        "suitability_reason": "Partly cut off at the frame edge.",
        "vehicle_kind": "pickup truck",
        "make_model_guess": "unknown",
        "body_colour": "white",
        "distinctive_features": "chrome grille, black bumpers",
        "viewpoint": "front-left three-quarter",
    },
    "environment": {
        "reverse_prompt": "Wide photo of an open grassy field under a pale blue sky with scattered clouds, a line "
        "of trees on the horizon, midday sun, eye-level camera with a normal lens.",
        "visual_description": "Green grass field, pale blue sky, tree line on the horizon, midday light.",
        "suggested_name": "Open Grassy Field",
        "suitability": 7,
        "suitability_reason": "Clear, uncluttered scene with good light.",
        "setting": "outdoor field",
        "time_of_day": "midday",
        "weather": "fair, scattered clouds",
        "lighting": "high sun",
        "key_elements": ["grass field", "tree line", "blue sky"],
        "camera": "normal lens, eye level",
        "palette": "greens and pale blue",
    },
    "style": {
        "reverse_prompt": "Naturalistic colour photograph, soft daylight, shallow depth of field, muted palette.",
        "visual_description": "Muted natural colours, soft light, shallow depth of field.",
        "suggested_name": "Soft Natural Photo",
        "suitability": 6,
        "suitability_reason": "Consistent style but low contrast.",
        "medium": "photograph",
        "palette": "muted naturals",
        "lighting": "soft daylight",
        "composition": "centred subject",
        "texture_and_grain": "fine grain",
        "era_or_movement": "contemporary",
    },
}


@dataclass
class Rule:
    """A failure to serve: ``kind`` for the next ``times`` matching requests (``None``: for every one)."""

    kind: str
    times: int | None = None
    match: str | None = None  # substring of the request's text parts; None matches every request

    def __post_init__(self) -> None:
        if self.kind not in FAILURE_KINDS + TRANSPORT_KINDS + IMAGE_KINDS:
            known = ", ".join(FAILURE_KINDS + TRANSPORT_KINDS + IMAGE_KINDS)
            raise ValueError(f"unknown failure kind {self.kind!r}; known: {known}")


@dataclass
class ReceivedRequest:
    """One request the fake answered."""

    path: str
    model: str
    api_key: str | None
    body: dict[str, Any]
    answered: str  # "ok" or a failure kind

    @property
    def text(self) -> str:
        """All text parts of the request's contents, joined."""
        return "\n".join(
            part.get("text", "") for content in self.body.get("contents", []) for part in content.get("parts", [])
        )


@dataclass
class FakeGemini:
    """The fake server; use as a context manager or ``start()``/``stop()``.

    Args:
        host: Loopback address to bind (never a public one).
        port: 0 for an ephemeral port.
        retry_delay_s: The ``RetryInfo.retryDelay`` its 429 answers carry.
        latency_s: How long each answer takes (to observe concurrency).
        accepted_keys: Keys the fake takes; any other is refused as the API refuses an invalid key
            (``None``: any key).
    """

    host: str = "127.0.0.1"
    port: int = 0
    retry_delay_s: float = 0.05
    latency_s: float = 0.0
    accepted_keys: tuple[str, ...] | None = None
    trickle_every_s: float = 0.5  # "trickle": one byte of body this often
    stall_s: float = 60.0  # "trickle" and "hang" give up after this long (or when the client goes away)
    huge_bytes: int = 300 * 1024 * 1024  # "huge": the body it promises and streams
    redirect_to: str = ""  # "redirect": the other origin (base URL) it sends the client to
    text_image: bytes | None = None  # image answered to image-model requests without an image (None: 400)
    rules: list[Rule] = field(default_factory=list)
    requests: list[ReceivedRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._stopped = threading.Event()
        self.in_flight = self.max_in_flight = 0

    @property
    def url(self) -> str:
        """Base URL for ``HttpOptions(base_url=...)``."""
        if self._server is None:
            raise RuntimeError("fake Gemini server not started")
        return f"http://{self.host}:{self._server.server_address[1]}"

    def add_rule(self, kind: str, *, times: int | None = None, match: str | None = None) -> FakeGemini:
        """Serve ``kind`` to the next ``times`` requests whose text contains ``match``."""
        with self._lock:
            self.rules.append(Rule(kind, times, match))
        return self

    def start(self) -> FakeGemini:
        """Listen in a daemon thread."""
        self._server = ThreadingHTTPServer((self.host, self.port), _handler(self))
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="fake-gemini", daemon=True).start()
        return self

    def serve_forever(self) -> None:
        """Listen in the calling thread (the ``refbench fake-gemini`` command)."""
        self._server = ThreadingHTTPServer((self.host, self.port), _handler(self))
        self._server.serve_forever()

    def stop(self) -> None:
        """Stop listening."""
        self._stopped.set()  # stalled handlers stop waiting
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FakeGemini:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def choose(self, text: str) -> str:
        """The answer kind for a request with this text: the first rule that applies, else "ok"."""
        with self._lock:
            for rule in self.rules:
                if (rule.match is None or rule.match in text) and (rule.times is None or rule.times > 0):
                    if rule.times is not None:
                        rule.times -= 1
                    return rule.kind
        return "ok"

    def answer(self, model: str, body: dict[str, Any], kind: str) -> tuple[int, bytes]:
        """Status and JSON body of the answer of ``kind`` to a request ``body``."""
        usage = {"promptTokenCount": prompt_tokens(body)}
        if kind in ("429", "500", "503"):
            return int(kind), json.dumps({"error": _error(int(kind), self.retry_delay_s)}).encode()
        if kind == "prompt_blocked":
            usage["totalTokenCount"] = usage["promptTokenCount"]
            return 200, json.dumps(
                {
                    "promptFeedback": {"blockReason": "SAFETY", "safetyRatings": _ratings()},
                    "usageMetadata": usage,
                    "modelVersion": model,
                }
            ).encode()
        if kind == "safety":
            candidate = {"finishReason": "SAFETY", "index": 0, "safetyRatings": _ratings()}
            usage.update(candidatesTokenCount=0, totalTokenCount=usage["promptTokenCount"])
            return 200, json.dumps({"candidates": [candidate], "usageMetadata": usage, "modelVersion": model}).encode()
        if "image" in model and kind in ("ok", *IMAGE_KINDS):
            return self._image_answer(model, body, usage, kind)
        text = recorded_answer(body)
        if kind == "malformed":
            text = text[: len(text) // 2]  # cut mid-string, like a truncated generation
        usage["candidatesTokenCount"] = math.ceil(len(text) / 4)
        usage["totalTokenCount"] = usage["promptTokenCount"] + usage["candidatesTokenCount"]
        candidate = {"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP", "index": 0}
        return 200, json.dumps(
            {
                "candidates": [candidate],
                "usageMetadata": usage,
                "modelVersion": model,
                "responseId": f"fake-{len(self.requests)}",
            }
        ).encode()

    def _image_answer(self, model: str, body: dict[str, Any], usage: dict[str, int], kind: str) -> tuple[int, bytes]:
        """An image model's answer: a line of text and an image as PNG — the request's first image (``ok``), that
        image mirrored or shrunk (``mirror``, ``shrink``), or ``text_image`` for a request without an image (and
        for ``stranger``).

        Echoing the reference makes the "generation" the same person, so identity checks downstream
        have a known right answer; a request without an image (and no ``text_image``) is refused as the API
        refuses edits of nothing.
        """
        images = [_b64decode(p["data"]) for p in _inline_parts(body)] or ([self.text_image] if self.text_image else [])
        if kind == "stranger" and self.text_image:
            images = [self.text_image]
        if not images:
            error = {"code": 400, "status": "INVALID_ARGUMENT", "message": "fake: image edits need an input image"}
            return 400, json.dumps({"error": error}).encode()
        with Image.open(io.BytesIO(images[0])) as image:
            buffer = io.BytesIO()
            _drawn(image.convert("RGB"), kind).save(buffer, format="PNG")
        parts = [
            {"text": "Here is the image."},
            {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(buffer.getvalue()).decode()}},
        ]
        usage.update(candidatesTokenCount=IMAGE_OUTPUT_TOKENS)
        usage["totalTokenCount"] = usage["promptTokenCount"] + IMAGE_OUTPUT_TOKENS
        candidate = {"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}
        return 200, json.dumps({"candidates": [candidate], "usageMetadata": usage, "modelVersion": model}).encode()


def _drawn(image: Image.Image, kind: str) -> Image.Image:
    """What the fake image model hands back for an image and an answer kind."""
    if kind == "mirror":
        return ImageOps.mirror(image)
    if kind == "shrink":
        canvas = Image.new("RGB", image.size, (128, 128, 128))
        small = image.resize((max(1, image.width // 3), max(1, image.height // 3)), Image.Resampling.LANCZOS)
        canvas.paste(small, ((image.width - small.width) // 2, (image.height - small.height) // 2))
        return canvas
    return image


def _inline_parts(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``inlineData`` objects of every part of every content of a request."""
    parts = [part for content in body.get("contents", []) for part in content.get("parts", [])]
    return [inline for part in parts if (inline := part.get("inlineData") or part.get("inline_data"))]


def _error(code: int, retry_delay_s: float) -> dict[str, Any]:
    if code == 429:
        return {
            "code": 429,
            "status": "RESOURCE_EXHAUSTED",
            "message": "You exceeded your current quota, please check your plan and billing details.",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{retry_delay_s}s"}],
        }
    if code == 503:
        return {"code": 503, "status": "UNAVAILABLE", "message": "The model is overloaded. Please try again later."}
    return {"code": code, "status": "INTERNAL", "message": "An internal error has occurred."}


def _ratings() -> list[dict[str, Any]]:
    return [
        {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True},
        {"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"},
    ]


def prompt_tokens(body: dict[str, Any]) -> int:
    """Input tokens of a request: ~4 characters per text token, 258 per image tile (Gemini 2.x counting)."""
    tokens = 0
    parts = [p for c in body.get("contents", []) for p in c.get("parts", [])]
    parts += body.get("systemInstruction", {}).get("parts", [])
    for part in parts:
        if "text" in part:
            tokens += math.ceil(len(part["text"]) / 4)
        inline = part.get("inlineData") or part.get("inline_data")
        if inline:
            tokens += image_tokens(_b64decode(inline.get("data", "")))
    return tokens


def _b64decode(text: str) -> bytes:
    """Standard or URL-safe base64 (the SDK sends URL-safe), padding optional."""
    text = text.replace("-", "+").replace("_", "/")
    return base64.b64decode(text + "=" * (-len(text) % 4))


def image_tokens(data: bytes) -> int:
    """Tokens Gemini 2.x bills for one image: 258 when both sides <= 384 px, else 258 per 768 px tile."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
    except OSError:
        return IMAGE_TILE_TOKENS
    if width <= 384 and height <= 384:
        return IMAGE_TILE_TOKENS
    return IMAGE_TILE_TOKENS * math.ceil(width / 768) * math.ceil(height / 768)


def recorded_answer(body: dict[str, Any]) -> str:
    """JSON text for a request: the recorded answer of its asset type, shaped by its response schema."""
    text = "\n".join(p.get("text", "") for c in body.get("contents", []) for p in c.get("parts", []))
    found = _TYPE_MARKER.search(text)
    recorded = RECORDED.get(found.group(1) if found else "prop", RECORDED["prop"])
    config = body.get("generationConfig", {})
    schema = config.get("responseSchema") or config.get("responseJsonSchema") or {}
    properties = schema.get("properties") or dict.fromkeys(recorded, {})
    return json.dumps({name: recorded.get(name, _default(spec)) for name, spec in properties.items()})


def _default(spec: dict[str, Any]) -> Any:
    kind = str(spec.get("type", "string")).lower()
    return {"integer": 5, "number": 0.5, "boolean": False, "array": [], "object": {}}.get(kind, "unspecified")


def _handler(fake: FakeGemini) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            path = self.path.split("?", 1)[0]
            found = _PATH.match(path)
            length = int(self.headers.get("content-length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            if not found:
                return self._send(404, {"error": {"code": 404, "status": "NOT_FOUND", "message": f"no route {path}"}})
            key = self.headers.get("x-goog-api-key")
            request = ReceivedRequest(path, found.group(2), key, body, "ok")
            if not key or (fake.accepted_keys is not None and key not in fake.accepted_keys):
                request.answered = "key_rejected"
                fake.requests.append(request)
                return self._send(
                    400,
                    {
                        "error": {
                            "code": 400,
                            "status": "INVALID_ARGUMENT",
                            "message": "API key not valid. Please pass a valid API key.",
                        }
                    },
                )
            request.answered = fake.choose(request.text)
            if request.answered in TRANSPORT_KINDS:
                with fake._lock:
                    fake.requests.append(request)
                return self._misbehave(request.answered, key)
            with fake._lock:
                fake.requests.append(request)
                fake.in_flight += 1
                fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
            try:
                time.sleep(fake.latency_s)
                status, payload = fake.answer(request.model, body, request.answered)
            except Exception as error:  # a fake bug must show up as an answer, not as a dropped connection
                status, payload = (
                    500,
                    {
                        "error": {
                            "code": 500,
                            "status": "INTERNAL",
                            "message": f"fake Gemini failed: {type(error).__name__}: {error}",
                        }
                    },
                )
            finally:
                with fake._lock:
                    fake.in_flight -= 1
            self._send(status, payload)

        def _misbehave(self, kind: str, key: str) -> None:
            try:
                if kind == "redirect":
                    self.send_response(307)
                    self.send_header("location", fake.redirect_to.rstrip("/") + self.path)
                    self.send_header("content-length", "0")
                    self.end_headers()
                elif kind == "html":
                    data = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
                    self.send_response(200)
                    self.send_header("content-type", "text/html")
                    self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                elif kind == "echo_key":
                    message = f"backend error while checking key {key}: try again"
                    self._send(500, {"error": {"code": 500, "status": "INTERNAL", "message": message}})
                elif kind == "reset":
                    self.close_connection = True
                    self.connection.shutdown(2)
                elif kind == "hang":
                    fake._stopped.wait(fake.stall_s)
                    self.close_connection = True
                else:  # trickle, huge: a body that never ends in time, or never ends small
                    size = fake.huge_bytes if kind == "huge" else 10_000
                    self.send_response(200)
                    self.send_header("content-type", "application/json; charset=UTF-8")
                    self.send_header("content-length", str(size))
                    self.end_headers()
                    self._stream(kind, size)
            except OSError:
                pass  # the client hung up: what a bounded client does

        def _stream(self, kind: str, size: int) -> None:
            start, sent = time.monotonic(), 0
            chunk = b" " * (1 if kind == "trickle" else 1024 * 1024)
            while sent < size and time.monotonic() - start < fake.stall_s and not fake._stopped.is_set():
                self.wfile.write(chunk)
                self.wfile.flush()
                sent += len(chunk)
                if kind == "trickle":
                    fake._stopped.wait(fake.trickle_every_s)

        def _send(self, status: int, payload: dict[str, Any] | bytes) -> None:
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json; charset=UTF-8")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            """Quiet: the default handler logs to stderr on every request."""

    return Handler
