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
    if settings.executor == "celery":
        report["broker"] = broker_advice(settings)
    report["backends"] = [
        {k: r[k] for k in ("task", "backend", "available", "reason", "install")}
        for r in describe_backends(settings)
    ]
    return report


RABBITMQ_CONSUMER_TIMEOUT_S = 1800.0  # NOTE: RabbitMQ's default consumer_timeout (30 min) since 3.8.15


def broker_advice(settings: Settings) -> str:
    """Whether the broker would cut off or start twice a job as long as the settings allow."""
    from genserve.jobs.celery_app import visibility_timeout

    longest = settings.load_timeout_s + settings.run_timeout_s
    scheme = settings.broker_url.split(":", 1)[0]
    if scheme.startswith("redis"):
        return (
            f"redis: genserve sets visibility_timeout={visibility_timeout(settings):.0f} s, above the "
            f"longest job ({longest:.0f} s = load + run timeouts): no job is redelivered while it runs"
        )
    if scheme.startswith("amqp"):
        if longest >= RABBITMQ_CONSUMER_TIMEOUT_S:
            return (
                f"WARNING: RabbitMQ closes a channel whose message stays unacked past its consumer_timeout "
                f"(default {RABBITMQ_CONSUMER_TIMEOUT_S:.0f} s); a job may take {longest:.0f} s "
                f"(GENSERVE_LOAD_TIMEOUT_S + GENSERVE_RUN_TIMEOUT_S). Set consumer_timeout = "
                f"{int((longest + 600) * 1000)} (ms) in rabbitmq.conf, or lower the timeouts. (A redelivered "
                "job is not run twice: the store fences it; but the worker's channel is closed.)"
            )
        return f"rabbitmq: jobs up to {longest:.0f} s stay within the default consumer_timeout"
    return f"WARNING: unknown broker scheme '{scheme}': use amqp://... (RabbitMQ) or redis://..."
