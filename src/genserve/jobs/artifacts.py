"""Where a job's files live: inputs uploaded at submit, outputs written by the runner.

Executors reference jobs by id and reach their files only through an :class:`ArtifactStore`, so a
worker on another machine can use object storage where the local one uses a directory.
"""

from __future__ import annotations

import secrets
import shutil
from abc import ABC, abstractmethod
from pathlib import Path

from genserve.config import Settings
from genserve.errors import NotFound

InputRefs = dict[str, list[str]]  # input name -> stored references, in order


class ArtifactStore(ABC):
    @abstractmethod
    def put_input(self, job_id: str, name: str, index: int, src: Path, suffix: str) -> str:
        """Keep an uploaded input file (moved from ``src``); returns its reference."""

    @abstractmethod
    def input_paths(self, job_id: str, refs: InputRefs) -> dict[str, list[Path]]:
        """Local paths of a job's inputs, for the runner (a remote store downloads them)."""

    @abstractmethod
    def output_path(self, job_id: str, stored_path: str) -> Path:
        """A local file for an output recorded in a result, checked to belong to this store."""

    @abstractmethod
    def discard_inputs(self, job_id: str, refs: InputRefs) -> None:
        """Remove inputs stored for a submission that was refused."""

    @abstractmethod
    def delete(self, job_id: str, output_paths: list[str]) -> None:
        """Remove a job's inputs and outputs."""


class LocalArtifactStore(ArtifactStore):
    """Inputs under ``<data_dir>/inputs/<job_id>/``; outputs where the runner commits them."""

    def __init__(self, settings: Settings) -> None:
        self.inputs_root = (Path(settings.data_dir) / "inputs").resolve()
        self.outputs_root = Path(settings.output_dir).resolve()

    def put_input(self, job_id: str, name: str, index: int, src: Path, suffix: str) -> str:
        folder = self.inputs_root / job_id
        folder.mkdir(parents=True, exist_ok=True)
        safe_suffix = "".join(c for c in suffix.lower() if c.isalnum() or c == ".")[:10]
        # a random part keeps two concurrent submissions under one id (PUT retries) apart
        dest = folder / f"{name}_{index}_{secrets.token_hex(4)}{safe_suffix}"
        shutil.move(str(src), dest)
        return dest.name

    def input_paths(self, job_id: str, refs: InputRefs) -> dict[str, list[Path]]:
        folder = self.inputs_root / job_id
        paths = {name: [folder / ref for ref in names] for name, names in refs.items()}
        for files in paths.values():
            for path in files:
                if not path.is_file():
                    raise NotFound(
                        "the job's input file is gone",
                        argument="inputs",
                        value=path.name,
                        fix="submit the job again",
                    )
        return paths

    def output_path(self, job_id: str, stored_path: str) -> Path:
        path = Path(stored_path).resolve()
        if not path.is_relative_to(self.outputs_root) or job_id not in path.parts or not path.is_file():
            raise NotFound(
                "the artifact's file is not there", argument="name", fix="GET /v1/jobs/{id} lists the outputs"
            )
        return path

    def discard_inputs(self, job_id: str, refs: InputRefs) -> None:
        folder = self.inputs_root / job_id
        for names in refs.values():
            for ref in names:
                (folder / Path(ref).name).unlink(missing_ok=True)
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()

    def delete(self, job_id: str, output_paths: list[str]) -> None:
        shutil.rmtree(self.inputs_root / job_id, ignore_errors=True)
        folders = {Path(p).resolve().parent for p in output_paths}
        for folder in folders:
            if folder.is_relative_to(self.outputs_root) and folder.name == job_id:
                shutil.rmtree(folder, ignore_errors=True)
