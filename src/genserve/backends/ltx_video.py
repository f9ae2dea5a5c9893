"""ltx-video: LTX-Video (Lightricks), a current DiT image-to-video model, via diffusers.

Chosen as the current model because it fits one GPU with room to spare (2B parameters, bf16) and
is fast (it was built for real-time generation at 768x512). Its VAE compresses 32x in space and
8x in time: sizes are multiples of 32 and it generates 8k+1 frames; genserve asks for the
smallest such count at or above ``num_frames`` and keeps the first ``num_frames``.
"""

from __future__ import annotations

from typing import Any

from PIL import Image

from genserve.backends.diffusers_adapter import DiffusersBackend
from genserve.tasks.image_to_video import ImageToVideoParams


class LTXVideoBackend(DiffusersBackend):
    name = "ltx-video"
    description = "LTX-Video (Lightricks/LTX-Video): fast DiT image + prompt to video, sizes in steps of 32."
    version = "1.0"
    default_model = "Lightricks/LTX-Video"
    pipeline_class = "LTXImageToVideoPipeline"
    # the hub repo's model_index.json names the text-to-video pipeline; the components are shared
    compatible_pipelines = ("LTXPipeline",)
    size_multiple = 32
    # NOTE: ~10 GiB at 512p/17 frames in bf16 (T5-XXL encoder ~9.5 GiB dominates), rounded up.
    vram_gb = 20.0

    def frames_to_generate(self, num_frames: int) -> int:
        return 8 * ((max(num_frames, 1) - 1 + 7) // 8) + 1

    def call_kwargs(
        self, image: Image.Image, params: ImageToVideoParams, width: int, height: int, frames: int
    ) -> dict[str, Any]:
        return {
            "image": image,
            "prompt": params.prompt,
            "negative_prompt": params.negative_prompt or None,
            "height": height,
            "width": width,
            "num_frames": frames,
            "frame_rate": params.fps,  # LTX-Video is conditioned on the frame rate
            "guidance_scale": params.guidance_scale,
        }
