"""ltx-video: LTX-Video (Lightricks), a current DiT image-to-video model, via diffusers.

Chosen as the current model because it fits one GPU with room to spare (2B parameters, bf16) and
is fast (it was built for real-time generation at 768x512). Its VAE compresses 32x in space and
8x in time: sizes are multiples of 32 and it generates 8k+1 frames; genserve asks for the
smallest such count at or above ``num_frames`` and keeps the first ``num_frames``.
"""

from __future__ import annotations

from genserve.backends.diffusers_adapter import DiffusersBackend


class LTXVideoBackend(DiffusersBackend):
    name = "ltx-video"
    description = "LTX-Video (Lightricks/LTX-Video): fast DiT image + prompt to video, sizes in steps of 32."
    version = "1.0"
    default_model = "Lightricks/LTX-Video"
    pipeline_class = "LTXImageToVideoPipeline"
    fps_argument = "frame_rate"  # LTX-Video is conditioned on the frame rate
    # the hub repo's model_index.json names the text-to-video pipeline; the components are shared
    compatible_pipelines = ("LTXPipeline",)
    size_multiple = 32
    # NOTE: ~10 GiB at 512p/17 frames in bf16 (T5-XXL encoder ~9.5 GiB dominates), rounded up.
    vram_gb = 20.0

    def frames_to_generate(self, num_frames: int) -> int:
        return 8 * ((max(num_frames, 1) - 1 + 7) // 8) + 1
