"""A bad-input corpus against every route that takes input (issue 12).

Each case sends one bad request to an in-process app and asserts:

- the HTTP status (a 4xx) and genserve's error shape: ``{"error": code, "message": ...}`` with the
  code that belongs to the status (the document routes ``/generate`` and ``/api/v1/recognize``
  answer ``{"status": "error", "message": ...}``, and ``/generate`` with an audio part text/plain);
- that the answer holds no traceback and no server-side path;
- that the server is still healthy afterwards (``GET /healthz`` is 200);
- that no file appeared outside the apps' data and output folders: the traversal probes aim at
  ``/tmp/x``, ``/tmp/<probe>`` and ``<tmp>/<probe>`` (a random name per run), and none of those may
  exist afterwards; every file under the test's folder lies under a data or output folder.

Three apps serve the corpus: ``open`` (no keys, small batch limit, webhook rules), ``small`` (a small
upload limit) and ``keyed`` (two tenant keys and an admin key), each behind ``TestClient`` with
server exceptions turned into responses, as a real server would answer them.
"""

from __future__ import annotations

import io
import json
import math
import os
import secrets
import shutil
import struct
import tempfile
import wave
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import svc_backends  # noqa: F401  (registers the fast test backends: noop, slow)
from fastapi.testclient import TestClient
from PIL import Image

from genserve.api import create_app
from genserve.config import Settings

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "src" / "genserve" / "data" / "sample.jpg"
PROBE = f"gsprobe{secrets.token_hex(5)}"  # the name every traversal probe aims at
BOUNDARY = "genservebadinput7d1f"
SESSION_COOKIE = "genserve_session"
KA, KB, KADMIN = "tenant-a-key", "tenant-b-key", "admin-key"
A_JOB = "a-private-job"
A_JOB2 = "a-second-job"  # the one tenant B tries to delete
A_PROMPT = "a-secret-prompt-5150"
A_FILE = "a-secret-name.jpg"
CODES = {
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media",
    416: "range_not_satisfiable",
    422: "invalid_input",
    429: "rate_limited",
}


# --- media made on the fly --------------------------------------------------------------------


def _png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 120, 40)).save(out, "PNG")
    return out.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_bomb(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height pixels; a few hundred bytes on disk."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 4096, 9)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def _wav(seconds: float = 1.0, rate: int = 16000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        n = int(seconds * rate)
        w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(i / 8))) for i in range(n)))
    return out.getvalue()


JPG = SAMPLE.read_bytes()
PNG = _png(64, 64)
WAV = _wav()
TEXT = b"this is a plain text file, not an image\n"
PNG_GARBAGE = b"\x89PNG\r\n\x1a\n" + secrets.token_bytes(512)
JPG_TRUNCATED = JPG[: len(JPG) // 3]
PNG_TRUNCATED = PNG[:60]
PNG_TINY = _png(4, 4)
BOMB = _png_bomb(30000, 30000)  # 900 megapixels declared
BOMB_MID = _png_bomb(8000, 8000)  # 64 megapixels: over the 40 M default, under Pillow's own guard
WAV_HEADER_ONLY = WAV[:44]
HUGE = str(10**30)
BIG = 3_000_000  # bytes: over the small app's upload limit with any slack for the form


# --- multipart by hand: exact bytes, control characters included -------------------------------

Value = str | bytes | tuple[str | bytes, bytes]
Parts = list[tuple[str | bytes, Value]]


def _b(text: str | bytes) -> bytes:
    return text if isinstance(text, bytes) else text.encode()


def encode_multipart(parts: Parts, boundary: str = BOUNDARY) -> bytes:
    out = bytearray()
    for name, value in parts:
        out += b"--" + boundary.encode() + b"\r\n"
        if isinstance(value, tuple):
            filename, data = value
            out += b'Content-Disposition: form-data; name="' + _b(name) + b'"; filename="'
            out += _b(filename) + b'"\r\nContent-Type: application/octet-stream\r\n\r\n' + data + b"\r\n"
        else:
            out += b'Content-Disposition: form-data; name="' + _b(name) + b'"\r\n\r\n' + _b(value) + b"\r\n"
    out += b"--" + boundary.encode() + b"--\r\n"
    return bytes(out)


def image(data: bytes = JPG, filename: str | bytes = "photo.jpg", name: str | bytes = "image") -> Any:
    return (name, (filename, data))


def audio(data: bytes = WAV, filename: str | bytes = "speech.wav", name: str | bytes = "audio") -> Any:
    return (name, (filename, data))


I2V: Parts = [("task", "image-to-video"), ("backend", "noop")]
SYNC_I2V: Parts = [("backend", "noop")]  # the synchronous route: task fixed by the route


def jobs_form(*extra: Any, files: Parts | None = None, base: Parts = I2V) -> Parts:
    return [*base, *extra, *(files if files is not None else [image()])]


def nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


# --- the case table ----------------------------------------------------------------------------

Check = Callable[[TestClient, dict[str, str]], None]


@dataclass(frozen=True)
class Case:
    method: str
    path: str  # str.format()ed with the context: {done}, {a_job}, {probe}
    status: tuple[int, ...]
    app: str = "open"  # open | small | keyed
    shape: str = "json"  # json | doc | text | message | any
    parts: Parts | None = None
    body: bytes | Callable[[], Iterable[bytes]] | None = None
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    argument: str | None = None
    allow: tuple[str, ...] | None = None  # a 405's Allow header, exactly (HEAD/OPTIONS aside)
    absent: tuple[str, ...] = ()  # text the answer must not contain
    after: Check | None = None


def case(case_id: str, method: str, path: str, status: int | tuple[int, ...], **kw: Any) -> Any:
    statuses = status if isinstance(status, tuple) else (status,)
    return pytest.param(Case(method, path, statuses, **kw), id=case_id)


def post_jobs(case_id: str, parts: Parts, status: int | tuple[int, ...], **kw: Any) -> Any:
    return case(case_id, "POST", "/v1/jobs", status, parts=parts, **kw)


def huge_chunks() -> Iterator[bytes]:
    """An upload without Content-Length, growing past the limit chunk by chunk."""
    head = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\n\r\n'
    yield head.encode()
    for _ in range(BIG // 65536 + 1):
        yield b"\xff" * 65536
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


def _intact(job_id: str) -> Check:
    def check(client: TestClient, ctx: dict[str, str]) -> None:
        r = client.get(f"/v1/jobs/{job_id}", headers={"Authorization": f"Bearer {KA}"})
        assert r.status_code == 200 and r.json()["status"] == "succeeded", r.text[:300]

    return check


a_job_intact = _intact(A_JOB)
AUTH_A = {"Authorization": f"Bearer {KA}"}
AUTH_B = {"Authorization": f"Bearer {KB}"}
A_PARTS: Parts = [
    ("task", "image-to-video"),
    ("backend", "camera"),
    ("resolution", "256p"),
    ("num_frames", "2"),
    ("fps", "6"),
    ("prompt", A_PROMPT),
    image(filename=A_FILE),
]
A_SECRETS = (A_PROMPT, A_FILE, "a-secret-name")
FORM_REFUSAL_HINT = "64 files"  # a body without a boundary is not "too many files"
JSON_OR_MEDIA = (415, 422)  # a body that is not a multipart form: either answer teaches the fix

CASES = [
    # --- POST /v1/jobs: media ------------------------------------------------------------------
    post_jobs("jobs-image-text-named-jpg", jobs_form(files=[image(TEXT)]), 415, argument="image"),
    post_jobs("jobs-image-png-header-then-garbage", jobs_form(files=[image(PNG_GARBAGE, "a.png")]), 415),
    post_jobs("jobs-image-truncated-jpeg", jobs_form(files=[image(JPG_TRUNCATED)]), 415),
    post_jobs("jobs-image-truncated-png", jobs_form(files=[image(PNG_TRUNCATED, "a.png")]), 415),
    post_jobs("jobs-image-zero-bytes", jobs_form(files=[image(b"")]), 415, argument="image"),
    post_jobs("jobs-image-4x4-too-small", jobs_form(files=[image(PNG_TINY, "a.png")]), (415, 422)),
    post_jobs("jobs-image-is-a-wav", jobs_form(files=[image(WAV, "a.jpg")]), 415),
    post_jobs("jobs-image-bomb-30000x30000", jobs_form(files=[image(BOMB, "bomb.png")]), 413),
    post_jobs("jobs-image-bomb-8000x8000", jobs_form(files=[image(BOMB_MID, "bomb.png")]), 413),
    post_jobs("jobs-upload-over-limit", jobs_form(files=[image(b"\xff" * BIG)]), 413, app="small"),
    case(
        "jobs-upload-over-limit-chunked-no-length",
        "POST",
        "/v1/jobs",
        413,
        app="small",
        body=huge_chunks,
        content_type=f"multipart/form-data; boundary={BOUNDARY}",
    ),
    post_jobs("jobs-65-files-in-one-form", jobs_form(files=[image(PNG, "a.png")] * 65), 422),
    post_jobs("jobs-two-image-files", jobs_form(files=[image(), image(PNG, "b.png")]), 422),
    # --- POST /v1/jobs: parameters -------------------------------------------------------------
    post_jobs("jobs-num-frames-minus-1", jobs_form(("num_frames", "-1")), 422, argument="num_frames"),
    post_jobs("jobs-fps-abc", jobs_form(("fps", "abc")), 422, argument="fps"),
    post_jobs("jobs-steps-10e30", jobs_form(("steps", HUGE)), 422, argument="steps"),
    post_jobs("jobs-guidance-nan", jobs_form(("guidance_scale", "nan")), 422, argument="guidance_scale"),
    post_jobs("jobs-guidance-inf", jobs_form(("guidance_scale", "inf")), 422, argument="guidance_scale"),
    post_jobs("jobs-guidance-minus-inf", jobs_form(("guidance_scale", "-inf")), 422),
    post_jobs("jobs-seed-2-pow-64", jobs_form(("seed", str(2**64))), 422, argument="seed"),
    post_jobs("jobs-resolution-9999p", jobs_form(("resolution", "9999p")), 422, argument="resolution"),
    post_jobs("jobs-unknown-param", jobs_form(("colour", "red")), 422, argument="colour"),
    post_jobs("jobs-priority-10e30", jobs_form(("priority", HUGE)), 422, argument="priority"),
    post_jobs("jobs-priority-minus-10e30", jobs_form(("priority", "-" + HUGE)), 422, argument="priority"),
    post_jobs("jobs-priority-x", jobs_form(("priority", "x")), 422, argument="priority"),
    post_jobs("jobs-priority-float", jobs_form(("priority", "1.5")), 422, argument="priority"),
    post_jobs("jobs-priority-nan", jobs_form(("priority", "nan")), 422, argument="priority"),
    # --- POST /v1/jobs: the params JSON --------------------------------------------------------
    post_jobs("jobs-params-array", jobs_form(("params", "[1, 2]")), 422, argument="params"),
    post_jobs("jobs-params-string", jobs_form(("params", '"fast"')), 422, argument="params"),
    post_jobs("jobs-params-number", jobs_form(("params", "12")), 422, argument="params"),
    post_jobs("jobs-params-null", jobs_form(("params", "null")), 422, argument="params"),
    post_jobs("jobs-params-invalid-json", jobs_form(("params", "{not json")), 422, argument="params"),
    post_jobs("jobs-params-nested-100000", jobs_form(("params", nested(100_000))), 422, argument="params"),
    post_jobs("jobs-params-nested-40", jobs_form(("params", nested(40))), 422, argument="params"),
    post_jobs("jobs-params-1mb", jobs_form(("params", json.dumps({"prompt": "a" * 1_000_000}))), (413, 422)),
    post_jobs("jobs-params-nan-literal", jobs_form(("params", '{"guidance_scale": NaN}')), 422),
    post_jobs("jobs-params-infinity-literal", jobs_form(("params", '{"guidance_scale": Infinity}')), 422),
    post_jobs("jobs-params-1e400", jobs_form(("params", '{"guidance_scale": 1e400}')), 422),
    post_jobs("jobs-params-huge-int", jobs_form(("params", f'{{"num_frames": {HUGE}}}')), 422),
    post_jobs("jobs-params-5000-digit-int", jobs_form(("params", '{"seed": ' + "9" * 5000 + "}")), 422),
    # --- POST /v1/jobs: names from the client --------------------------------------------------
    post_jobs("jobs-field-traversal-tmp-x", jobs_form(files=[image(name="../../../../tmp/x")]), 422),
    post_jobs(
        "jobs-field-traversal-deep-probe", jobs_form(files=[image(name="../" * 16 + f"tmp/{PROBE}")]), 422
    ),
    post_jobs("jobs-field-traversal-sibling-probe", jobs_form(files=[image(name=f"../../../{PROBE}")]), 422),
    post_jobs("jobs-field-absolute-tmp-x", jobs_form(files=[image(name="/tmp/x")]), 422),
    post_jobs("jobs-field-absolute-probe", jobs_form(files=[image(name=f"/tmp/{PROBE}")]), 422),
    post_jobs("jobs-field-nul", jobs_form(files=[image(name="a\x00b")]), 422),
    post_jobs("jobs-field-dotdot", jobs_form(files=[image(name="..")]), 422),
    post_jobs("jobs-field-empty", jobs_form(files=[image(name="")]), 422),
    post_jobs("jobs-field-crlf", jobs_form(files=[image(name="image\r\nX-Injected: 1")]), 422),
    post_jobs("jobs-field-unknown-input", jobs_form(files=[image(), image(name="thumbnail")]), 422),
    post_jobs("jobs-text-field-traversal-name", jobs_form((f"../../{PROBE}", "1")), 422),
    post_jobs("jobs-filename-nul", jobs_form(files=[image(filename="a\x00.jpg")]), 422),
    post_jobs("jobs-filename-newline", jobs_form(files=[image(filename="a\n.jpg")]), 422),
    # --- POST /v1/jobs: duplicate, missing and control-character fields ----------------------
    post_jobs("jobs-duplicate-task", [("task", "image-to-video"), *I2V, image()], 422, argument="task"),
    post_jobs("jobs-missing-task", [("backend", "noop"), image()], 422, argument="task"),
    post_jobs("jobs-missing-image", I2V, 422, argument="image"),
    post_jobs("jobs-empty-form", [], 422),
    post_jobs("jobs-unknown-task", [("task", "dance"), image()], 404, argument="task"),
    post_jobs("jobs-unknown-backend", [("task", "image-to-video"), ("backend", "nope"), image()], 404),
    post_jobs("jobs-task-nul", [("task", "image-to-video\x00"), image()], (404, 422), argument="task"),
    post_jobs("jobs-task-ansi-escape", [("task", "image-to-video\x1b[2J"), image()], (404, 422)),
    post_jobs(
        "jobs-backend-newline", [("task", "image-to-video"), ("backend", "noop\nx"), image()], (404, 422)
    ),
    post_jobs("jobs-git-branch-nul", jobs_form(("git_branch", "main\x00")), 422, argument="git_branch"),
    post_jobs("jobs-git-branch-newline", jobs_form(("git_branch", "main\nx")), 422, argument="git_branch"),
    post_jobs("jobs-git-branch-1mb", jobs_form(("git_branch", "b" * 1_000_000)), (413, 422)),
    post_jobs("jobs-git-commit-escape", jobs_form(("git_commit", "abc\x1b[0m")), 422, argument="git_commit"),
    # --- POST /v1/jobs: content types ----------------------------------------------------------
    case(
        "jobs-json-body",
        "POST",
        "/v1/jobs",
        JSON_OR_MEDIA,
        body=b'{"task": "image-to-video"}',
        content_type="application/json",
    ),
    case(
        "jobs-text-plain-body",
        "POST",
        "/v1/jobs",
        JSON_OR_MEDIA,
        body=b"task=image-to-video",
        content_type="text/plain",
    ),
    case("jobs-no-content-type", "POST", "/v1/jobs", JSON_OR_MEDIA, body=b"task=image-to-video"),
    case(
        "jobs-multipart-without-boundary",
        "POST",
        "/v1/jobs",
        JSON_OR_MEDIA,
        body=encode_multipart(jobs_form()),
        content_type="multipart/form-data",
        absent=(FORM_REFUSAL_HINT,),
    ),
    case(
        "jobs-urlencoded-without-files",
        "POST",
        "/v1/jobs",
        422,
        body=b"task=image-to-video&backend=noop",
        content_type="application/x-www-form-urlencoded",
        argument="image",
    ),
    # --- POST /v1/jobs: webhooks (the open app allows ci.example.com) ----------------------------
    post_jobs(
        "jobs-webhook-host-not-allowed",
        jobs_form(("webhook_url", "https://evil.example.net/h")),
        403,
        argument="webhook_url",
    ),
    post_jobs(
        "jobs-webhook-with-credentials",
        jobs_form(("webhook_url", "https://u:pw@ci.example.com/h")),
        422,
        argument="webhook_url",
    ),
    post_jobs(
        "jobs-webhook-file-url", jobs_form(("webhook_url", "file:///etc/passwd")), 422, argument="webhook_url"
    ),
    post_jobs(
        "jobs-webhook-javascript",
        jobs_form(("webhook_url", "javascript:alert(1)")),
        422,
        argument="webhook_url",
    ),
    post_jobs(
        "jobs-webhook-metadata-ip",
        jobs_form(("webhook_url", "http://169.254.169.254/latest")),
        403,
        argument="webhook_url",
    ),
    post_jobs(
        "jobs-webhook-crlf",
        jobs_form(("webhook_url", "https://ci.example.com/h\r\nX: y")),
        422,
        argument="webhook_url",
    ),
    post_jobs(
        "jobs-webhook-unknown-event",
        jobs_form(("webhook_url", "https://ci.example.com/h"), ("webhook_events", "exploded")),
        422,
        argument="webhook_events",
    ),
    # --- PUT /v1/jobs/{id} ---------------------------------------------------------------------
    case("put-id-dotdot", "PUT", "/v1/jobs/%2E%2E", 422, parts=jobs_form(), argument="job_id"),
    case("put-id-encoded-slash", "PUT", "/v1/jobs/a%2Fb", (404, 422), parts=jobs_form()),
    case("put-id-nul", "PUT", "/v1/jobs/a%00b", 422, parts=jobs_form(), argument="job_id"),
    case("put-id-200-chars", "PUT", "/v1/jobs/" + "a" * 200, 422, parts=jobs_form(), argument="job_id"),
    case(
        "put-id-unicode",
        "PUT",
        "/v1/jobs/%E3%82%B8%E3%83%A7%E3%83%96",
        422,
        parts=jobs_form(),
        argument="job_id",
    ),
    case("put-id-space-bang", "PUT", "/v1/jobs/bad%20id!", 422, parts=jobs_form(), argument="job_id"),
    case("put-image-text", "PUT", "/v1/jobs/put-text-image", 415, parts=jobs_form(files=[image(TEXT)])),
    case(
        "put-field-traversal",
        "PUT",
        "/v1/jobs/put-traversal",
        422,
        parts=jobs_form(files=[image(name=f"/tmp/{PROBE}")]),
    ),
    case(
        "put-priority-10e30",
        "PUT",
        "/v1/jobs/put-priority",
        422,
        parts=jobs_form(("priority", HUGE)),
        argument="priority",
    ),
    case(
        "put-params-nested-100000",
        "PUT",
        "/v1/jobs/put-nested",
        422,
        parts=jobs_form(("params", nested(100_000))),
    ),
    case(
        "put-json-body",
        "PUT",
        "/v1/jobs/put-json",
        JSON_OR_MEDIA,
        body=b"{}",
        content_type="application/json",
    ),
    # --- POST /v1/image-to-video (synchronous) ---------------------------------------------------
    case("i2v-image-text", "POST", "/v1/image-to-video", 415, parts=[*SYNC_I2V, image(TEXT)]),
    case("i2v-image-bomb", "POST", "/v1/image-to-video", 413, parts=[*SYNC_I2V, image(BOMB, "b.png")]),
    case(
        "i2v-fps-500",
        "POST",
        "/v1/image-to-video",
        422,
        parts=[*SYNC_I2V, ("fps", "500"), image()],
        argument="fps",
    ),
    case(
        "i2v-num-frames-minus-1",
        "POST",
        "/v1/image-to-video",
        422,
        parts=[*SYNC_I2V, ("num_frames", "-1"), image()],
    ),
    case(
        "i2v-guidance-nan",
        "POST",
        "/v1/image-to-video",
        422,
        parts=[*SYNC_I2V, ("guidance_scale", "nan"), image()],
    ),
    case("i2v-priority-x", "POST", "/v1/image-to-video", 422, parts=[*SYNC_I2V, ("priority", "x"), image()]),
    case("i2v-missing-image", "POST", "/v1/image-to-video", 422, parts=SYNC_I2V, argument="image"),
    case("i2v-two-images", "POST", "/v1/image-to-video", 422, parts=[*SYNC_I2V, image(), image()]),
    case(
        "i2v-field-traversal",
        "POST",
        "/v1/image-to-video",
        422,
        parts=[*SYNC_I2V, image(name=f"../../{PROBE}")],
    ),
    case(
        "i2v-json-body",
        "POST",
        "/v1/image-to-video",
        JSON_OR_MEDIA,
        body=b"{}",
        content_type="application/json",
    ),
    case(
        "i2v-upload-over-limit", "POST", "/v1/image-to-video", 413, app="small", parts=[image(b"\xff" * BIG)]
    ),
    # --- POST /v1/talking-head -------------------------------------------------------------------
    case("th-missing-audio", "POST", "/v1/talking-head", 422, parts=[image()], argument="audio"),
    case("th-missing-image", "POST", "/v1/talking-head", 422, parts=[audio()], argument="image"),
    case(
        "th-audio-is-a-png",
        "POST",
        "/v1/talking-head",
        415,
        parts=[image(), audio(PNG, "a.wav")],
        argument="audio",
    ),
    case(
        "th-audio-zero-bytes", "POST", "/v1/talking-head", 415, parts=[image(), audio(b"")], argument="audio"
    ),
    case("th-audio-text", "POST", "/v1/talking-head", 415, parts=[image(), audio(TEXT)], argument="audio"),
    case(
        "th-audio-wav-header-only",
        "POST",
        "/v1/talking-head",
        (415, 422),
        parts=[image(), audio(WAV_HEADER_ONLY)],
    ),
    case(
        "th-image-text-good-audio",
        "POST",
        "/v1/talking-head",
        415,
        parts=[image(TEXT), audio()],
        argument="image",
    ),
    case("th-two-audio-files", "POST", "/v1/talking-head", 422, parts=[image(), audio(), audio()]),
    case(
        "th-audio-field-absolute-probe",
        "POST",
        "/v1/talking-head",
        422,
        parts=[image(), audio(name=f"/tmp/{PROBE}")],
    ),
    case(
        "th-inference-steps-10e30",
        "POST",
        "/v1/talking-head",
        422,
        parts=[("inference_steps", HUGE), image(), audio()],
    ),
    case(
        "th-dynamic-scale-nan",
        "POST",
        "/v1/talking-head",
        422,
        parts=[("dynamic_scale", "nan"), image(), audio()],
    ),
    # --- POST /v1/recognize (the open app takes at most 2 files in a batch) ----------------------
    case(
        "rec-three-images-over-batch-limit",
        "POST",
        "/v1/recognize",
        422,
        parts=[image()] * 3,
        argument="image",
    ),
    case("rec-65-images", "POST", "/v1/recognize", 422, parts=[image(PNG, "a.png")] * 65),
    case("rec-image-text", "POST", "/v1/recognize", 415, parts=[image(TEXT)]),
    case("rec-image-zero-bytes", "POST", "/v1/recognize", 415, parts=[image(b"")]),
    case("rec-image-bomb", "POST", "/v1/recognize", 413, parts=[image(BOMB, "b.png")]),
    case("rec-top-k-0", "POST", "/v1/recognize", 422, parts=[("top_k", "0"), image()], argument="top_k"),
    case("rec-top-k-10e30", "POST", "/v1/recognize", 422, parts=[("top_k", HUGE), image()], argument="top_k"),
    case(
        "rec-min-score-nan",
        "POST",
        "/v1/recognize",
        422,
        parts=[("min_score", "nan"), image()],
        argument="min_score",
    ),
    case("rec-ocr-maybe", "POST", "/v1/recognize", 422, parts=[("ocr", "maybe"), image()], argument="ocr"),
    case("rec-missing-image", "POST", "/v1/recognize", 422, parts=[("top_k", "3")], argument="image"),
    case("rec-field-traversal-tmp-x", "POST", "/v1/recognize", 422, parts=[image(name="../../../../tmp/x")]),
    # --- POST /generate without audio: the original JSON answer ----------------------------------
    case("gen-image-text", "POST", "/generate", 415, shape="doc", parts=[image(TEXT)]),
    case("gen-image-bomb", "POST", "/generate", 413, shape="doc", parts=[image(BOMB, "b.png")]),
    case("gen-missing-image", "POST", "/generate", 422, shape="doc", parts=[("prompt", "zoom")]),
    case(
        "gen-num-frames-minus-1", "POST", "/generate", 422, shape="doc", parts=[("num_frames", "-1"), image()]
    ),
    case("gen-fps-abc", "POST", "/generate", 422, shape="doc", parts=[("fps", "abc"), image()]),
    case("gen-steps-10e30", "POST", "/generate", 422, shape="doc", parts=[("steps", HUGE), image()]),
    case(
        "gen-field-traversal-tmp-x",
        "POST",
        "/generate",
        422,
        shape="doc",
        parts=[image(name="../../../../tmp/x")],
    ),
    case(
        "gen-field-absolute-probe", "POST", "/generate", 422, shape="doc", parts=[image(name=f"/tmp/{PROBE}")]
    ),
    case("gen-field-nul", "POST", "/generate", 422, shape="doc", parts=[image(), image(name="a\x00b")]),
    case(
        "gen-json-body",
        "POST",
        "/generate",
        JSON_OR_MEDIA,
        shape="doc",
        body=b"{}",
        content_type="application/json",
    ),
    case(
        "gen-multipart-without-boundary",
        "POST",
        "/generate",
        JSON_OR_MEDIA,
        shape="doc",
        body=encode_multipart([image()]),
        content_type="multipart/form-data",
        absent=(FORM_REFUSAL_HINT,),
    ),
    case(
        "gen-upload-over-limit",
        "POST",
        "/generate",
        413,
        app="small",
        shape="message",
        parts=[image(b"\xff" * BIG)],
    ),
    # --- POST /generate with an audio part: the original text answer -----------------------------
    case("gen-audio-is-a-png", "POST", "/generate", 415, shape="text", parts=[image(), audio(PNG, "a.wav")]),
    case("gen-audio-zero-bytes", "POST", "/generate", 415, shape="text", parts=[image(), audio(b"")]),
    case("gen-audio-image-text", "POST", "/generate", 415, shape="text", parts=[image(TEXT), audio()]),
    case("gen-audio-missing-image", "POST", "/generate", 422, shape="text", parts=[audio()]),
    case(
        "gen-audio-field-traversal",
        "POST",
        "/generate",
        422,
        shape="text",
        parts=[audio(), image(name=f"../../{PROBE}")],
    ),
    case(
        "gen-audio-field-nul",
        "POST",
        "/generate",
        422,
        shape="text",
        parts=[image(), audio(), image(name="a\x00b")],
    ),
    case(
        "gen-audio-duration-nan",
        "POST",
        "/generate",
        422,
        shape="text",
        parts=[("duration", "nan"), image(), audio()],
    ),
    case(
        "gen-audio-steps-10e30",
        "POST",
        "/generate",
        422,
        shape="text",
        parts=[("inference_steps", HUGE), image(), audio()],
    ),
    # --- POST /api/v1/recognize: the original JSON answer ----------------------------------------
    case("apirec-image-text", "POST", "/api/v1/recognize", 415, shape="doc", parts=[image(TEXT)]),
    case("apirec-image-zero-bytes", "POST", "/api/v1/recognize", 415, shape="doc", parts=[image(b"")]),
    case("apirec-image-bomb", "POST", "/api/v1/recognize", 413, shape="doc", parts=[image(BOMB, "b.png")]),
    case("apirec-missing-image", "POST", "/api/v1/recognize", 422, shape="doc", parts=[("top_k", "3")]),
    case("apirec-three-images", "POST", "/api/v1/recognize", 422, shape="doc", parts=[image()] * 3),
    case(
        "apirec-top-k-10e30", "POST", "/api/v1/recognize", 422, shape="doc", parts=[("top_k", HUGE), image()]
    ),
    case(
        "apirec-field-traversal-probe",
        "POST",
        "/api/v1/recognize",
        422,
        shape="doc",
        parts=[image(name="../" * 16 + f"tmp/{PROBE}")],
    ),
    case(
        "apirec-field-absolute-tmp-x",
        "POST",
        "/api/v1/recognize",
        422,
        shape="doc",
        parts=[image(name="/tmp/x")],
    ),
    case("apirec-field-nul", "POST", "/api/v1/recognize", 422, shape="doc", parts=[image(name="a\x00b")]),
    case(
        "apirec-filename-nul",
        "POST",
        "/api/v1/recognize",
        422,
        shape="doc",
        parts=[image(filename="a\x00.png")],
    ),
    case(
        "apirec-json-body",
        "POST",
        "/api/v1/recognize",
        JSON_OR_MEDIA,
        shape="doc",
        body=b"{}",
        content_type="application/json",
    ),
    # --- GET /v1/jobs: query parameters ----------------------------------------------------------
    case("list-limit-0", "GET", "/v1/jobs?limit=0", 422, argument="limit"),
    case("list-limit-minus-1", "GET", "/v1/jobs?limit=-1", 422, argument="limit"),
    case("list-limit-10e30", "GET", f"/v1/jobs?limit={HUGE}", 422, argument="limit"),
    case("list-limit-abc", "GET", "/v1/jobs?limit=abc", 422, argument="limit"),
    case("list-limit-nan", "GET", "/v1/jobs?limit=nan", 422, argument="limit"),
    case("list-status-bogus", "GET", "/v1/jobs?status=bogus", 422, argument="status"),
    case("list-status-nul", "GET", "/v1/jobs?status=queued%00", 422, argument="status"),
    case("list-cursor-garbage", "GET", "/v1/jobs?cursor=garbage", 422, argument="cursor"),
    case("list-cursor-traversal", "GET", "/v1/jobs?cursor=..%2F..%2Fetc%2Fpasswd", 422, argument="cursor"),
    case("list-git-commit-nul", "GET", "/v1/jobs?git_commit=abc%00", 422, argument="git_commit"),
    # --- GET /v1/jobs/{id} -----------------------------------------------------------------------
    case("get-unknown-id", "GET", "/v1/jobs/no-such-job", 404, argument="job_id"),
    case("get-id-nul", "GET", "/v1/jobs/%00", 422, argument="job_id"),
    case("get-id-dotdot", "GET", "/v1/jobs/%2E%2E", 422, argument="job_id"),
    case("get-id-200-chars", "GET", "/v1/jobs/" + "a" * 200, 422, argument="job_id"),
    case("get-id-unicode", "GET", "/v1/jobs/%E3%82%B8%E3%83%A7%E3%83%96", 422, argument="job_id"),
    case("get-id-encoded-slash", "GET", "/v1/jobs/a%2Fb", (404, 422)),
    case("get-id-encoded-traversal", "GET", "/v1/jobs/..%2F..%2Fetc%2Fpasswd", (404, 422)),
    # --- GET /v1/jobs/{id}/events ----------------------------------------------------------------
    case("events-unknown-id", "GET", "/v1/jobs/no-such-job/events", 404),
    case("events-id-nul", "GET", "/v1/jobs/%00/events", 422, argument="job_id"),
    case("events-id-dotdot", "GET", "/v1/jobs/%2E%2E/events", 422, argument="job_id"),
    case("events-after-minus-1", "GET", "/v1/jobs/{done}/events?after=-1", 422, argument="after"),
    case("events-after-10e30", "GET", f"/v1/jobs/{{done}}/events?after={HUGE}", 422, argument="after"),
    case("events-after-abc", "GET", "/v1/jobs/{done}/events?after=abc", 422, argument="after"),
    # --- GET /v1/jobs/{id}/artifacts/{name} ------------------------------------------------------
    case(
        "art-name-traversal-encoded",
        "GET",
        "/v1/jobs/{done}/artifacts/..%2F..%2F..%2Fetc%2Fpasswd",
        (404, 422),
    ),
    case("art-name-encoded-slash", "GET", "/v1/jobs/{done}/artifacts/%2F", (404, 422)),
    case("art-name-dotdot", "GET", "/v1/jobs/{done}/artifacts/%2E%2E", (404, 422)),
    case("art-name-nul", "GET", "/v1/jobs/{done}/artifacts/video.mp4%00", (404, 422)),
    case("art-name-absolute-probe", "GET", f"/v1/jobs/{{done}}/artifacts/%2Ftmp%2F{PROBE}", (404, 422)),
    case("art-name-unknown", "GET", "/v1/jobs/{done}/artifacts/nope.mp4", 404),
    case("art-unknown-job", "GET", "/v1/jobs/no-such-job/artifacts/video.mp4", 404),
    case("art-job-id-nul", "GET", "/v1/jobs/%00/artifacts/video.mp4", (404, 422)),
    case(
        "art-range-unsatisfiable",
        "GET",
        "/v1/jobs/{done}/artifacts/video.mp4",
        416,
        headers={"Range": "bytes=999999999-"},
    ),
    # --- cancel and DELETE -----------------------------------------------------------------------
    case("cancel-unknown-id", "POST", "/v1/jobs/no-such-job/cancel", 404),
    case("cancel-id-nul", "POST", "/v1/jobs/%00/cancel", 422, argument="job_id"),
    case("cancel-id-200-chars", "POST", "/v1/jobs/" + "c" * 200 + "/cancel", 422, argument="job_id"),
    case("cancel-finished-job", "POST", "/v1/jobs/{done}/cancel", 409, argument="job_id"),
    case("delete-unknown-id", "DELETE", "/v1/jobs/no-such-job", 404),
    case("delete-id-nul", "DELETE", "/v1/jobs/%00", 422, argument="job_id"),
    case("delete-id-dotdot", "DELETE", "/v1/jobs/%2E%2E", 422, argument="job_id"),
    case("delete-id-encoded-slash", "DELETE", "/v1/jobs/a%2Fb", (404, 422)),
    # --- methods and routes the router answers ---------------------------------------------------
    case("patch-job", "PATCH", "/v1/jobs/x", 405, allow=("GET", "PUT", "DELETE")),
    case("post-job-id", "POST", "/v1/jobs/x", 405, allow=("GET", "PUT", "DELETE")),
    case("delete-jobs-collection", "DELETE", "/v1/jobs", 405, allow=("GET", "POST")),
    case("get-cancel", "GET", "/v1/jobs/x/cancel", 405, allow=("POST",)),
    case("put-artifact", "PUT", "/v1/jobs/x/artifacts/video.mp4", 405, allow=("GET",)),
    case("get-image-to-video", "GET", "/v1/image-to-video", 405, allow=("POST",)),
    case("get-generate", "GET", "/generate", 405, allow=("POST",)),
    case("put-healthz", "PUT", "/healthz", 405, allow=("GET",)),
    case("unknown-route", "GET", "/nope", 404),
    case("unknown-v1-route", "GET", "/v1/nope", 404),
    case("unknown-v2-jobs", "POST", "/v2/jobs", 404),
    case("artifacts-without-name", "GET", "/v1/jobs/{done}/artifacts", 404),
    # --- keys, tenants and sessions (keyed app: tenant keys A and B, an admin key) ---------------
    case("key-none-list", "GET", "/v1/jobs", 401, app="keyed"),
    case("key-none-submit", "POST", "/v1/jobs", 401, app="keyed", parts=jobs_form()),
    case("key-none-get", "GET", f"/v1/jobs/{A_JOB}", 401, app="keyed", absent=A_SECRETS),
    case("key-wrong-bearer", "GET", "/v1/jobs", 401, app="keyed", headers={"Authorization": "Bearer nope"}),
    case("key-wrong-x-api-key", "GET", "/v1/jobs", 401, app="keyed", headers={"X-API-Key": "nope"}),
    case("key-empty-bearer", "GET", "/v1/jobs", 401, app="keyed", headers={"Authorization": "Bearer "}),
    case(
        "key-forged-session",
        "GET",
        "/v1/jobs",
        401,
        app="keyed",
        headers={"Cookie": f"{SESSION_COOKIE}={'0' * 64}"},
    ),
    case(
        "key-hash-as-key",
        "GET",
        "/v1/jobs",
        401,
        app="keyed",
        headers={"Authorization": "Bearer sha256:" + "0" * 64},
    ),
    case("tenant-b-gets-a", "GET", f"/v1/jobs/{A_JOB}", 404, app="keyed", headers=AUTH_B, absent=A_SECRETS),
    case(
        "tenant-b-events-of-a",
        "GET",
        f"/v1/jobs/{A_JOB}/events",
        404,
        app="keyed",
        headers=AUTH_B,
        absent=A_SECRETS,
    ),
    case(
        "tenant-b-downloads-a",
        "GET",
        f"/v1/jobs/{A_JOB}/artifacts/video.mp4",
        404,
        app="keyed",
        headers=AUTH_B,
    ),
    case(
        "tenant-b-downloads-a-range",
        "GET",
        f"/v1/jobs/{A_JOB}/artifacts/video.mp4",
        404,
        app="keyed",
        headers={**AUTH_B, "Range": "bytes=0-9"},
    ),
    case(
        "tenant-b-cancels-a",
        "POST",
        f"/v1/jobs/{A_JOB}/cancel",
        404,
        app="keyed",
        headers=AUTH_B,
        absent=A_SECRETS,
        after=a_job_intact,
    ),
    case(
        "tenant-b-deletes-a",
        "DELETE",
        f"/v1/jobs/{A_JOB2}",
        404,
        app="keyed",
        headers=AUTH_B,
        after=_intact(A_JOB2),
    ),
    case(
        "tenant-b-puts-over-a-different",
        "PUT",
        f"/v1/jobs/{A_JOB}",
        409,
        app="keyed",
        headers=AUTH_B,
        parts=[("task", "recognize"), image(PNG, "b.png")],
        absent=(*A_SECRETS, "image-to-video", "256p", "camera"),
        after=a_job_intact,
    ),
    case(
        "tenant-b-puts-over-a-identical",
        "PUT",
        f"/v1/jobs/{A_JOB}",
        409,
        app="keyed",
        headers=AUTH_B,
        parts=A_PARTS,
        absent=(*A_SECRETS, "succeeded", "artifacts"),
        after=a_job_intact,
    ),
    case(
        "tenant-b-puts-over-a-with-wait",
        "PUT",
        f"/v1/jobs/{A_JOB}",
        409,
        app="keyed",
        headers={**AUTH_B, "Prefer": "wait=5"},
        parts=A_PARTS,
        absent=A_SECRETS,
    ),
    case(
        "login-wrong-key",
        "POST",
        "/login",
        401,
        app="keyed",
        shape="any",
        body=b"key=nope&next=%2Fdocs",
        content_type="application/x-www-form-urlencoded",
    ),
    case(
        "login-empty-key",
        "POST",
        "/login",
        401,
        app="keyed",
        shape="any",
        body=b"key=&next=%2Fdocs",
        content_type="application/x-www-form-urlencoded",
    ),
    case(
        "login-with-a-file",
        "POST",
        "/login",
        (400, 413, 422),
        app="keyed",
        shape="any",
        parts=[("key", KA), image()],
    ),
]


# --- the apps ----------------------------------------------------------------------------------


@dataclass
class Apps:
    base: Path
    clients: dict[str, TestClient]
    folders: list[Path]  # data and output folders: the only places files may appear
    ctx: dict[str, str]
    setup_problems: dict[str, list[str]]  # app -> what went wrong making its jobs


def _settings(base: Path, name: str, **extra: Any) -> Settings:
    return Settings(output_dir=base / name / "outputs", data_dir=base / name / "data", **extra)


def _make_job(
    client: TestClient, method: str, path: str, parts: Parts, headers: dict[str, str]
) -> dict[str, Any] | str:
    """A finished job (its record), or why it could not be made."""
    r = client.request(
        method,
        path,
        content=encode_multipart(parts),
        headers={**headers, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}", "Prefer": "wait=60"},
    )
    try:
        job: dict[str, Any] = r.json()
    except ValueError:
        job = {}
    if r.status_code != 200 or job.get("status") != "succeeded":
        return f"setup: {method} {path} gave {r.status_code}: {r.text[:300]}"
    return job


@pytest.fixture(scope="module")
def apps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Apps]:
    base = tmp_path_factory.mktemp("bad-requests")
    configs = {
        "open": _settings(
            base,
            "open",
            max_batch_files=2,
            webhook_hosts="ci.example.com",
            webhook_secret="webhook-test-secret",
        ),
        "small": _settings(base, "small", max_upload_bytes=64_000),
        "keyed": _settings(base, "keyed", api_keys=f"{KA},{KB}", admin_keys=KADMIN),
    }
    folders = [p for s in configs.values() for p in (Path(s.data_dir), Path(s.output_dir))]
    clients = {
        name: TestClient(create_app(s), raise_server_exceptions=False, follow_redirects=False)
        for name, s in configs.items()
    }
    for c in clients.values():
        c.__enter__()
    try:
        ctx = {"done": "setup-failed-no-job", "a_job": A_JOB, "probe": PROBE}
        setup: dict[str, list[str]] = {"open": [], "small": [], "keyed": []}
        camera = [("task", "image-to-video"), ("backend", "camera"), ("resolution", "256p")]
        done = _make_job(clients["open"], "POST", "/v1/jobs", [*camera, ("num_frames", "2"), image()], {})
        if isinstance(done, str):
            setup["open"].append(done)
        else:
            ctx["done"] = done["id"]
        for job_id, parts in (
            (A_JOB, A_PARTS),
            (A_JOB2, [*I2V, ("prompt", A_PROMPT), image(filename=A_FILE)]),
        ):
            made = _make_job(clients["keyed"], "PUT", f"/v1/jobs/{job_id}", parts, AUTH_A)
            if isinstance(made, str):
                setup["keyed"].append(made)
        yield Apps(base=base, clients=clients, folders=folders, ctx=ctx, setup_problems=setup)
    finally:
        for c in clients.values():
            c.__exit__(None, None, None)


# --- what every case checks --------------------------------------------------------------------


def _watched_dirs(base: Path) -> set[Path]:
    dirs = {Path("/tmp"), Path(tempfile.gettempdir()), Path.cwd(), ROOT, base, *base.parents}
    dirs |= {folder / "tmp" for folder in dirs}
    return {d for d in dirs if d.is_dir()}


def escaped_files(apps: Apps) -> set[Path]:
    """Files named like a traversal probe's target anywhere they could land, and every file under
    the test's folder that is outside the apps' data and output folders."""
    found: set[Path] = set()
    for folder in _watched_dirs(apps.base):
        try:
            entries = list(folder.iterdir())
        except OSError:
            continue
        for entry in entries:
            if entry.name == "x" or entry.name.startswith(("x_", PROBE)) or PROBE in entry.name:
                found.add(entry)
    for dirpath, _, filenames in os.walk(apps.base):
        for name in filenames:
            path = Path(dirpath) / name
            if not any(path.is_relative_to(f) for f in apps.folders):
                found.add(path)
    return found


def server_paths(apps: Apps) -> list[str]:
    return [str(apps.base), str(apps.base.resolve()), str(ROOT), "site-packages", "genserve-upload-"]


def send(client: TestClient, c: Case, ctx: dict[str, str]) -> httpx.Response:
    headers = dict(c.headers)
    content: Any = None
    if c.parts is not None:
        content = encode_multipart(c.parts)
        headers["Content-Type"] = c.content_type or f"multipart/form-data; boundary={BOUNDARY}"
    elif c.body is not None:
        content = c.body() if callable(c.body) else c.body
        if c.content_type:
            headers["Content-Type"] = c.content_type
    return client.request(c.method, c.path.format(**ctx), content=content, headers=headers)


def answer_problems(r: httpx.Response, c: Case, apps: Apps) -> list[str]:
    """Everything wrong with the answer to a bad request (empty when it is right)."""
    text, problems = r.text, []
    if r.status_code not in c.status:
        problems.append(f"status: want {'/'.join(map(str, c.status))}, got {r.status_code}: {text[:300]}")
    if "Traceback" in text or 'File "' in text:
        problems.append(f"the answer holds a traceback: {text[:300]}")
    problems += [f"the answer shows a server path ({p})" for p in server_paths(apps) if p in text]
    problems += [f"the answer reveals {s!r}: {text[:300]}" for s in c.absent if s in text]
    if c.shape in ("json", "doc", "message"):
        try:
            body = r.json()
        except ValueError:
            return [*problems, f"the answer is not JSON: {text[:300]}"]
        if not isinstance(body, dict) or not str(body.get("message") or "").strip():
            problems.append(f"no message in the answer: {text[:300]}")
        elif c.shape == "json" and body.get("error") != CODES.get(r.status_code):
            problems.append(f"error code: want {CODES.get(r.status_code)!r}, got {body.get('error')!r}")
        elif c.shape == "json" and c.argument is not None and body.get("argument") != c.argument:
            problems.append(f"argument: want {c.argument!r}, got {body.get('argument')!r}")
        elif c.shape == "doc" and body.get("status") != "error":
            problems.append(f"status field: want 'error', got {body.get('status')!r}")
    elif c.shape == "text" and (
        not r.headers.get("content-type", "").startswith("text/plain") or not text.strip()
    ):
        problems.append(f"want a text/plain reason, got {r.headers.get('content-type')}: {text[:300]}")
    if c.allow is not None:
        given = {m.strip().upper() for m in r.headers.get("allow", "").split(",") if m.strip()}
        if not set(c.allow) <= given <= set(c.allow) | {"HEAD", "OPTIONS"}:
            problems.append(f"Allow: want {', '.join(c.allow)}, got {r.headers.get('allow')!r}")
    return problems


def take_escaped(apps: Apps, before: set[Path]) -> list[str]:
    """Files that appeared outside the data and output folders since ``before``; removed at once
    (the service should never have written them)."""
    new = escaped_files(apps) - before
    for path in new:
        if path.is_file() or path.is_symlink():
            path.unlink(missing_ok=True)
        elif path.is_dir() and (PROBE in path.name or path.is_relative_to(apps.base)):
            shutil.rmtree(path, ignore_errors=True)
    return sorted(map(str, new))


def aftermath_problems(client: TestClient, apps: Apps, before: set[Path]) -> list[str]:
    problems = []
    escaped = take_escaped(apps, before)
    if escaped:
        problems.append(f"files appeared outside the data and output folders: {escaped}")
    health = client.get("/healthz")
    if health.status_code != 200:
        problems.append(f"the server is not healthy afterwards: {health.status_code} {health.text[:200]}")
    return problems


@pytest.mark.parametrize("c", CASES)
def test_bad_request_is_a_4xx_and_harmless(apps: Apps, c: Case) -> None:
    client = apps.clients[c.app]
    client.cookies.clear()
    before = escaped_files(apps)
    r = send(client, c, apps.ctx)
    client.cookies.clear()
    problems = aftermath_problems(client, apps, before) + answer_problems(r, c, apps)
    if c.app == "keyed" or "{done}" in c.path:
        problems += apps.setup_problems[c.app]
    if c.after is not None:
        try:
            c.after(client, apps.ctx)
        except AssertionError as exc:
            problems.append(f"afterwards: {exc}")
    assert not problems, "\n".join(problems)


def test_a_file_name_is_a_label_never_a_path(apps: Apps) -> None:
    """A client's file name with a path in it is accepted by its base name only; nothing is
    written where it points (browsers and curl send base names; the path is dropped, not obeyed)."""
    client = apps.clients["open"]
    before = escaped_files(apps)
    case = post_jobs("x", jobs_form(files=[image(filename=f"../../../../tmp/{PROBE}.jpg")]), 202).values[0]
    r = send(client, case, apps.ctx)
    assert r.status_code == 202, r.text
    assert r.json()["inputs"] == {"image": [f"{PROBE}.jpg"]}
    assert aftermath_problems(client, apps, before) == []


# --- tenancy and session flows (several requests each) -----------------------------------------


def _login(client: TestClient, key: str) -> str:
    client.cookies.clear()
    r = client.post(
        "/login",
        content=f"key={key}&next=%2Fdocs".encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    token = r.cookies.get(SESSION_COOKIE)
    client.cookies.clear()
    assert r.status_code in (200, 302, 303) and token, f"login gave {r.status_code}: {r.text[:300]}"
    assert key not in token
    return token


def _with_cookie(token: str) -> dict[str, str]:
    return {"Cookie": f"{SESSION_COOKIE}={token}"}


def flow_listing_excludes_other_tenant(client: TestClient) -> None:
    listed_b = client.get("/v1/jobs", headers=AUTH_B)
    assert listed_b.status_code == 200
    assert A_JOB not in [j["id"] for j in listed_b.json()["jobs"]]
    assert A_PROMPT not in listed_b.text
    listed_a = client.get("/v1/jobs", headers=AUTH_A)
    assert A_JOB in [j["id"] for j in listed_a.json()["jobs"]]


def flow_admin_sees_and_deletes(client: TestClient) -> None:
    parts = [("task", "image-to-video"), ("backend", "noop"), ("prompt", "a-doomed-job"), image()]
    made = client.put(
        "/v1/jobs/a-doomed-job",
        content=encode_multipart(parts),
        headers={**AUTH_A, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}", "Prefer": "wait=30"},
    )
    assert made.status_code == 200 and made.json()["status"] == "succeeded", made.text[:300]
    admin = {"Authorization": f"Bearer {KADMIN}"}
    seen = client.get("/v1/jobs/a-doomed-job", headers=admin)
    assert seen.status_code == 200 and seen.json()["id"] == "a-doomed-job"
    listed = [j["id"] for j in client.get("/v1/jobs", headers=admin).json()["jobs"]]
    assert {"a-doomed-job", A_JOB} <= set(listed)
    assert client.get(f"/v1/jobs/{A_JOB}/artifacts/video.mp4", headers=admin).status_code == 200
    assert client.get("/v1/jobs/a-doomed-job", headers=AUTH_B).status_code == 404
    assert client.delete("/v1/jobs/a-doomed-job", headers=admin).status_code == 204
    gone = client.get("/v1/jobs/a-doomed-job", headers=AUTH_A)
    assert gone.status_code == 404 and gone.json()["error"] == "not_found"


def flow_login_cookie_opens_the_api(client: TestClient) -> None:
    token = _login(client, KA)
    r = client.get("/v1/jobs", headers=_with_cookie(token))
    assert r.status_code == 200, r.text[:300]
    assert A_JOB in [j["id"] for j in r.json()["jobs"]]  # the session acts as key A


def flow_session_of_b_cannot_read_a(client: TestClient) -> None:
    token = _login(client, KB)
    r = client.get(f"/v1/jobs/{A_JOB}", headers=_with_cookie(token))
    assert r.status_code == 404 and r.json()["error"] == "not_found", r.text[:300]
    assert A_PROMPT not in r.text


def flow_logout_ends_the_session(client: TestClient) -> None:
    token = _login(client, KA)
    assert client.get("/v1/jobs", headers=_with_cookie(token)).status_code == 200
    out = client.get("/logout", headers=_with_cookie(token))
    assert out.status_code < 400, out.text[:300]
    client.cookies.clear()
    after = client.get("/v1/jobs", headers=_with_cookie(token))
    assert after.status_code == 401, f"the session still works after /logout: {after.status_code}"
    assert after.json()["error"] == "unauthorized"


def flow_each_login_gets_a_new_cookie(client: TestClient) -> None:
    first, second = _login(client, KA), _login(client, KA)
    assert first != second, "two logins handed out the same session cookie"


FLOWS = [
    pytest.param(flow_listing_excludes_other_tenant, id="listing-of-b-excludes-a"),
    pytest.param(flow_admin_sees_and_deletes, id="admin-sees-and-deletes-a"),
    pytest.param(flow_login_cookie_opens_the_api, id="login-cookie-opens-the-api"),
    pytest.param(flow_session_of_b_cannot_read_a, id="session-of-b-cannot-read-a"),
    pytest.param(flow_logout_ends_the_session, id="logout-ends-the-session"),
    pytest.param(flow_each_login_gets_a_new_cookie, id="each-login-gets-a-new-cookie"),
]


@pytest.mark.parametrize("flow", FLOWS)
def test_tenancy_and_session_flow(apps: Apps, flow: Callable[[TestClient], None]) -> None:
    client = apps.clients["keyed"]
    client.cookies.clear()
    assert not apps.setup_problems["keyed"], apps.setup_problems["keyed"]
    before = escaped_files(apps)
    try:
        flow(client)
    finally:
        client.cookies.clear()
        problems = aftermath_problems(client, apps, before)
    assert not problems, "\n".join(problems)


def test_the_corpus_is_big_enough() -> None:
    assert len(CASES) + len(FLOWS) >= 90
    assert len({p.id for p in CASES}) == len(CASES)
