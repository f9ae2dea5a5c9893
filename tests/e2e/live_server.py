"""A real `genserve serve` process on a free loopback port, for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
GENSERVE = ROOT / ".venv" / "bin" / "genserve"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "GENSERVE_DATA_DIR": str(tmp / "data"),
        "GENSERVE_OUTPUT_DIR": str(tmp / "outputs"),
        "GENSERVE_LOG_DIR": str(tmp / "logs"),
        "GENSERVE_PLUGINS": "svc_backends",
        # this checkout's code, before any installed copy of genserve
        "PYTHONPATH": os.pathsep.join([str(ROOT / "tests" / "integration"), str(ROOT / "src")]),
        "OMP_NUM_THREADS": "1",
    }
    env.update(extra)
    return env


class LiveServer:
    def __init__(self, tmp: Path, port: int | None = None, mode: str = "api", **env: str) -> None:
        self.port = port or free_port()
        self.mode = mode
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = server_env(tmp, **env)
        self.log = tmp / f"server-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> LiveServer:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [str(GENSERVE), "serve", "--mode", self.mode, "--port", str(self.port)],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server not ready in {timeout} s: {self.log.read_text()[-2000:]}")

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
