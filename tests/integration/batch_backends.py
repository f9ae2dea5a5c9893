"""A test backend for batches (imported in-process, or by a server via GENSERVE_PLUGINS):

- ``flaky``: image-to-video that fails while ``<data_dir>/healed`` is missing and the prompt starts
  with ``fail``, and otherwise does nothing; a test heals it to see failed rows run again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from genserve.backends.base import Backend, Progress, RunOutput
from genserve.backends.registry import register
from genserve.errors import GenserveError


def heal(data_dir: Path) -> None:
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    (Path(data_dir) / "healed").touch()


class FlakyBackend(Backend):
    name = "flaky"
    task = "image-to-video"
    description = "fails on prompts starting with 'fail' until <data_dir>/healed exists (tests)"
    thread_safe = True

    def run(self, inputs: Any, params: Any, progress: Progress) -> RunOutput:
        if params.prompt.startswith("fail") and not (Path(self.settings.data_dir) / "healed").exists():
            raise GenserveError("told to fail", fix="create <data_dir>/healed")
        progress(1, 1)
        return RunOutput(data={}, parameters={})


register(FlakyBackend)
