"""sonic: the upstream Sonic model (Tencent / Zhejiang University) run from the user's own checkout.

Sonic (github.com/jixiaozhong/Sonic, CC BY-NC-SA 4.0, so never copied into genserve) is not
pip-installable and pins diffusers 0.29 / torch 2.2 / transformers 4.43, which clash with
genserve's. So it runs as a subprocess in its own Python environment: ``sonic_driver.py`` imports
Sonic there, and this adapter maps the parameters, streams progress, and enforces the load and
run time limits and cancellation by ending the subprocess's whole process group.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections import deque
from pathlib import Path
from typing import IO, Any

import numpy as np

from genserve.backends.base import Availability, Backend, FileOutput, Progress, RunOutput
from genserve.config import Settings
from genserve.errors import BackendUnavailable, GenserveError, InvalidInput, JobTimeout, OutOfMemory
from genserve.media.audio import load_audio, write_wav
from genserve.media.video import probe_video
from genserve.tasks.talking_head import TalkingHeadInputs, TalkingHeadParams

DRIVER = Path(__file__).with_name("sonic_driver.py")
UPSTREAM = "https://github.com/jixiaozhong/Sonic"
# what Sonic's README tells to download into <checkout>/checkpoints
REQUIRED_WEIGHTS = (
    "Sonic/unet.pth",
    "Sonic/audio2token.pth",
    "Sonic/audio2bucket.pth",
    "stable-video-diffusion-img2vid-xt",
    "whisper-tiny",
    "RIFE/flownet.pkl",
    "yoloface_v5m.pt",
)
EXIT_NO_FACE, EXIT_IMPORT, EXIT_OOM = 3, 4, 5
_TQDM = re.compile(rb"(\d+)/(\d+) \[")
_EVENT = b"@genserve "
KILL_GRACE_S = 5.0


def install_steps(checkout: str = "/opt/Sonic") -> str:
    return (
        f"git clone {UPSTREAM} {checkout} && python3.10 -m venv {checkout}/.venv && "
        f"{checkout}/.venv/bin/pip install -r {checkout}/requirements.txt && "
        f"{checkout}/.venv/bin/pip install huggingface_hub && cd {checkout} && "
        ".venv/bin/huggingface-cli download LeonJoe13/Sonic --local-dir checkpoints && "
        ".venv/bin/huggingface-cli download stabilityai/stable-video-diffusion-img2vid-xt "
        "--local-dir checkpoints/stable-video-diffusion-img2vid-xt && "
        ".venv/bin/huggingface-cli download openai/whisper-tiny --local-dir checkpoints/whisper-tiny; "
        f"then set GENSERVE_SONIC_DIR={checkout} (Sonic's licence is non-commercial: CC BY-NC-SA 4.0)"
    )


def sonic_paths(settings: Settings) -> tuple[Path, Path, Path]:
    """(checkout, checkpoints, python) from the settings; BackendUnavailable says what is missing."""
    if settings.sonic_dir is None:
        raise BackendUnavailable("no Sonic checkout is configured (GENSERVE_SONIC_DIR)", fix=install_steps())
    checkout = Path(settings.sonic_dir).expanduser().resolve()
    if not (checkout / "sonic.py").is_file():
        raise BackendUnavailable(
            f"{checkout} is not a Sonic checkout (no sonic.py)", fix=install_steps(str(checkout))
        )
    python = Path(settings.sonic_python or checkout / ".venv" / "bin" / "python").expanduser()
    if not (python.is_file() and os.access(python, os.X_OK)):
        raise BackendUnavailable(
            f"Sonic's Python interpreter {python} does not exist",
            fix=f"python3.10 -m venv {checkout}/.venv && {checkout}/.venv/bin/pip install -r "
            f"{checkout}/requirements.txt (or set GENSERVE_SONIC_PYTHON to the python of Sonic's env)",
        )
    checkpoints = Path(settings.sonic_checkpoints or checkout / "checkpoints").expanduser().resolve()
    missing = [w for w in REQUIRED_WEIGHTS if not (checkpoints / w).exists()]
    if missing:
        raise BackendUnavailable(
            f"Sonic's weights are missing from {checkpoints}: {', '.join(missing)}",
            fix=f"cd {checkpoints.parent} && huggingface-cli download LeonJoe13/Sonic --local-dir "
            f"{checkpoints} && huggingface-cli download stabilityai/stable-video-diffusion-img2vid-xt "
            f"--local-dir {checkpoints}/stable-video-diffusion-img2vid-xt && huggingface-cli download "
            f"openai/whisper-tiny --local-dir {checkpoints}/whisper-tiny (or set GENSERVE_SONIC_CHECKPOINTS)",
        )
    return checkout, checkpoints, python


class SonicBackend(Backend):
    name = "sonic"
    task = "talking-head"
    description = "Sonic (Tencent/ZJU, CVPR 2025) from your checkout, in its own Python env; GPU."
    version = "1.0"
    weight_free = False
    devices = ("cuda", "cpu")
    default_model = "LeonJoe13/Sonic"
    unsupported_params = ("motion_scale", "lip_sync_align", "smooth_motion", "fps")

    @classmethod
    def availability(cls, settings: Settings) -> Availability:
        try:
            sonic_paths(settings)
        except BackendUnavailable as exc:
            return Availability(False, exc.reason, exc.fix)
        return Availability(True)

    def load(self, device: str) -> None:
        self.paths = sonic_paths(self.settings)  # the model itself loads inside each subprocess
        self.device = device

    def model_info(self) -> dict[str, Any]:
        info = super().model_info()
        paths = getattr(self, "paths", None)
        if paths is not None:
            info["sonic_checkout"] = str(paths[0])
            commit = _git_head(paths[0])
            if commit:
                info["sonic_commit"] = commit
        return info

    def run(self, inputs: TalkingHeadInputs, params: TalkingHeadParams, progress: Progress) -> RunOutput:
        assert inputs.image is not None and inputs.audio is not None
        checkout, checkpoints, python = self.paths
        work = Path(tempfile.mkdtemp(prefix="genserve-sonic-"))
        try:
            # 1. inputs as files Sonic reads: the decoded (upright, RGB) portrait; audio cut to `duration`
            image = work / "portrait.png"
            inputs.image.save(image)
            audio, used = _audio_for(inputs, params, work, self.settings.max_audio_seconds)
            output = work / "video.mp4"
            cmd = [
                str(python),
                "-u",
                str(DRIVER),
                *("--checkout", str(checkout), "--checkpoints", str(checkpoints)),
                *("--image", str(image), "--audio", str(audio), "--output", str(output)),
                *("--min-resolution", str(params.min_resolution), "--expand-ratio", str(params.expand_ratio)),
                *("--inference-steps", str(params.inference_steps)),
                *("--dynamic-scale", str(params.dynamic_scale)),
                *("--seed", str(params.seed if params.seed is not None else 42)),
                *("--device-id", str(_device_id(self.device or "cpu"))),
            ]
            # 2. run it, streaming progress; a timeout or cancel ends its whole process group
            _Subprocess(cmd, checkout, self.settings.load_timeout_s).wait(progress)
            if not output.is_file() or output.stat().st_size == 0:
                raise GenserveError("Sonic finished without writing a video", fix="see the server log")
            info = probe_video(output)
            # 3. hand the file to the runner (it moves it into the job's folder)
            fd, final = tempfile.mkstemp(prefix="genserve-sonic-", suffix=".mp4")
            os.close(fd)
            shutil.move(str(output), final)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return RunOutput(
            files=[FileOutput(Path(final), "video.mp4", "video/mp4")],
            parameters={"width": info.width, "height": info.height, "frames": info.num_frames, **used},
        )


def _device_id(device: str) -> int:
    if device.startswith("cuda"):
        return int(device.partition(":")[2] or 0)
    return -1


def _audio_for(
    inputs: TalkingHeadInputs, params: TalkingHeadParams, work: Path, max_seconds: float
) -> tuple[Path, dict[str, Any]]:
    """The audio for Sonic: the original, or cut/padded to ``duration`` (Sonic has no such option)."""
    assert inputs.audio is not None
    length = inputs.audio.duration
    want = params.duration if params.duration is not None else length
    if abs(want - length) < 1e-3:
        return inputs.audio.path, {}
    clip = load_audio(inputs.audio.path, sample_rate=44100, max_seconds=max_seconds)
    n = round(want * clip.sample_rate)
    samples = clip.samples[:n]
    if len(samples) < n:
        samples = np.concatenate([samples, np.zeros(n - len(samples), np.float32)])
    path = write_wav(work / "audio.wav", samples, clip.sample_rate)
    return path, {"audio_seconds": round(want, 3)}


def _git_head(checkout: Path) -> str | None:
    head = checkout / ".git" / "HEAD"
    try:
        ref = head.read_text().strip()
        if ref.startswith("ref: "):
            return (checkout / ".git" / ref[5:]).read_text().strip()
        return ref
    except OSError:
        return None


class _Subprocess:
    """The driver process: events from stdout, tqdm steps and a tail of stderr, kill on limits."""

    def __init__(self, cmd: list[str], cwd: Path, load_timeout_s: float) -> None:
        self.load_timeout_s = load_timeout_s
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.tail: deque[str] = deque(maxlen=30)
        self.last_error: dict[str, Any] = {}
        self.proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group: killing it ends Sonic's workers too
        )
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self.readers = [
            threading.Thread(target=self._read_events, args=(self.proc.stdout,), daemon=True),
            threading.Thread(target=self._read_stderr, args=(self.proc.stderr,), daemon=True),
        ]
        for reader in self.readers:
            reader.start()

    def _read_events(self, stream: IO[bytes]) -> None:
        import json

        for line in stream:
            if line.startswith(_EVENT):
                try:
                    self.events.put(("event", json.loads(line[len(_EVENT) :])))
                except ValueError:
                    continue
            else:
                self.tail.append(line.decode(errors="replace").rstrip())

    def _read_stderr(self, stream: IO[bytes]) -> None:
        pending = b""
        while chunk := stream.read1(4096) if hasattr(stream, "read1") else stream.read(4096):
            pending += chunk
            parts = re.split(rb"[\r\n]", pending)
            pending = parts.pop()
            for part in parts:
                self._stderr_line(part)
        if pending:
            self._stderr_line(pending)

    def _stderr_line(self, line: bytes) -> None:
        if not line.strip():
            return
        match = _TQDM.search(line)
        if match:
            self.events.put(("step", (int(match.group(1)), int(match.group(2)))))
        else:
            self.tail.append(line.decode(errors="replace").rstrip())

    def wait(self, progress: Progress) -> None:
        loading_since: float | None = None
        try:
            while True:
                done = self.proc.poll() is not None
                while not self.events.empty():
                    kind, value = self.events.get_nowait()
                    if kind == "step":
                        progress(value[0], value[1], "sonic: generating")
                    elif value.get("event") == "stage":
                        loading_since = time.monotonic() if value["name"] == "load" else None
                        progress.log(f"sonic: {value['name']}")
                    elif value.get("event") == "error":
                        self.last_error = value
                progress.check()
                if loading_since is not None and time.monotonic() - loading_since > self.load_timeout_s:
                    raise JobTimeout(
                        f"loading Sonic took longer than {self.load_timeout_s:g} s",
                        fix="raise GENSERVE_LOAD_TIMEOUT_S, or check the GPU and the checkpoints' disk",
                    )
                if done:
                    break
                time.sleep(0.05)
        except BaseException:
            self.kill()
            raise
        for reader in self.readers:
            reader.join(timeout=5)
        while not self.events.empty():  # the last events, after the process ended
            kind, value = self.events.get_nowait()
            if kind == "event" and value.get("event") == "error":
                self.last_error = value
        self._check_exit(self.proc.returncode)

    def kill(self) -> None:
        if self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=KILL_GRACE_S)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=KILL_GRACE_S)
        except ProcessLookupError:
            pass

    def _check_exit(self, code: int) -> None:
        message = str(self.last_error.get("message") or " | ".join(list(self.tail)[-5:]) or "no output")
        if code == 0:
            return
        if code == EXIT_NO_FACE:
            raise InvalidInput(
                "no face found: use a frontal portrait with the whole face visible",
                argument="image",
                fix="pass a head-and-shoulders photo facing the camera",
            )
        if code == EXIT_IMPORT:
            python = self.proc.args[0] if isinstance(self.proc.args, list) else "python"
            raise BackendUnavailable(
                f"Sonic cannot be imported in its environment ({message})",
                fix=f"{python} -m pip install -r <sonic_dir>/requirements.txt",
            )
        if code == EXIT_OOM:
            raise OutOfMemory(f"Sonic ran out of GPU memory ({message})", fix="lower min_resolution")
        raise GenserveError(f"Sonic failed with exit code {code}: {message}", fix="see the server log")
