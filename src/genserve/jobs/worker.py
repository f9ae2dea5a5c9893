"""`genserve worker`: a Celery worker that runs jobs whose ids arrive on its queues.

The broker only wakes the worker; the store decides. For each message the worker
1. reads the job: finished, canceled or unknown → the message is acknowledged and dropped;
2. running under a live lease (a duplicate or redelivered message) → dropped; under an expired
   lease (its worker died) → requeued in the store, then claimed here;
3. claims it (queued → running, the attempt number fences every later write), keeps the lease
   alive and watches for a cancel request while ``execute_job`` runs it, and releases its inputs.

The pool is Celery's thread pool: the models stay warm in this process across jobs, nothing is
forked (CUDA is never initialised in a parent that forks), and the main thread keeps talking to
the broker while a job runs. SIGTERM is Celery's warm shutdown: the running job finishes first
(a second SIGTERM or a kill leaves it to the broker's redelivery and the store's lease).
"""

from __future__ import annotations

import logging
import threading
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from genserve.clock import Clock
from genserve.config import Settings
from genserve.jobs.execute import execute_job
from genserve.jobs.executor import heartbeat_interval, worker_name
from genserve.jobs.record import JobRecord
from genserve.jobs.runner import BackendCache
from genserve.tasks.base import JobStatus

log = logging.getLogger("genserve.worker")


class WorkerRuntime:
    """What one worker process holds: the store, artifacts, warm models and the jobs it runs."""

    def __init__(
        self, settings: Settings, queues: list[str], device: str | None = None, clock: Clock | None = None
    ) -> None:
        from genserve.service import Service

        self.settings = settings
        self.queues = queues
        self.device = device
        self.name = worker_name()
        # a service without an executor: the store, the artifact store and an event bus for metrics
        self.service = Service(settings, run_jobs=False, webhooks=False, clock=clock)
        self.store = self.service.store
        self.clock = self.service.clock  # leases and time limits
        self.cache = BackendCache(settings.backend_cache_size)
        self._running: dict[str, JobRecord] = {}
        self._canceled: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._keeper: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> WorkerRuntime:
        self.service.start()
        self.store.workers.seen(self.name, self.queues, self.device, 0)
        self._keeper = threading.Thread(target=self._keep, name="genserve-worker-leases", daemon=True)
        self._keeper.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._keeper is not None:
            self._keeper.join(5.0)
        try:
            self.store.workers.gone(self.name)
        finally:
            self.cache.clear()
            self.service.stop()

    def _keep(self) -> None:
        """Renew the leases of running jobs, pick up cancel requests, say this worker is alive."""
        while not self._stop.wait(heartbeat_interval(self.settings)):
            try:
                with self._lock:
                    mine = list(self._running.values())
                for record in mine:
                    if self.store.heartbeat(record.id, record.attempt, self.settings.lease_s):
                        with self._lock:
                            self._canceled.add(record.id)
                self.store.workers.seen(self.name, self.queues, self.device, len(mine))
            except Exception:
                log.exception("lease keeper: store unreachable; retrying")

    # --- one message ---------------------------------------------------------------------------

    def handle(self, job_id: str) -> str:
        """Run the job if the store says it is this worker's to run; returns what happened."""
        record = self.store.get(job_id)
        if record is None or record.status.is_terminal():
            log.info("job %s: %s; message dropped", job_id, "unknown" if record is None else record.status)
            return "dropped"
        if record.status == JobStatus.running:
            if (record.lease_until or 0) >= self.clock.now():
                log.info("job %s: running elsewhere (attempt %s); duplicate dropped", job_id, record.attempt)
                return "dropped"
            for event in self.store.recover([job_id], requeue=True):  # its worker died
                self.service.bus.publish(event)
        claimed = self.store.claim(job_id, self.name, self.settings.lease_s)
        if claimed is None:
            return "dropped"
        record, event = claimed
        self.service.bus.publish(event)
        with self._lock:
            self._running[job_id] = record
        try:
            status = execute_job(
                record,
                settings=self.settings,
                store=self.store,
                artifacts=self.service.artifacts,
                bus=self.service.bus,
                cache=self.cache,
                is_canceled=lambda: job_id in self._canceled,
                device=self.device,
                clock=self.clock,
            )
        finally:
            with self._lock:
                self._running.pop(job_id, None)
                self._canceled.discard(job_id)
            self.service.artifacts.release_inputs(job_id)
        return str(status) if status is not None else "lost"

    def ready(self) -> dict[str, Any]:
        return {
            "ready": self.store.ping(),
            "worker": self.name,
            "queues": self.queues,
            "busy": len(self._running),
        }


def serve_metrics(runtime: WorkerRuntime, port: int) -> Any:
    """``/metrics`` (Prometheus), ``/healthz`` and ``/readyz`` of a worker, on a thread."""
    import json

    from genserve.api.metrics import Metrics

    metrics = Metrics(runtime.service)

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path == "/metrics":
            body, content_type = metrics.render()
            start_response("200 OK", [("Content-Type", content_type)])
            return [body]
        if path in ("/healthz", "/readyz"):
            state = runtime.ready() if path == "/readyz" else {"status": "ok"}
            ok = state.get("ready", True)
            start_response(
                "200 OK" if ok else "503 Service Unavailable", [("Content-Type", "application/json")]
            )
            return [json.dumps(state).encode()]
        start_response("404 Not Found", [("Content-Type", "application/json")])
        return [b'{"error": "not_found", "message": "no such route; try /metrics, /healthz or /readyz"}']

    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

    server = make_server(runtime.settings.host, port, app, handler_class=Quiet)
    threading.Thread(target=server.serve_forever, name="genserve-worker-metrics", daemon=True).start()
    return server


def run_worker(
    settings: Settings, queues: list[str], device: str | None, concurrency: int, loglevel: str = "INFO"
) -> None:
    """Start a Celery worker on ``queues`` in this process (blocks until it shuts down)."""
    from genserve.jobs.celery_app import TASK_NAME, make_celery

    app = make_celery(settings, queues)
    runtime = WorkerRuntime(settings, queues, device).start()

    @app.task(name=TASK_NAME, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
    def run_job_by_id(job_id: str) -> str:
        return runtime.handle(job_id)

    server = serve_metrics(runtime, settings.worker_metrics_port) if settings.worker_metrics_port else None
    log.info("worker %s consuming %s", runtime.name, ",".join(queues))
    try:
        app.worker_main(
            [
                "worker",
                "--queues",
                ",".join(queues),
                "--concurrency",
                str(concurrency),
                "--pool",
                "threads",
                "--hostname",
                f"genserve-{runtime.name.replace(':', '-')}",
                "--without-gossip",
                "--without-mingle",
                "--loglevel",
                loglevel,
            ]
        )
    finally:
        if server is not None:
            server.shutdown()
        runtime.stop()
