"""Test backends for the service tests (imported in-process, or by a server via GENSERVE_PLUGINS).

- ``noop``: image-to-video that does nothing (for overhead and 200-job floods); counts its runs
  in ``<data_dir>/runs.log`` (one line per run: the prompt), so a test can see a job ran once.
- ``slow``: image-to-video that takes ``steps`` x 0.1 s in progress steps (cancel, kill -9, queues).
- ``oom``: image-to-video that runs out of memory at every step of the degrade ladder (exit codes).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

from genserve.backends.base import Backend, Progress, RunOutput
from genserve.backends.registry import register
from genserve.submission import Submission, Upload


def image_submission(sample: Path, tmp: Path, backend: str = "noop", **params: object) -> Submission:
    """An image-to-video submission of a copy of ``sample`` (the service moves what it is given)."""
    copy = tmp / f"up-{time.perf_counter_ns()}.jpg"
    shutil.copy(sample, copy)
    return Submission(
        task="image-to-video", backend=backend, params=dict(params), files={"image": [Upload(copy, "in.jpg")]}
    )


def _count_run(backend: Backend, params: Any) -> None:
    log = Path(backend.settings.data_dir) / "runs.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as fh:  # O_APPEND: one short line per write is atomic
        fh.write(f"{params.prompt}\n")
        fh.flush()
        os.fsync(fh.fileno())


class NoopBackend(Backend):
    name = "noop"
    task = "image-to-video"
    description = "does nothing (tests, benchmarks)"
    thread_safe = True

    def run(self, inputs: Any, params: Any, progress: Progress) -> RunOutput:
        if params.prompt.startswith("count:"):
            _count_run(self, params)
        progress(1, 1)
        return RunOutput(data={}, parameters={"noop": True})


class SlowBackend(Backend):
    name = "slow"
    task = "image-to-video"
    description = "sleeps steps x 0.1 s in progress steps (tests)"
    thread_safe = True

    def run(self, inputs: Any, params: Any, progress: Progress) -> RunOutput:
        _count_run(self, params)
        for step in range(params.steps):
            time.sleep(0.1)
            progress(step + 1, params.steps)
        return RunOutput(data={}, parameters={"slept_s": params.steps * 0.1})


def runs(data_dir: Path) -> list[str]:
    log = Path(data_dir) / "runs.log"
    return log.read_text().splitlines() if log.exists() else []


class OomBackend(Backend):
    name = "oom"
    task = "image-to-video"
    description = "runs out of memory whatever it is asked (tests)"
    thread_safe = True

    def run(self, inputs: Any, params: Any, progress: Progress) -> RunOutput:
        raise MemoryError("out of memory (test backend)")


register(NoopBackend)
register(SlowBackend)
register(OomBackend)


class NoopRecognize(Backend):
    name = "noop-recognize"
    task = "recognize"
    description = "reads nothing (tests); counts its runs by the uploaded file's name"
    thread_safe = True

    def run(self, inputs: Any, params: Any, progress: Progress) -> RunOutput:
        log = Path(self.settings.data_dir) / "runs.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a") as fh:
            fh.write(f"{inputs.names['image'][0]}\n")
        progress(1, 1)
        return RunOutput(data={"text_blocks": [], "objects": [], "layout": {}}, parameters={})


register(NoopRecognize)
