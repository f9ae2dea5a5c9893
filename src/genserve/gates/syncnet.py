"""SyncNet (Chung & Zisserman 2016) and LSE-D / LSE-C computed the way syncnet_python evaluates a video.

The network layout matches the released ``syncnet_v2.model`` state dict, so that file loads as is.
Scoring: 5-frame 224x224 face clips against 20-step MFCC windows (4 MFCC steps per frame at 25 fps),
mean distance at each shift in ±15 frames; LSE-D is the smallest mean distance, LSE-C the median
minus that smallest, the offset is the shift that gives it.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from genserve.errors import missing_extra

VSHIFT = 15
CLIP_FRAMES = 5
CROP_SCALE = 0.4  # NOTE: syncnet_python's crop_scale: room around the face box


def build_model(fc_dim: int = 1024, width: float = 1.0) -> Any:
    """SyncNet's two towers. ``width`` < 1 builds a narrow copy (tests); 1.0 is the released layout."""
    try:
        import torch
    except ImportError:
        raise missing_extra("torch", "diffusers") from None
    nn = torch.nn
    base: Any = nn.Module

    def c(n: int) -> int:
        return max(4, int(n * width))

    def block2d(cin: int, cout: int, **kw: Any) -> list[Any]:
        return [nn.Conv2d(cin, cout, **kw), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

    def block3d(cin: int, cout: int, **kw: Any) -> list[Any]:
        return [nn.Conv3d(cin, cout, **kw), nn.BatchNorm3d(cout), nn.ReLU(inplace=True)]

    class SyncNet(base):
        def __init__(self) -> None:
            super().__init__()
            self.netcnnaud = nn.Sequential(
                *block2d(1, c(64), kernel_size=3, padding=1),
                nn.MaxPool2d(kernel_size=1, stride=1),
                *block2d(c(64), c(192), kernel_size=3, padding=1),
                nn.MaxPool2d(kernel_size=3, stride=(1, 2)),
                *block2d(c(192), c(384), kernel_size=3, padding=1),
                *block2d(c(384), c(256), kernel_size=3, padding=1),
                *block2d(c(256), c(256), kernel_size=3, padding=1),
                nn.MaxPool2d(kernel_size=3, stride=2),
                *block2d(c(256), c(512), kernel_size=(5, 4)),
            )
            self.netfcaud = nn.Sequential(
                nn.Linear(c(512), c(512)), nn.BatchNorm1d(c(512)), nn.ReLU(), nn.Linear(c(512), fc_dim)
            )
            self.netcnnlip = nn.Sequential(
                *block3d(3, c(96), kernel_size=(5, 7, 7), stride=(1, 2, 2)),
                nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2)),
                *block3d(c(96), c(256), kernel_size=(1, 5, 5), stride=(1, 2, 2), padding=(0, 1, 1)),
                nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
                *block3d(c(256), c(256), kernel_size=(1, 3, 3), padding=(0, 1, 1)),
                *block3d(c(256), c(256), kernel_size=(1, 3, 3), padding=(0, 1, 1)),
                *block3d(c(256), c(256), kernel_size=(1, 3, 3), padding=(0, 1, 1)),
                nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2)),
                *block3d(c(256), c(512), kernel_size=(1, 6, 6)),
            )
            self.netfclip = nn.Sequential(
                nn.Linear(c(512), c(512)), nn.BatchNorm1d(c(512)), nn.ReLU(), nn.Linear(c(512), fc_dim)
            )

        def forward_aud(self, x: Any) -> Any:
            return self.netfcaud(self.netcnnaud(x).flatten(1))

        def forward_lip(self, x: Any) -> Any:
            return self.netfclip(self.netcnnlip(x).flatten(1))

    return SyncNet()


@lru_cache(maxsize=2)
def load_model(path: Path) -> Any:
    """The network from a state dict file; the layer widths are read from the file itself."""
    import torch

    state = torch.load(str(path), map_location="cpu", weights_only=True)
    width = state["netcnnaud.0.weight"].shape[0] / 64.0
    fc_dim = state["netfcaud.3.weight"].shape[0]
    model = build_model(fc_dim=fc_dim, width=width)
    model.load_state_dict(state)
    return model.eval()


def mfcc(signal: np.ndarray, sample_rate: int = 16000) -> np.ndarray:
    """13 MFCCs every 10 ms over 25 ms frames (python_speech_features' defaults: 26 mel filters,
    512-point FFT, pre-emphasis 0.97, lifter 22, c0 replaced by the log frame energy). (N, 13)."""
    eps = np.finfo(float).eps
    sig = np.append(signal[0], signal[1:] - 0.97 * signal[:-1]).astype(np.float64)
    flen, fstep, nfft = round(0.025 * sample_rate), round(0.01 * sample_rate), 512
    count = 1 if len(sig) <= flen else 1 + math.ceil((len(sig) - flen) / fstep)
    padded = np.concatenate([sig, np.zeros((count - 1) * fstep + flen - len(sig))])
    idx = np.arange(flen)[None, :] + fstep * np.arange(count)[:, None]
    power = np.abs(np.fft.rfft(padded[idx], nfft)) ** 2 / nfft
    energy = power.sum(axis=1)
    energy[energy == 0] = eps
    # mel filterbank
    nfilt = 26
    mel = np.linspace(0, 2595 * np.log10(1 + (sample_rate / 2) / 700.0), nfilt + 2)
    bins = np.floor((nfft + 1) * (700 * (10 ** (mel / 2595.0) - 1)) / sample_rate).astype(int)
    bank = np.zeros((nfilt, nfft // 2 + 1))
    for j in range(nfilt):
        lo, mid, hi = bins[j], bins[j + 1], bins[j + 2]
        bank[j, lo:mid] = (np.arange(lo, mid) - lo) / max(mid - lo, 1)
        bank[j, mid:hi] = (hi - np.arange(mid, hi)) / max(hi - mid, 1)
    feat = power @ bank.T
    feat[feat == 0] = eps
    logfeat = np.log(feat)
    # orthonormal DCT-II, first 13 coefficients
    n = np.arange(nfilt)
    dct = np.cos(np.pi / nfilt * (n[None, :] + 0.5) * np.arange(13)[:, None]) * np.sqrt(2.0 / nfilt)
    dct[0] /= np.sqrt(2.0)
    cep = logfeat @ dct.T
    cep *= 1 + (22 / 2.0) * np.sin(np.pi * np.arange(13) / 22)
    cep[:, 0] = np.log(energy)
    return cep


def face_crops(frames: np.ndarray, face_box: tuple[int, int, int, int] | None) -> np.ndarray:
    """224x224 BGR crops around the face, as syncnet_python makes them (box, 40 % room, grey padding)."""
    h, w = frames.shape[1:3]
    x0, y0, x1, y1 = face_box or (0, 0, w, h)
    bs = max(x1 - x0, y1 - y0) / 2.0
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    pad = int(bs * (1 + 2 * CROP_SCALE))
    out = []
    for frame in frames:
        padded = cv2.copyMakeBorder(frame, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(110, 110, 110))
        my, mx = cy + pad, cx + pad
        crop = padded[
            int(my - bs) : int(my + bs * (1 + 2 * CROP_SCALE)),
            int(mx - bs * (1 + CROP_SCALE)) : int(mx + bs * (1 + CROP_SCALE)),
        ]
        out.append(cv2.resize(cv2.cvtColor(crop, cv2.COLOR_RGB2BGR), (224, 224)))
    return np.stack(out)


def evaluate(
    weights: Path,
    frames: np.ndarray,
    samples: np.ndarray,
    sample_rate: int,
    fps: float,
    *,
    face_box: tuple[int, int, int, int] | None = None,
    batch: int = 20,
) -> tuple[float, float, int]:
    """(LSE-D, LSE-C, offset in frames) of RGB ``frames`` against mono float ``samples``."""
    import torch

    from genserve.gates.registry import MetricSkipped

    if abs(fps - 25.0) > 0.5:
        # NOTE: SyncNet is trained on 25 fps video with 4 MFCC steps (10 ms) per frame.
        raise MetricSkipped(f"SyncNet needs 25 fps video (got {fps:g})")
    model = load_model(Path(weights))
    crops = face_crops(frames, face_box).astype(np.float32)
    cc = mfcc(samples.astype(np.float64) * 32768.0, sample_rate).T.astype(np.float32)  # (13, N)
    length = min(len(crops), cc.shape[1] // 4)
    last = length - CLIP_FRAMES
    if last < 1:
        raise MetricSkipped("the video is too short for one 5-frame SyncNet window")
    video = torch.from_numpy(crops).permute(3, 0, 1, 2)[None]  # (1, 3, T, 224, 224)
    audio = torch.from_numpy(cc)[None, None]  # (1, 1, 13, N)
    im_feat, cc_feat = [], []
    with torch.no_grad():
        for start in range(0, last, batch):
            idx = range(start, min(last, start + batch))
            im_feat.append(model.forward_lip(torch.cat([video[:, :, i : i + CLIP_FRAMES] for i in idx])))
            cc_feat.append(model.forward_aud(torch.cat([audio[:, :, :, i * 4 : i * 4 + 20] for i in idx])))
    im, au = torch.cat(im_feat), torch.cat(cc_feat)
    window = VSHIFT * 2 + 1
    au_padded = torch.nn.functional.pad(au, (0, 0, VSHIFT, VSHIFT))
    dists = torch.stack(
        [
            torch.nn.functional.pairwise_distance(im[[i]].repeat(window, 1), au_padded[i : i + window])
            for i in range(len(im))
        ],
        dim=1,
    )
    mean_dist = dists.mean(dim=1)
    minval, minidx = torch.min(mean_dist, 0)
    conf = torch.median(mean_dist) - minval
    return float(minval), float(conf), VSHIFT - int(minidx)
