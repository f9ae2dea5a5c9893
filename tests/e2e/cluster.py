"""A genserve cluster on loopback for end-to-end tests: an isolated RabbitMQ vhost / Redis db /
PostgreSQL database per test, an API with the Celery executor and `genserve worker` processes,
each in a working directory of its own (they share no files)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from live_server import GENSERVE, ROOT, free_port, server_env


@contextmanager
def rabbitmq_vhost() -> Iterator[str]:
    name = f"genserve-test-{uuid.uuid4().hex[:8]}"
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", name], check=True, capture_output=True)
    subprocess.run(
        ["rabbitmqctl", "-q", "set_permissions", "-p", name, "guest", ".*", ".*", ".*"],
        check=True,
        capture_output=True,
    )
    try:
        yield f"amqp://guest:guest@127.0.0.1:5672/{name}"
    finally:
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", name], capture_output=True)


@contextmanager
def redis_db(number: int = 13) -> Iterator[str]:
    import redis

    client = redis.Redis(host="127.0.0.1", port=6379, db=number)
    client.flushdb()
    try:
        yield f"redis://127.0.0.1:6379/{number}"
    finally:
        client.flushdb()
        client.close()


@contextmanager
def postgres_db() -> Iterator[str]:
    name = f"genserve_test_{uuid.uuid4().hex[:8]}"
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", name], check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--force", name], capture_output=True)


class Worker:
    """A `genserve worker` process in its own folder; ready when its /readyz answers."""

    def __init__(self, folder: Path, queues: str, **env: str) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.env = server_env(folder, **env)
        self.queues = queues
        self.log = folder / "worker.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> Worker:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [str(GENSERVE), "worker", "--queues", self.queues, "--metrics-port", str(self.port)],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.folder,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited: {self.log.read_text()[-3000:]}")
            try:
                ready = httpx.get(f"http://127.0.0.1:{self.port}/readyz", timeout=1).status_code == 200
                if ready and "ready." in self.log.read_text():  # celery's consumer is connected
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"worker not ready in {timeout} s: {self.log.read_text()[-3000:]}")

    def runs(self) -> list[str]:
        log = self.folder / "data" / "runs.log"
        return log.read_text().splitlines() if log.exists() else []

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def cluster_env(broker: str, database: str, **extra: str) -> dict[str, str]:
    return {
        "GENSERVE_EXECUTOR": "celery",
        "GENSERVE_BROKER_URL": broker,
        "GENSERVE_DATABASE_URL": database,
        "GENSERVE_LEASE_S": "3",
        # this checkout's code, before any installed copy of genserve
        "PYTHONPATH": os.pathsep.join([str(ROOT / "tests" / "integration"), str(ROOT / "src")]),
        **extra,
    }


class TcpProxy:
    """A loopback TCP forwarder that can be cut and restored (a broker connection dropped)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._server: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> TcpProxy:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(16)
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()
        return self

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        """Refuse new connections and cut the open ones."""
        if self._server is not None:
            with contextlib.suppress(OSError):  # wakes the thread blocked in accept()
                self._server.shutdown(socket.SHUT_RDWR)
            self._server.close()
            self._server = None
        with self._lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()
