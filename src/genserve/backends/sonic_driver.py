"""Runs one Sonic generation inside Sonic's own Python environment (launched by the sonic backend).

This file is executed by the interpreter of the user's Sonic checkout (its pins clash with
genserve's), so it imports nothing from genserve and only the standard library besides Sonic.
It reports to the parent with one JSON line per event on stdout, prefixed ``@genserve``; Sonic's
own output (tqdm progress bars) goes to stderr, where the parent reads the step counts.

Exit codes: 0 done, 2 bad arguments, 3 no face found, 4 Sonic cannot be imported,
5 out of GPU memory, 1 anything else.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import traceback

EXIT_NO_FACE, EXIT_IMPORT, EXIT_OOM = 3, 4, 5


def emit(event: str, **fields: object) -> None:
    sys.stdout.write("@genserve " + json.dumps(dict(event=event, **fields)) + "\n")
    sys.stdout.flush()


def is_oom(exc: BaseException) -> bool:
    return type(exc).__name__ == "OutOfMemoryError" or "out of memory" in str(exc).lower()


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--checkout", required=True)
    p.add_argument("--checkpoints", required=True)
    p.add_argument("--image", required=True)
    p.add_argument("--audio", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--min-resolution", type=int, default=512)
    p.add_argument("--expand-ratio", type=float, default=0.5)
    p.add_argument("--inference-steps", type=int, default=25)
    p.add_argument("--dynamic-scale", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--device-id", type=int, default=0, help="CUDA device index; -1 = CPU")
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse(argv)
    checkout = os.path.abspath(args.checkout)
    sys.path.insert(0, checkout)
    os.chdir(checkout)
    # 1. import Sonic from the checkout
    emit("stage", name="import")
    try:
        import sonic as upstream
    except ImportError as exc:
        emit("error", kind="import", message=f"{type(exc).__name__}: {exc}")
        return EXIT_IMPORT
    # 2. checkpoints kept outside the checkout: Sonic resolves them from BASE_DIR/checkpoints
    checkpoints = os.path.abspath(args.checkpoints)
    if checkpoints != os.path.join(checkout, "checkpoints"):
        base = tempfile.mkdtemp(prefix="genserve-sonic-")
        os.symlink(checkpoints, os.path.join(base, "checkpoints"))
        upstream.BASE_DIR = base
    # 3. load, find the face, crop, generate
    try:
        emit("stage", name="load")
        pipe = upstream.Sonic(args.device_id)
        emit("stage", name="face")
        try:
            info = pipe.preprocess(args.image, expand_ratio=args.expand_ratio)
        except UnboundLocalError:  # NOTE: upstream's preprocess fails this way when it finds no face
            info = {"face_num": 0}
        if info.get("face_num", 0) <= 0:
            emit("error", kind="no_face", message="no face found")
            return EXIT_NO_FACE
        crop = os.path.join(os.path.dirname(os.path.abspath(args.output)), "portrait.crop.png")
        pipe.crop_image(args.image, crop, info["crop_bbox"])
        emit("stage", name="generate", total=args.inference_steps)
        code = pipe.process(
            crop,
            args.audio,
            args.output,
            min_resolution=args.min_resolution,
            inference_steps=args.inference_steps,
            dynamic_scale=args.dynamic_scale,
            seed=args.seed,
        )
    except Exception as exc:
        if is_oom(exc):
            emit("error", kind="oom", message=str(exc)[:500])
            return EXIT_OOM
        traceback.print_exc()
        emit("error", kind="failed", message=f"{type(exc).__name__}: {exc}"[:500])
        return 1
    if code not in (0, None):  # upstream returns -1 when it finds no face in the crop
        emit("error", kind="no_face", message="no face found in the cropped portrait")
        return EXIT_NO_FACE
    emit("done", output=args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
