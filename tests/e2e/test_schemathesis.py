"""The OpenAPI document is the contract (issue 12): schemathesis 4 fuzzes a real `genserve serve`
from its own ``/openapi.json`` with every check (``--checks all``) and must find nothing: no server
error, no undocumented status, content type or header, no response off its schema, no schema-valid
request refused, no invalid one accepted, and an ``Allow`` header that lists every method.

Bounded for CI: a fixed time budget (``GENSERVE_FUZZ_SECONDS``, default 60) and seed
(``GENSERVE_FUZZ_SEED``); the run's report lands in the test's temp folder. The SSE route is left
out: a stream stays open while its job is unfinished, which a fuzzer reads as a hang.

The one allowance: for the operations that take media files, a schema can say "binary" but not
"a decodable PNG" or "a WAV", so a schema-valid request whose random bytes are not an image or a
sound may be refused as 415 (or 413 for a header that claims too many pixels). Every other refusal
of schema-valid data is a failure: parameters, ``params``, ids and fields must be described exactly.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from live_server import LiveServer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
KEY = "schemathesis-key"
FUZZ_SECONDS = int(os.environ.get("GENSERVE_FUZZ_SECONDS", "60"))
SEED = os.environ.get("GENSERVE_FUZZ_SEED", "20260")
EXCLUDED_PATHS = ("/v1/jobs/{job_id}/events",)  # server-sent events: open until the job ends
MEDIA_OPERATIONS = (
    "/v1/jobs",
    "/v1/jobs/{job_id}",
    "/v1/image-to-video",
    "/v1/talking-head",
    "/v1/recognize",
    "/generate",
    "/api/v1/recognize",
)
# schemathesis' default for positive_data_acceptance, plus 413 and 415 (see the module docstring)
MEDIA_ACCEPTED = ("2xx", "3xx", "401", "403", "404", "409", "413", "415", "429")

CONFIG = f"""
[[operations]]
include-path = {list(MEDIA_OPERATIONS)!r}
include-method = ["POST", "PUT"]

[operations.checks.positive_data_acceptance]
expected-statuses = {list(MEDIA_ACCEPTED)!r}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("schemathesis-server"), GENSERVE_API_KEYS=KEY).start()
    yield live
    live.stop()


def test_schemathesis_finds_nothing(server: LiveServer, tmp_path: Path) -> None:
    assert SCHEMATHESIS.exists(), "schemathesis is missing: pip install -e '.[dev]'"
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    command = [
        str(SCHEMATHESIS),
        "--config-file",
        str(config),
        "run",
        f"{server.url}/openapi.json",
        "--checks",
        "all",
        "--header",
        f"Authorization: Bearer {KEY}",
        *(arg for path in EXCLUDED_PATHS for arg in ("--exclude-path", path)),
        "--max-examples",
        "20",
        "--max-time",
        str(FUZZ_SECONDS),
        "--seed",
        SEED,
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--generation-database",
        "none",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path / "report"),
        "--no-color",
    ]
    run = subprocess.run(
        command,
        cwd=tmp_path,  # anything it writes stays in the test's folder
        capture_output=True,
        text=True,
        timeout=FUZZ_SECONDS + 240,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, f"schemathesis exit {run.returncode}:\n{output[-15000:]}"
    tested = re.search(r"Tested:\s*(\d+)", output)
    assert tested is None or int(tested.group(1)) >= 10, f"too few operations tested:\n{output[-3000:]}"
    assert server.proc is not None and server.proc.poll() is None, "the server died under the fuzzer"
