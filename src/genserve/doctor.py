"""`genserve doctor`: what this machine can run, and what to install for the rest."""

from __future__ import annotations

import importlib.util
import platform
import shutil
from typing import Any

from genserve.backends.registry import describe_backends
from genserve.config import Settings


def diagnose(settings: Settings) -> dict[str, Any]:
    report: dict[str, Any] = {"python": f"{platform.python_version()} ({platform.machine()})"}
    # torch and CUDA
    if importlib.util.find_spec("torch") is None:
        report["torch"] = "not installed (pip install 'genserve[diffusers]' for model backends)"
        report["cuda"] = "n/a"
    else:
        import torch

        report["torch"] = torch.__version__
        if torch.cuda.is_available():
            gpus = []
            for i in range(torch.cuda.device_count()):
                free, total = torch.cuda.mem_get_info(i)
                name = torch.cuda.get_device_name(i)
                gpus.append(f"cuda:{i} {name} {free / 2**30:.1f}/{total / 2**30:.1f} GiB free")
            report["cuda"] = "; ".join(gpus)
        else:
            report["cuda"] = "no usable GPU: model backends run on CPU (slow)"
    import av

    report["pyav"] = (
        f"{av.__version__} (ffmpeg {'.'.join(map(str, av.library_versions['libavcodec']))} libavcodec)"
    )
    report["h264"] = "yes" if "libx264" in av.codecs_available else "NO: install a PyAV build with libx264"
    out = settings.output_dir if settings.output_dir.exists() else settings.output_dir.resolve().parent
    while not out.exists():
        out = out.parent
    usage = shutil.disk_usage(out)
    report["disk"] = f"{usage.free / 2**30:.1f} GiB free at {out.resolve()}"
    report["backends"] = [
        {k: r[k] for k in ("task", "backend", "available", "reason", "install")}
        for r in describe_backends(settings)
    ]
    return report
