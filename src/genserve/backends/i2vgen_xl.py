"""i2vgen-xl: I2VGen-XL (Alibaba DAMO), the reference image-to-video model, via diffusers.

NOTE: I2VGenXLPipeline sits among diffusers' deprecated pipelines and breaks with transformers >= 5.6
("CLIPTextModel has no attribute text_model"); the `diffusers` extra pins diffusers 0.37.1 +
transformers 4.57.6 + huggingface_hub 0.36.x, a set known to work together, and ``availability``
refuses a newer transformers with the command that fixes it.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from genserve.backends.base import Availability
from genserve.backends.diffusers_adapter import DiffusersBackend

TRANSFORMERS_BREAKS_AT = (5, 6)


class I2VGenXLBackend(DiffusersBackend):
    name = "i2vgen-xl"
    description = "I2VGen-XL (ali-vilab/i2vgen-xl): image + prompt to video, 16 frames at 8 fps by default."
    version = "1.0"
    default_model = "ali-vilab/i2vgen-xl"
    pipeline_class = "I2VGenXLPipeline"
    fps_argument = "target_fps"  # I2VGen-XL is conditioned on the frame rate
    variant = "fp16"
    # NOTE: ~14 GiB at 512p/16 frames in fp16 (UNet ~2.8 GiB of weights + activations), rounded up.
    vram_gb = 16.0

    @classmethod
    def availability(cls, settings: Any) -> Availability:
        try:
            major, minor = (int(x) for x in version("transformers").split(".")[:2])
        except (PackageNotFoundError, ValueError):
            return super().availability(settings)
        if (major, minor) >= TRANSFORMERS_BREAKS_AT:
            return Availability(
                False,
                f"transformers {major}.{minor} breaks I2VGenXLPipeline (CLIPTextModel has no text_model)",
                "pip install 'transformers==4.57.6'",
            )
        return super().availability(settings)
