"""Where a model's weights come from: a local directory or a hub id, and ``pull`` to fetch ahead of time.

A model source is what ``--model`` (CLI) or ``model`` (API) names:

- a local directory holding a diffusers pipeline (``model_index.json`` at its top), or
- a hub id ``org/name``, optionally pinned as ``org/name@revision``; downloaded on first use into the
  hub cache (``GENSERVE_MODEL_CACHE_DIR``, else the hub's own), never when ``GENSERVE_OFFLINE`` is set.

Checking whether weights are present is cheap (no torch, no network), so listing backends stays fast.
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genserve.config import Settings
from genserve.errors import BackendUnavailable, InvalidInput, NotFound, ServerUnreachable, missing_extra

INDEX_FILE = "model_index.json"  # the file every diffusers pipeline folder has at its top


@dataclass(frozen=True)
class ModelSource:
    """A resolved model: ``path`` is a local folder once it is on disk (None before a download)."""

    spec: str  # what the caller wrote
    kind: str  # "dir" | "hub"
    repo_id: str | None = None
    revision: str | None = None  # asked-for revision (branch, tag or commit)
    path: Path | None = None


def parse_source(spec: str) -> ModelSource:
    """A local directory or a hub id (``org/name[@revision]``); a path that does not exist is an error."""
    text = spec.strip()
    path = Path(text).expanduser()
    if path.is_dir():
        if not (path / INDEX_FILE).is_file():
            raise InvalidInput(
                f"is a directory without {INDEX_FILE}, so not a diffusers pipeline",
                argument="model",
                value=spec,
                fix="point at the folder a pipeline was saved to (save_pretrained), or pass a hub id "
                "such as ali-vilab/i2vgen-xl",
            )
        return ModelSource(spec=spec, kind="dir", path=path.resolve())
    looks_like_path = text.startswith((".", "/", "~")) or text.count("/") != 1 or path.exists()
    if looks_like_path:
        raise NotFound(
            "is neither an existing directory nor a hub id (org/name)",
            argument="model",
            value=spec,
            fix="check the path, or pass a hub id such as ali-vilab/i2vgen-xl",
        )
    repo_id, _, revision = text.partition("@")
    return ModelSource(spec=spec, kind="hub", repo_id=repo_id, revision=revision or None)


def cached_snapshot(repo_id: str, settings: Settings, revision: str | None = None) -> Path | None:
    """The local snapshot folder of a hub model when its pipeline index is in the cache, else None."""
    if importlib.util.find_spec("huggingface_hub") is None:
        return None
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(
        repo_id,
        INDEX_FILE,
        cache_dir=str(settings.model_cache_dir) if settings.model_cache_dir else None,
        revision=revision,
    )
    return Path(found).parent if isinstance(found, str) else None


def weights_present(spec: str, settings: Settings) -> bool:
    """True when ``spec`` is a local pipeline folder or a hub id already in the cache (no network)."""
    try:
        source = parse_source(spec)
    except InvalidInput:
        return False
    if source.kind == "dir":
        return True
    assert source.repo_id is not None
    return cached_snapshot(source.repo_id, settings, source.revision) is not None


def fetch(
    source: ModelSource, settings: Settings, *, variant: str | None = None, pull_hint: str | None = None
) -> tuple[Path, str | None]:
    """(local folder, commit) of a model: a directory as is; a hub id from the cache or downloaded.

    Downloads only the files the pipeline loads (its component folders, in ``variant`` when given),
    with the hub's progress bars. Offline and not cached, or the hub unreachable, raise
    :class:`BackendUnavailable` saying what to run where.
    """
    if source.kind == "dir":
        assert source.path is not None
        return source.path, None
    if importlib.util.find_spec("diffusers") is None:
        raise missing_extra("diffusers", "diffusers")
    from diffusers import DiffusionPipeline
    from huggingface_hub.errors import LocalEntryNotFoundError

    assert source.repo_id is not None
    pull = pull_hint or f"genserve models pull {source.spec}"
    kwargs: dict[str, Any] = {
        "revision": source.revision,
        "cache_dir": str(settings.model_cache_dir) if settings.model_cache_dir else None,
        "local_files_only": settings.offline,
        "variant": variant,
    }
    try:
        with _quiet_hub():
            folder = Path(DiffusionPipeline.download(source.repo_id, **kwargs))
    except (LocalEntryNotFoundError, OSError) as exc:  # HTTP and connection errors are OSErrors
        if settings.offline:
            raise BackendUnavailable(
                f"model '{source.spec}' is not in the local model cache and GENSERVE_OFFLINE is set",
                argument="model",
                fix=f"run `{pull}` on a machine that can reach the hub, with the same "
                "GENSERVE_MODEL_CACHE_DIR, or pass --model /path/to/a/saved/pipeline",
            ) from None
        cause = _connection_error(exc)
        if cause is not None:
            raise ServerUnreachable(
                f"the model hub cannot be reached to download '{source.spec}' ({cause})",
                argument="model",
                fix="check the network (and HF_ENDPOINT / HTTPS_PROXY), or run "
                f"`{pull}` where the hub is reachable and copy the cache (GENSERVE_MODEL_CACHE_DIR) here",
            ) from None
        raise BackendUnavailable(
            f"model '{source.spec}' could not be downloaded ({_first_line(exc)})",
            argument="model",
            fix=f"check the hub id and network access, or run `{pull}` where the hub is reachable and "
            "copy the cache (GENSERVE_MODEL_CACHE_DIR) here",
        ) from None
    # NOTE: the hub cache keeps each download under snapshots/<commit>/: the folder name is the commit
    return folder, folder.name


def _first_line(exc: BaseException) -> str:
    """The innermost error's first sentence, whole (the outer ones point at a traceback not shown)."""
    while (inner := exc.__cause__ or exc.__context__) is not None:
        exc = inner
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def _connection_error(exc: BaseException) -> str | None:
    """The innermost connection failure (refused, timed out, no route) in the chain, in words."""
    names = ("ConnectionError", "ConnectTimeout", "ConnectError", "NewConnectionError")
    found: str | None = None
    chain: BaseException | None = exc
    while chain is not None:
        if isinstance(chain, ConnectionError | TimeoutError) or type(chain).__name__ in names:
            found = _first_line(chain) if chain.__cause__ is None and chain.__context__ is None else None
            found = found or type(chain).__name__
        chain = chain.__cause__ or chain.__context__
    return found


@contextlib.contextmanager
def _quiet_hub() -> Iterator[None]:
    """No "Couldn't connect to the Hub ... Will try to load from local cache" chatter on stderr: a
    failure becomes one genserve error that says it all."""
    import logging

    loggers = [logging.getLogger(name) for name in ("diffusers", "huggingface_hub")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def known_models() -> dict[str, tuple[str, str | None]]:
    """Backend name -> (default hub id, weight variant) for every backend whose weights `genserve
    models pull` fetches (the diffusers pipelines; other backends say in ``genserve backends`` how
    to get theirs)."""
    from genserve.backends.diffusers_adapter import DiffusersBackend
    from genserve.backends.registry import backend_classes

    found: dict[str, tuple[str, str | None]] = {}
    for name, cls in backend_classes().items():
        if issubclass(cls, DiffusersBackend) and cls.default_model:
            found[name] = (cls.default_model, cls.variant)
    return found


def pull(name: str, settings: Settings, *, variant: str | None = None) -> dict[str, Any]:
    """Fetch a model ahead of time. ``name`` is a backend name (its default model) or a hub id."""
    models = known_models()
    from genserve.backends.registry import backend_classes

    other = backend_classes().get(name)
    if name not in models and other is not None:
        state = other.availability(settings)
        raise InvalidInput(
            "gets its weights its own way, not through `genserve models pull`",
            argument="name",
            value=name,
            fix=f"{state.install}" if state.install else "it is ready here: see `genserve backends`",
        )
    if name in models:
        spec, default_variant = models[name]
        variant = variant or default_variant
    else:
        spec = name
    source = parse_source(spec)
    if source.kind == "dir":
        raise InvalidInput(
            "is a local directory: there is nothing to pull",
            argument="name",
            value=name,
            fix=f"pass it as --model {spec} when running, or pull a backend name ({', '.join(models)})",
        )
    folder, commit = fetch(source, settings, variant=variant, pull_hint=f"genserve models pull {name}")
    return {
        "name": name,
        "model": source.repo_id,
        "revision": commit,
        "variant": variant,
        "path": str(folder),
        "bytes": sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()),
    }


def list_models(settings: Settings) -> list[dict[str, Any]]:
    """Every model-based backend's default model, whether it is on this machine and how to get it."""
    from genserve.backends.registry import backend_classes

    pullable = known_models()
    rows = []
    for backend, cls in sorted(backend_classes().items()):
        if cls.weight_free or not cls.default_model:
            continue
        if backend in pullable:
            snapshot = cached_snapshot(cls.default_model, settings)
            present, get = snapshot is not None, f"genserve models pull {backend}"
        else:  # fetched its own way (a checkout, ModelScope): its availability says how
            snapshot, state = None, cls.availability(settings)
            present, get = state.ok, "see `genserve backends`"
        rows.append(
            {
                "backend": backend,
                "model": cls.default_model,
                "variant": pullable.get(backend, (None, None))[1],
                "present": present,
                "revision": snapshot.name if snapshot else None,
                "path": str(snapshot) if snapshot else None,
                "get": None if present else get,
            }
        )
    return rows
