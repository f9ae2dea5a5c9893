"""Prometheus metrics: jobs by task/backend/status, phase durations (queue wait, model load, run,
encode), queue depth, jobs in progress, GPU memory when a GPU is in use, and HTTP requests.

Each app has its own registry, so several apps in one process (tests) do not collide.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from genserve.jobs.events import Event
from genserve.jobs.executor import heartbeat_interval

if TYPE_CHECKING:
    from genserve.service import Service

# NOTE: generation takes seconds to minutes; buckets reach past 120 s so an alert on a generation
# slower than two minutes can read the histogram directly
JOB_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60)


class Metrics:
    def __init__(self, service: Service) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.service = service
        self.registry = CollectorRegistry()
        self.jobs = Counter(
            "genserve_jobs", "Finished jobs", ["task", "backend", "status"], registry=self.registry
        )
        self.phase = Histogram(
            "genserve_job_phase_seconds",
            "Seconds a job spent in each phase: queue (wait), load (model), run, encode",
            ["task", "backend", "phase"],
            buckets=JOB_BUCKETS,
            registry=self.registry,
        )
        self.duration = Histogram(
            "genserve_job_duration_seconds",
            "Seconds from a job's start to its result",
            ["task", "backend"],
            buckets=JOB_BUCKETS,
            registry=self.registry,
        )
        self.http = Counter(
            "genserve_http_requests", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.http_duration = Histogram(
            "genserve_http_request_duration_seconds",
            "HTTP request duration",
            ["method", "route"],
            buckets=HTTP_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_StateCollector(service))
        service.bus.listeners.append(self.on_event)

    def on_event(self, event: Event) -> None:
        if event.type != "completed" or event.relayed:  # a remote job is counted by its worker
            return
        task = str(event.data.get("task") or "unknown")
        backend = str(event.data.get("backend") or "unknown")
        self.jobs.labels(task, backend, str(event.data.get("status"))).inc()
        timings = event.data.get("timings") or {}
        for phase in ("queue", "load", "run", "encode"):
            if timings.get(phase) is not None:
                self.phase.labels(task, backend, phase).observe(float(timings[phase]))
        if event.data.get("duration_sec") is not None:
            self.duration.labels(task, backend).observe(float(event.data["duration_sec"]))

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _StateCollector:
    """Read at scrape time: queue depth and jobs running (from the store), GPU memory (from torch)."""

    def __init__(self, service: Service) -> None:
        self.service = service

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        store = self.service.store
        counts = store.counts()
        depth = GaugeMetricFamily("genserve_queue_depth", "Jobs waiting to run, per queue", labels=["queue"])
        for name, n in sorted(store.queued_by_queue().items()):
            depth.add_metric([name], n)
        yield depth
        states = GaugeMetricFamily("genserve_jobs_by_state", "Jobs in the store by state", labels=["state"])
        for state in ("queued", "running", "succeeded", "failed", "canceled"):
            states.add_metric([state], counts.get(state, 0))
        yield states
        yield GaugeMetricFamily(
            "genserve_jobs_in_progress", "Jobs running now", value=counts.get("running", 0)
        )
        oldest = store.oldest_running_started_at()
        yield GaugeMetricFamily(
            "genserve_oldest_running_job_age_seconds",
            "Age of the oldest running job (0 when none): a stuck generation shows before it ends",
            value=0.0 if oldest is None else max(0.0, self.service.clock.now() - oldest),
        )
        executor = self.service.executor
        if executor is not None and executor.describe().kind == "celery":
            alive = GaugeMetricFamily(
                "genserve_workers_alive", "Workers heard from recently, per queue", labels=["queue"]
            )
            per_queue: dict[str, int] = {}
            for worker in store.workers.alive(3 * heartbeat_interval(self.service.settings)):
                for name in str(worker["queues"]).split(","):
                    per_queue[name] = per_queue.get(name, 0) + 1
            for name, n in sorted(per_queue.items()):
                alive.add_metric([name], n)
            yield alive
        up = GaugeMetricFamily(
            "genserve_up", "1 when the store answers", value=float(self.service.store.ping())
        )
        yield up
        gpu = _gpu_memory()
        if gpu:
            used = GaugeMetricFamily("genserve_gpu_memory_used_bytes", "GPU memory in use", labels=["device"])
            total = GaugeMetricFamily(
                "genserve_gpu_memory_total_bytes", "GPU memory in all", labels=["device"]
            )
            for device, (u, t) in gpu.items():
                used.add_metric([device], u)
                total.add_metric([device], t)
            yield used
            yield total


def _gpu_memory() -> dict[str, tuple[float, float]]:
    """Per CUDA device (used, total) bytes, only when torch is already loaded and sees a GPU."""
    torch: Any = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return {}
    found = {}
    for i in range(torch.cuda.device_count()):
        free, total = torch.cuda.mem_get_info(i)
        found[f"cuda:{i}"] = (float(total - free), float(total))
    return found


# the web UI's and the docs' static files, and the probes: logged at debug level when they succeed
QUIET_LOG_PATHS = (
    "/ui/assets/",
    "/ui/static/",
    "/ui/favicon",
    "/static-offline-docs/",
    "/healthz",
    "/readyz",
)


class HttpMetricsMiddleware:
    """Counts and times every HTTP request by route template, and logs one line per request."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def send_wrapper(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or ("/static" if status[0] < 400 else "unmatched")
            elapsed = time.perf_counter() - started
            self.metrics.http.labels(scope["method"], template, str(status[0])).inc()
            self.metrics.http_duration.labels(scope["method"], template).observe(elapsed)
            import logging

            # page assets and probes that went well are debug lines: the log keeps the requests that tell
            quiet = status[0] < 400 and scope["path"].startswith(QUIET_LOG_PATHS)
            logging.getLogger("genserve.http").log(
                logging.DEBUG if quiet else logging.INFO,
                "%s %s %s",
                scope["method"],
                scope["path"],
                status[0],
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "http_status": status[0],
                    "ms": round(elapsed * 1000, 1),
                },
            )
