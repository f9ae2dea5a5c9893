"""Jobs as validated at submit (decoded media), kept for an executor in the same process so that a
job is not decoded twice: bounded in jobs and in bytes, since a long queue would otherwise hold
every decoded image."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from genserve.jobs.request import PreparedJob

PREPARED_KEPT = 256  # jobs whose decoded inputs are kept for their run ...
PREPARED_BYTES = 512 * 2**20  # ... and the most decoded media they may hold together


def decoded_bytes(inputs: Any) -> int:
    """About how much memory a job's decoded media take (images, audio samples)."""
    total = 0
    for value in vars(inputs).values():
        for item in value if isinstance(value, list) else [value]:
            media: Any = getattr(item, "samples", item)  # an AudioClip: its samples
            if hasattr(media, "nbytes"):
                total += int(media.nbytes)
            elif hasattr(media, "getbands"):  # a PIL image
                total += media.width * media.height * len(media.getbands())
    return total


class PreparedJobs:
    """The newest jobs validated here, oldest dropped first past ``PREPARED_KEPT`` or ``PREPARED_BYTES``."""

    def __init__(self) -> None:
        self._jobs: OrderedDict[str, tuple[PreparedJob, int]] = OrderedDict()
        self._lock = threading.Lock()
        self.bytes = 0

    def keep(self, job_id: str, prepared: PreparedJob) -> None:
        size = decoded_bytes(prepared.inputs)
        with self._lock:
            self._jobs[job_id] = (prepared, size)
            self.bytes += size
            while self._jobs and (len(self._jobs) > PREPARED_KEPT or self.bytes > PREPARED_BYTES):
                self.bytes -= self._jobs.popitem(last=False)[1][1]

    def take(self, job_id: str) -> PreparedJob | None:
        with self._lock:
            kept = self._jobs.pop(job_id, None)
            if kept is None:
                return None
            self.bytes -= kept[1]
            return kept[0]
