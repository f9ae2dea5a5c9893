"""``slow-load``: an image-to-video test backend whose load takes ``GENSERVE_TEST_LOAD_S`` seconds
(default 1.5), like a model still downloading; each load is counted in ``<data_dir>/loads.log``.
Imported in-process, or by ``genserve run`` / a server through ``GENSERVE_PLUGINS``."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from genserve.backends.base import Backend, Progress, RunOutput
from genserve.backends.registry import register


class SlowLoadBackend(Backend):
    name = "slow-load"
    task = "image-to-video"
    description = "takes GENSERVE_TEST_LOAD_S seconds to load (tests)"
    thread_safe = True

    def load(self, device: str) -> None:
        log = Path(self.settings.data_dir) / "loads.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a") as fh:
            fh.write("load\n")
        time.sleep(float(os.environ.get("GENSERVE_TEST_LOAD_S", "1.5")))
        super().load(device)

    def run(self, inputs: Any, params: Any, progress: Progress) -> RunOutput:
        progress(1, 1)
        return RunOutput(data={}, parameters={"slow_load": True})


def loads(data_dir: Path) -> int:
    log = Path(data_dir) / "loads.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


register(SlowLoadBackend)
