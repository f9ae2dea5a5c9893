"""The environment a measurement was made in: what must match for baseline numbers to compare."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from genserve import __version__

_PACKAGES = ("numpy", "av", "opencv-python-headless", "pillow", "torch", "diffusers", "rapidocr")


def environment_fingerprint(device: str | None = None) -> dict[str, Any]:
    packages: dict[str, str] = {}
    for name in _PACKAGES:
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            continue
    codecs: dict[str, str] = {}
    try:
        import av

        codecs = {k: ".".join(str(x) for x in v) for k, v in av.library_versions.items() if k == "libavcodec"}
    except Exception:  # pragma: no cover - av is a core dependency
        codecs = {}
    return {
        "genserve": __version__,
        "python": platform.python_version(),
        "system": platform.system(),
        "machine": platform.machine(),
        "device": device or "cpu",
        "packages": packages,
        **codecs,
    }


def fingerprint_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Human lines naming what changed between two fingerprints (empty when they match)."""
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) or isinstance(b, dict):
            a, b = a or {}, b or {}
            for sub in sorted(set(a) | set(b)):
                if a.get(sub) != b.get(sub):
                    out.append(f"{key}.{sub}: {a.get(sub)} -> {b.get(sub)}")
        elif a != b:
            out.append(f"{key}: {a} -> {b}")
    return out
