"""Third-party backends arrive through the `genserve.backends` entry-point group."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from genserve import plugins
from genserve.backends import registry
from genserve.config import Settings
from genserve.errors import BackendUnavailable


@pytest.fixture
def plugin_dist(tmp_path: Path) -> Iterator[Path]:
    """An installed distribution (a dist-info with entry points) on sys.path, as pip would leave it."""
    (tmp_path / "acme_video.py").write_text(
        textwrap.dedent(
            """
            from genserve.backends.base import Backend, RunOutput

            class AcmeBackend(Backend):
                name = "acme"
                task = "image-to-video"
                description = "Acme's model"

                def run(self, inputs, params, progress):
                    return RunOutput()

            class NeedsExtra(Backend):
                name = "acme-heavy"
                task = "image-to-video"
                requires = ("acme_not_installed_anywhere",)
                extra = "acme"

                def run(self, inputs, params, progress):
                    return RunOutput()
            """
        )
    )
    dist = tmp_path / "acme_video-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-video\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[genserve.backends]\nacme = acme_video:AcmeBackend\nacme-heavy = acme_video:NeedsExtra\n"
        "broken = acme_video:DoesNotExist\n"
    )
    sys.path.insert(0, str(tmp_path))
    registry.BACKENDS.reset()
    yield tmp_path
    sys.path.remove(str(tmp_path))
    sys.modules.pop("acme_video", None)
    registry.BACKENDS.reset()


def test_entry_point_backends_are_listed_and_resolvable(plugin_dist: Path) -> None:
    settings = Settings()
    rows = {r["backend"]: r for r in registry.describe_backends(settings, "image-to-video")}
    assert rows["acme"]["available"] and rows["acme"]["description"] == "Acme's model"
    assert not rows["acme-heavy"]["available"]
    assert rows["acme-heavy"]["install"] == "pip install 'genserve[acme]'"
    assert "broken" not in rows  # a broken plug-in is not fatal: it is listed apart, with its reason
    (found,) = [b for b in plugins.broken() if b.name == "broken"]
    assert found.kind == "backend" and found.source == "acme_video:DoesNotExist"
    assert "DoesNotExist" in found.reason
    assert registry.resolve_backend("image-to-video", "acme", settings).__name__ == "AcmeBackend"
    with pytest.raises(BackendUnavailable) as info:
        registry.resolve_backend("image-to-video", "acme-heavy", settings)
    assert "pip install 'genserve[acme]'" in str(info.value)


def test_listing_backends_does_not_import_torch() -> None:
    import subprocess

    code = (
        "import sys; from genserve.backends.registry import describe_backends;"
        "from genserve.config import Settings; describe_backends(Settings());"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_svd_runs_in_fp16_on_cuda_where_the_others_take_bf16() -> None:
    """diffusers' SVD pipeline feeds its VAE a float32 image, which only an fp16 VAE upcasts for."""
    from types import SimpleNamespace

    from genserve.backends.diffusers_adapter import _dtype_for
    from genserve.backends.i2vgen_xl import I2VGenXLBackend
    from genserve.backends.svd import StableVideoDiffusionBackend

    fake_torch = SimpleNamespace(
        bfloat16="bf16", float16="fp16", float32="fp32", cuda=SimpleNamespace(is_bf16_supported=lambda: True)
    )
    assert _dtype_for(fake_torch, "cuda:0", StableVideoDiffusionBackend.cuda_dtype) == "fp16"
    assert _dtype_for(fake_torch, "cuda:0", I2VGenXLBackend.cuda_dtype) == "bf16"
    assert _dtype_for(fake_torch, "cpu", StableVideoDiffusionBackend.cuda_dtype) == "fp32"
