"""svd: Stable Video Diffusion (img2vid-xt) via diffusers: animates the image; takes no prompt.

SVD steers by its own guidance ramp (min 1.0 -> max 3.0 over the frames) rather than one
guidance scale, so ``prompt``, ``negative_prompt`` and ``guidance_scale`` are reported as unused.
Its image encoder resizes the picture to 224 px itself; the latents come from the picture at the
output size, which genserve resizes to (keeping the aspect) before the call.
"""

from __future__ import annotations

from genserve.backends.diffusers_adapter import DiffusersBackend


class StableVideoDiffusionBackend(DiffusersBackend):
    name = "svd"
    description = "Stable Video Diffusion img2vid-xt: animates the image (no prompt), up to 25 frames."
    version = "1.0"
    default_model = "stabilityai/stable-video-diffusion-img2vid-xt"
    pipeline_class = "StableVideoDiffusionPipeline"
    fps_argument = "fps"  # micro-conditioning (the pipeline passes fps - 1 to the UNet)
    takes_prompt = False
    variant = "fp16"
    # NOTE: diffusers' SVD pipeline hands the VAE a float32 image and upcasts the VAE only when it is
    # fp16 (force_upcast); a bf16 VAE refuses the float32 input (seen on an H200 with bench/gpu_i2v.py)
    cuda_dtype = "float16"
    unsupported_params = ("motion", "prompt", "negative_prompt", "guidance_scale")
    # NOTE: ~12 GiB at 576x1024/14 frames with decode_chunk_size 8 in fp16, rounded up.
    vram_gb = 16.0
