"""A row's input files: declared by its task, present (relative to the manifest), as many as the
input takes, and decodable as their media (the same decoders as the service); digests for the ids."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from genserve.batch import ids
from genserve.config import Settings
from genserve.errors import GenserveError, InvalidInput, NotFound
from genserve.tasks import TaskSpec


class InputFiles:
    """File facts shared by every row: content digests and whether each file decodes as its media."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.digests: dict[Path, str] = {}
        self.decoded: dict[tuple[Path, str], GenserveError | None] = {}

    def sha256(self, path: Path) -> str:
        if path not in self.digests:
            self.digests[path] = ids.file_sha256(path)
        return self.digests[path]

    def decode(self, path: Path, kind: str, argument: str) -> Any:
        from genserve.media.inputs import DECODERS

        return DECODERS[kind](path, argument, self.settings)

    def check(self, path: Path, kind: str, argument: str) -> GenserveError | None:
        key = (path, kind)
        if key not in self.decoded:
            try:
                decoded = self.decode(path, kind, argument)
                if hasattr(decoded, "close"):
                    decoded.close()
                self.decoded[key] = None
            except GenserveError as exc:
                self.decoded[key] = exc
        return self.decoded[key]


def check_inputs(
    value: Any, spec: TaskSpec, base: Path, files: InputFiles, found: list[GenserveError]
) -> tuple[dict[str, list[Path]], dict[str, list[str]]]:
    declared = {m.name: m for m in spec.inputs}
    from genserve.media.inputs import EXAMPLE_SUFFIX

    example = ", ".join(f"{m.name}: {m.name}{EXAMPLE_SUFFIX[m.kind]}" for m in spec.inputs)
    if value is None:
        value = {}
    if not isinstance(value, dict):
        found.append(
            InvalidInput(
                "must map input names to files", argument="inputs", value=value, fix=f"e.g. {{{example}}}"
            )
        )
        return {}, {}
    inputs: dict[str, list[Path]] = {}
    given: dict[str, list[str]] = {}
    for name, paths in value.items():
        argument = f"inputs.{name}"
        media = declared.get(str(name))
        if media is None:
            found.append(
                InvalidInput(
                    f"is not an input of {spec.name}",
                    argument=argument,
                    fix=f"inputs are: {', '.join(declared)}",
                )
            )
            continue
        listed = paths if isinstance(paths, list) else [paths]
        if not listed or not all(isinstance(p, str) and p.strip() for p in listed):
            found.append(
                InvalidInput(
                    "must be a file path or a list of file paths",
                    argument=argument,
                    value=paths,
                    fix=f"e.g. {example}",
                )
            )
            continue
        if len(listed) > 1 and not media.multiple:
            found.append(
                InvalidInput("takes one file", argument=argument, value=len(listed), fix="give a single file")
            )
            continue
        if len(listed) > files.settings.max_batch_files:
            found.append(
                InvalidInput(
                    f"takes at most {files.settings.max_batch_files} files in one job",
                    argument=argument,
                    value=len(listed),
                    fix="split it over several rows",
                )
            )
            continue
        resolved = []
        for text in listed:
            path = (base / text.strip()).resolve()
            if not path.is_file():
                where = "is not a file" if path.exists() else "file does not exist"
                found.append(
                    NotFound(
                        where,
                        argument=argument,
                        value=text,
                        fix=f"paths are relative to the manifest's folder ({base})",
                    )
                )
                continue
            problem = files.check(path, media.kind, argument)
            if problem is not None:
                found.append(problem)
                continue
            resolved.append(path)
        if len(resolved) == len(listed):
            inputs[media.name] = resolved
            given[media.name] = [str(p) for p in listed]
    for media in spec.inputs:
        if media.required and media.name not in value:
            found.append(
                InvalidInput(
                    "is required", argument=f"inputs.{media.name}", fix=f"add it: inputs: {{{example}}}"
                )
            )
    return inputs, given
