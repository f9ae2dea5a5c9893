"""``run_job``: the one function that executes a job wherever it runs (CLI, server executor, queue worker)."""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from genserve.backends.base import Backend, Progress, RunOutput
from genserve.clock import SYSTEM_CLOCK, Clock
from genserve.config import Settings, get_settings
from genserve.device import PeakMemory, select_device
from genserve.errors import Canceled, GenserveError, JobTimeout, OutOfMemory, is_out_of_memory
from genserve.jobs.outputs import OutputFolder
from genserve.jobs.request import JobRequest, PreparedJob, new_job_id, prepare
from genserve.media.image import save_image
from genserve.media.video import encode_video
from genserve.provenance import provenance
from genserve.tasks.base import JobResult, JobStatus, Timings
from genserve.tasks.base import PeakMemory as PeakMemoryModel

log = logging.getLogger("genserve.runner")

ProgressCallback = Callable[[int, int, str | None], None]


class _Loading:
    """One backend loading in its own thread; every job that needs it waits on the same load."""

    def __init__(self, backend: Backend, device: str) -> None:
        self.backend = backend
        self.done = threading.Event()
        self.error: BaseException | None = None
        self.started = time.perf_counter()
        self.seconds = 0.0
        # daemon: a load that never returns (a stalled download) must not keep the CLI from exiting
        thread = threading.Thread(target=self._load, args=(device,), daemon=True, name="genserve-load")
        thread.start()

    def _load(self, device: str) -> None:
        try:
            self.backend.load(device)
        except BaseException as exc:  # handed to the jobs waiting for it
            self.error = exc
        self.seconds = time.perf_counter() - self.started
        self.done.set()


class BackendCache:
    """Loaded backends kept warm across jobs (LRU); evicted ones are unloaded.

    A load runs in its own thread and a job waits for it at most ``settings.load_timeout_s``: past
    that the job fails with a JobTimeout that says how to fix it. The load goes on; the next job
    for the same backend waits on it (no second load) and, once it has finished, finds it warm.
    """

    def __init__(self, size: int = 2) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[str, str | None, str], tuple[Backend, threading.Lock]] = (
            OrderedDict()
        )
        self._loading: dict[tuple[str, str | None, str], _Loading] = {}
        self._lock = threading.Lock()

    def get(
        self, cls: type[Backend], model: str | None, device: str, settings: Settings
    ) -> tuple[Backend, threading.Lock, float]:
        """(backend, its run lock, seconds spent loading: 0 when warm)."""
        key = (cls.name, model or cls.default_model, device)
        # 1. warm, or a load to wait for (started here unless one is under way)
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                backend, lock = self._entries[key]
                return backend, lock, 0.0
            loading = self._loading.get(key)
            if loading is None:
                self._make_room()  # first: the new model needs the memory
                loading = self._loading[key] = _Loading(cls(settings, model=model), device)
        # 2. wait, bounded
        if not loading.done.wait(settings.load_timeout_s):
            waited = time.perf_counter() - loading.started
            raise JobTimeout(
                f"loading the {cls.name} backend ({key[1] or 'default model'}) on {device} has taken "
                f"{waited:.1f} s, over the limit of {settings.load_timeout_s:g} s; it goes on loading",
                argument="backend",
                value=cls.name,
                fix="run the job again later (it will wait for this load), download the model ahead "
                "(`genserve models pull`), or raise GENSERVE_LOAD_TIMEOUT_S",
            )
        # 3. warm from now on (the first job to get here files it), or the load's own error
        with self._lock:
            if self._loading.get(key) is loading:
                del self._loading[key]
                if loading.error is None:
                    self._make_room()
                    self._entries[key] = (loading.backend, threading.Lock())
            if loading.error is not None:
                raise loading.error
            if key in self._entries:
                backend, lock = self._entries[key]
                return backend, lock, round(loading.seconds, 4)
        # evicted again in between (a cache smaller than the jobs in flight): load afresh
        return self.get(cls, model, device, settings)

    def _make_room(self) -> None:
        """Unload the least recently used backends until one more fits (the cache lock is held)."""
        while len(self._entries) >= self.size:
            _, (old, _old_lock) = self._entries.popitem(last=False)
            old.unload()

    def loaded(self) -> list[tuple[str, str | None, str]]:
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            for backend, _ in self._entries.values():
                backend.unload()
            self._entries.clear()


_default_cache: BackendCache | None = None


def default_cache(settings: Settings) -> BackendCache:
    global _default_cache
    if _default_cache is None:
        _default_cache = BackendCache(settings.backend_cache_size)
    return _default_cache


def run_job(
    request: JobRequest,
    *,
    settings: Settings | None = None,
    cache: BackendCache | None = None,
    on_progress: ProgressCallback | None = None,
    is_canceled: Callable[[], bool] | None = None,
    prepared: PreparedJob | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> JobResult:
    """Validate, run and record one job. Never raises for a job's failure: the result says it.
    ``clock`` bounds the run (``settings.run_timeout_s``, checked at each progress step)."""
    settings = settings or get_settings()
    cache = cache or default_cache(settings)
    job_id = request.job_id or new_job_id()
    started = time.perf_counter()
    result = JobResult(job_id=job_id, status=JobStatus.running, task=request.task, backend=request.backend)
    folder = OutputFolder(Path(settings.output_dir), job_id)
    try:
        # a server that validated the request at submit hands its PreparedJob over (no second decode)
        prepared = prepared or prepare(request, settings)
        result = _execute(prepared, request, result, folder, settings, cache, on_progress, is_canceled, clock)
    except GenserveError as exc:
        folder.discard()
        result.status = JobStatus.canceled if isinstance(exc, Canceled) else JobStatus.failed
        result.message = exc.message
        result.error = exc.code
        result.outputs = []
    except Exception as exc:  # an unexpected bug: logged with the job id, reported without internals
        folder.discard()
        log.exception("job %s failed unexpectedly", job_id)
        result.status = JobStatus.failed
        result.message = f"internal error ({type(exc).__name__}); see the server log for job {job_id}"
        result.error = "internal_error"
        result.outputs = []
    result.duration_sec = round(time.perf_counter() - started, 4)
    if result.status == JobStatus.succeeded:
        _write_result_json(result, folder.final)
    return result


def _execute(
    prepared: PreparedJob,
    request: JobRequest,
    result: JobResult,
    folder: OutputFolder,
    settings: Settings,
    cache: BackendCache,
    on_progress: ProgressCallback | None,
    is_canceled: Callable[[], bool] | None,
    clock: Clock,
) -> JobResult:
    spec, cls = prepared.spec, prepared.backend_cls
    warnings = list(prepared.warnings)
    # 1. device and a warm backend
    device, device_warnings = select_device(request.device or settings.device, cls.devices)
    warnings += device_warnings
    backend, run_lock, load_s = cache.get(cls, request.model, device, settings)
    result = result.model_copy(update={"backend": cls.name, "model": backend.model, "device": device})
    progress = Progress(on_progress, is_canceled, clock.monotonic() + settings.run_timeout_s, clock)
    params: dict[str, Any] = prepared.params.model_dump()
    degraded: list[str] = []
    ladder = list(spec.degrade_ladder)
    timings = Timings(load=round(load_s, 4))
    # 2. run, stepping down the degrade ladder on out-of-memory
    with PeakMemory(device) as mem:
        while True:
            staging = folder.open()
            try:
                t0 = time.perf_counter()
                with run_lock if not cls.thread_safe else _no_lock():
                    output = backend.run(prepared.inputs, spec.params_model.model_validate(params), progress)
                    encode_s = _write_outputs(output, staging)
                total = time.perf_counter() - t0
                timings.run, timings.encode = round(total - encode_s, 4), round(encode_s, 4)
                break
            except Exception as exc:
                if not is_out_of_memory(exc):
                    raise
                folder.discard()
                backend.release_memory()
                step = _next_degrade(ladder, params, backend)
                if step is None:
                    raise OutOfMemory(
                        f"out of memory on {device} after {len(degraded)} degradation step(s) "
                        f"({', '.join(degraded) or 'none'})",
                        fix="ask for a lower resolution or fewer frames, or use a device with more memory",
                    ) from None
                params, description = step
                degraded.append(description)
                log.warning("job %s: out of memory; retrying with %s", result.job_id, description)
    # 3. record
    warnings += output.warnings
    outputs = [folder.describe(p) for p in sorted(staging.iterdir())]
    folder.commit()
    data = output.data
    result_cls = spec.result_model or JobResult
    return result_cls(
        **{
            **result.model_dump(exclude={"status", "outputs", "parameters", "degraded", "warnings"}),
            **data,
            "status": JobStatus.succeeded,
            "outputs": outputs,
            "parameters": {**params, **output.parameters},
            "degraded": degraded,
            "warnings": warnings,
            "timings": timings,
            "peak_memory": PeakMemoryModel(
                cpu_rss_mb=round(mem.cpu_rss_mb, 1),
                gpu_mb=None if mem.gpu_mb is None else round(mem.gpu_mb, 1),
            ),
            "provenance": provenance({"backend": cls.name, **backend.model_info()}),
        }
    )


def _next_degrade(
    ladder: list[Any], params: dict[str, Any], backend: Backend
) -> tuple[dict[str, Any], str] | None:
    while ladder:
        step = ladder.pop(0)
        if step.memory_saving:
            mode = backend.enable_memory_saving()
            if isinstance(mode, str) and mode:
                ladder.insert(0, step)  # a named mode: the backend may have a further one for the next OOM
                return params, mode
            if mode:
                return params, "memory-saving mode"
            continue
        applied = step.apply(params)
        if applied is not None:
            return applied
    return None


class _no_lock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _write_outputs(output: RunOutput, staging: Path) -> float:
    """Encode videos and move files into the staging folder; returns seconds spent encoding."""
    spent = 0.0
    for video in output.videos:
        stats = encode_video(video.frames, staging / video.name, fps=video.fps, audio_path=video.audio_path)
        spent += stats.seconds
    for image in output.images:
        started = time.perf_counter()
        save_image(image.image, staging / image.name)
        spent += time.perf_counter() - started
    for file in output.files:
        shutil.move(str(file.path), staging / file.name)
    return spent


def _write_result_json(result: JobResult, folder: Path) -> None:
    if folder.is_dir():
        tmp = folder / "result.json.tmp"
        tmp.write_text(result.model_dump_json(indent=2))
        tmp.rename(folder / "result.json")
