"""rapidocr: the default recognize backend. Text, layout and (optionally) labels, offline on a CPU.

rapidocr 3.x ships PP-OCR's ONNX models (detection, 180-degree line classifier, Chinese+English
recognition) inside its wheel and runs them with onnxruntime, so no weights are downloaded.
Around it genserve adds:

- a page-orientation check: text lines running up/down the page, or most lines read upside down,
  mean the page is rotated; it is turned upright and read again (the better reading is kept), so
  the reading order is right; boxes are always given in the input image's pixel coordinates;
- a detection size limit: a very large image is downscaled once, straight to the detector's
  input size (area-averaged when strongly reduced, so thin strokes survive), and the boxes are
  mapped back to the original;
- the detector's input built in float32 from the start (:func:`float32_detector_input`);
- layout (lines, paragraphs, reading order) from :mod:`genserve.backends.layout`, within layout
  regions from the CDLA layout model (:mod:`genserve.backends.regions`, the layout extra) or, without
  it, from the geometry (:mod:`genserve.backends.layout_regions`);
- the ``document`` (type, key fields, line items, tables) from :mod:`genserve.documents`, with each
  table also written as ``table-<n>.csv`` beside the result;
- labels (``objects``) from :mod:`genserve.backends.labels` when its extra is installed.
"""

from __future__ import annotations

import tempfile
import threading
from dataclasses import dataclass
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np
from PIL import Image

from genserve.backends import layout as page_layout
from genserve.backends import layout_regions
from genserve.backends.base import Backend, FileOutput, Progress, RunOutput
from genserve.backends.labels import ImageLabeler, Labeler, labeler_status
from genserve.backends.regions import DetectedRegion, RegionModel, model_label, regions_status
from genserve.documents import Page, Token, understand
from genserve.documents.understand import tables_csv
from genserve.errors import missing_extra
from genserve.tasks.recognize import RecognizeInputs, RecognizeParams

# NOTE: detection size. rapidocr's defaults (short side brought up to 736, long side capped at 2000)
# blow a 900x120 banner up 6x, which splits its lines into overlapping pieces and costs seconds.
# Here: the long side at most 2000 (rapidocr's own cap; area-averaged when reduced below 0.75 so
# thin strokes survive), the short side brought towards 736 by at most 2x, each side then rounded
# to a multiple of 32 (the detector's rule) so the detector runs at that size without resizing.
DETECT_MAX_SIDE = 2000
DETECT_MIN_SIDE = 736
MAX_UPSCALE = 2.0
AREA_BELOW = 0.75  # reductions stronger than this are area-averaged before detection
VERTICAL_SHARE = 0.6  # share of the text area in up/down lines that marks a page turned by 90 degrees
FLIPPED_SHARE = 0.6  # share of lines read upside down that marks a page turned by 180 degrees
KEEP_TURNED = 0.9  # the upright re-reading is kept unless it reads less than 90 % of the first


@dataclass
class Piece:
    box: list[list[float]]  # four points, clockwise from the text's top-left
    text: str
    score: float


@dataclass
class Reading:
    pieces: list[Piece]
    flipped_share: float  # share of detected lines the classifier found upside down

    @property
    def quality(self) -> float:
        # spaces do not count: the models differ in where they put them, not in what they read
        return sum(p.score * len(p.text.replace(" ", "")) for p in self.pieces)


class RapidOCRBackend(Backend):
    name = "rapidocr"
    task = "recognize"
    description = (
        "PP-OCR (rapidocr + onnxruntime, models inside the wheel): Chinese/English text, layout, labels."
    )
    version = "1.0"
    requires: ClassVar[tuple[str, ...]] = ("rapidocr", "onnxruntime")
    extra = "ocr"
    weight_free = True  # the models ship inside the rapidocr wheel; nothing is downloaded
    devices: ClassVar[tuple[str, ...]] = ("cpu",)
    default_model = "PP-OCRv6-small"
    labels_model = "efficientnet-lite0 (ImageNet-1k)"

    def __init__(self, settings: Any, model: str | None = None) -> None:
        super().__init__(settings, model)
        self.engine: Any = None
        self.labeler: Labeler | None = None
        self.labels_warning: str | None = None
        self.region_model: RegionModel | None = None
        self.regions_warning: str | None = None
        self._lock = threading.Lock()

    def load(self, device: str) -> None:
        try:
            from rapidocr import RapidOCR
        except ImportError:
            raise missing_extra("rapidocr", self.extra or "ocr") from None
        self.engine = RapidOCR(
            params={
                "Global.log_level": "error",
                "Global.max_side_len": DETECT_MAX_SIDE + 32,
                "Det.limit_type": "max",
                "Det.limit_side_len": DETECT_MAX_SIDE + 32,
            }
        )
        float32_detector_input(self.engine)
        self.load_labeler(device)
        self.load_regions()
        super().load(device)

    def load_labeler(self, device: str) -> None:
        """The classifier behind ``objects``: ImageNet labels when the labels extra is installed."""
        self.labels_warning = labeler_status()
        if self.labels_warning is None:
            labeler = ImageLabeler()
            labeler.load("cpu")
            self.labeler = labeler

    def load_regions(self) -> None:
        """The layout model behind ``layout.regions`` when the layout extra is installed."""
        self.regions_warning = regions_status()
        if self.regions_warning is None:
            model = RegionModel()
            model.load()
            self.region_model = model

    def unload(self) -> None:
        self.engine = None
        self.region_model = None
        if self.labeler is not None:
            self.labeler.unload()
        self.labeler = None
        super().unload()

    def model_info(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "backend_version": self.version,
            "rapidocr": package_version("rapidocr"),
            "labels_model": self.labels_model if self.labeler is not None else None,
            "layout_model": model_label() if self.region_model is not None else None,
        }

    def run(self, inputs: RecognizeInputs, params: RecognizeParams, progress: Progress) -> RunOutput:
        images = inputs.images
        names = inputs.names.get("image") or []
        total = len(images)
        warnings: list[str] = []
        # 1. labels for the whole batch at once
        labels: list[list[dict[str, Any]]] = [[] for _ in images]
        if params.labels:
            if self.labeler is None:
                warnings.append(self.labels_warning or "labels are not available")
            else:
                labels = self.labeler.classify(images, params.top_k)
        if params.ocr and params.document and self.region_model is None and self.regions_warning:
            warnings.append(self.regions_warning)
        # 2. text and layout, image by image
        items = []
        for i, image in enumerate(images):
            progress(i, total, f"reading image {i + 1} of {total}")
            item = self.read_image(image, params)
            items.append(
                {
                    "image_path": names[i] if i < len(names) else None,
                    "text_blocks": item["text_blocks"],
                    "objects": [o for o in labels[i] if o["score"] >= params.min_score],
                    "layout": item["layout"],
                    "document": item["document"],
                }
            )
        progress(total, total)
        files = table_files(items)
        # one image: its fields at the top level, once; a batch: the first image's there too, and
        # every image under ``items`` (a page read once is not printed twice)
        data = {**items[0], "items": items} if len(items) > 1 else items[0]
        return RunOutput(
            data=data,
            files=files,
            warnings=warnings,
            parameters={"detect_max_side": DETECT_MAX_SIDE},
        )

    # -- one image --------------------------------------------------------------------------

    def read_image(self, image: Image.Image, params: RecognizeParams) -> dict[str, Any]:
        """text_blocks and layout of one RGB image."""
        width, height = image.size
        page: dict[str, Any] = {
            "width": width,
            "height": height,
            "orientation": 0,
            "text_direction": "horizontal",
            "skew": 0.0,
            "lines": [],
            "paragraphs": [],
            "regions": [],
            "regions_from": None,
            "regions_model": None,
        }
        if not params.ocr:
            return {"text_blocks": [], "layout": page, "document": {}}
        rgb = np.asarray(image if image.mode == "RGB" else image.convert("RGB"))
        reading, angle = self.read_upright(rgb)
        pieces = [p for p in reading.pieces if p.score >= params.min_score]
        # layout runs on upright coordinates; boxes are reported in the input's coordinates
        upright_boxes = [p.box for p in pieces]
        texts = [p.text for p in pieces]
        # regions from the layout model on the upright page; None: from the geometry alone
        detected = self.detect_regions(rgb, angle) if params.document and pieces else None
        regions = layout_regions.analyze(upright_boxes, texts, detected)
        found = regions.layout
        skew = page_layout.skew_degrees(upright_boxes)
        document: dict[str, Any] = {}
        if params.document and pieces:
            tokens = [
                Token(k, pieces[i].text, pieces[i].box, regions.region_of.get(i))
                for k, i in enumerate(found.order)
            ]
            upright_w, upright_h = (height, width) if angle in (90, 270) else (width, height)
            document = understand(Page(upright_w, upright_h, tokens, regions.regions, skew))
        blocks = []
        for order_index, i in enumerate(found.order):
            piece = pieces[i]
            box = [rotate_point_back(x, y, angle, width, height) for x, y in piece.box]
            blocks.append(
                {
                    "index": order_index,
                    "text": piece.text,
                    "score": round(piece.score, 4),
                    "box": [[round(x, 1), round(y, 1)] for x, y in box],
                    "bbox": page_layout.rect_of(box).as_list(),
                    "line": found.line_of[i],
                    "block": found.paragraph_of[i],
                    "region": regions.region_of.get(i),
                }
            )
        for group in (*found.lines, *found.paragraphs, *regions.regions):
            corners = page_layout.rect_of(_corners(group["bbox"]))
            mapped = [rotate_point_back(x, y, angle, width, height) for x, y in _corners(corners.as_list())]
            group["bbox"] = page_layout.rect_of(mapped).as_list()
        page.update(
            orientation=angle,
            text_direction="vertical" if page_layout.vertical_share(upright_boxes) > 0.5 else "horizontal",
            skew=skew,
            lines=found.lines,
            paragraphs=found.paragraphs,
            regions=regions.regions,
            regions_from=regions.source,
            regions_model=model_label() if regions.source == "model" else None,
        )
        return {"text_blocks": blocks, "layout": page, "document": document}

    def detect_regions(self, rgb: np.ndarray, angle: int) -> list[DetectedRegion] | None:
        """The layout model's regions of the page turned upright (None without the model)."""
        if self.region_model is None:
            return None
        upright = np.rot90(rgb, k=angle // 90) if angle else rgb
        return self.region_model.detect(np.ascontiguousarray(upright), rgb=True)

    def read_upright(self, rgb: np.ndarray) -> tuple[Reading, int]:
        """Read the page; when it looks rotated, read it again turned upright and keep the better.

        Returns the reading (boxes in the upright page's coordinates) and the page's rotation in
        degrees clockwise (0, 90, 180, 270).
        """
        first = self.read(rgb)
        boxes = [p.box for p in first.pieces]
        angle = 0
        if boxes and page_layout.vertical_share(boxes) >= VERTICAL_SHARE:
            # lines running down the page read right after a quarter turn; those running up need
            # the classifier's 180 degrees on top (the crops were turned the other way)
            angle = 270 if first.flipped_share >= FLIPPED_SHARE else 90
        elif boxes and first.flipped_share >= FLIPPED_SHARE:
            angle = 180
        if angle == 0:
            return first, 0
        turned = self.read(np.ascontiguousarray(np.rot90(rgb, k=angle // 90)))
        # the evidence for the turn is strong already: keep the upright reading unless it reads clearly less
        if turned.quality >= KEEP_TURNED * first.quality:
            return turned, angle
        return first, 0

    def read(self, rgb: np.ndarray) -> Reading:
        """One rapidocr pass over an RGB array (downscaled for detection when very large)."""
        h, w = rgb.shape[:2]
        scale = detect_scale(w, h)
        scale_x = scale_y = 1.0
        if scale != 1.0:
            # straight to the detector's own size (sides a multiple of 32): one resize, not two
            size = (detect_side(w * scale), detect_side(h * scale))
            rgb = cv2.resize(rgb, size, interpolation=resize_interpolation(scale))
            scale_x, scale_y = size[0] / w, size[1] / h
        bgr = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR)
        engine = self.engine
        with self._lock:  # rapidocr keeps per-call settings on the engine object
            img, record = engine.preprocess_img(bgr)
            det, cls, rec, crops = engine.run_ocr_steps(img, record)
            out = engine.build_final_output(bgr, det, cls, rec, crops, record)
        labels = [str(label) for label, _score in (getattr(cls, "cls_res", None) or [])]
        flipped = labels.count("180") / len(labels) if labels else 0.0
        boxes = getattr(out, "boxes", None)
        texts = getattr(out, "txts", None)
        scores = getattr(out, "scores", None)
        if boxes is None or texts is None or scores is None:
            return Reading([], flipped)
        pieces = [
            Piece(
                box=[[float(x) / scale_x, float(y) / scale_y] for x, y in np.asarray(box).tolist()],
                text=str(text).strip(),
                score=float(score),
            )
            for box, text, score in zip(boxes, texts, scores, strict=False)
            if str(text).strip()
        ]
        return Reading(pieces, flipped)


def table_files(items: list[dict[str, Any]]) -> list[FileOutput]:
    """Each document table as CSV beside the result: ``table-<n>.csv`` (``image-<k>-table-<n>.csv``
    in a batch); each table in the result names its file under ``csv``."""
    files = []
    for k, item in enumerate(items):
        document = item.get("document") or {}
        for n, text in enumerate(tables_csv(document)):
            name = f"table-{n}.csv" if len(items) == 1 else f"image-{k}-table-{n}.csv"
            with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False, encoding="utf-8") as out:
                out.write(text)
            files.append(FileOutput(Path(out.name), name, "text/csv"))
            document["tables"][n]["csv"] = name
    return files


def float32_detector_input(engine: Any) -> bool:
    """Keep rapidocr's detector input in float32 from the start.

    rapidocr normalises the page with float64 mean/std arrays, so the whole 2000x1500x3 page is
    computed in float64 and only then cast to float32 for the model: about 0.2 s of a 2.3 s page
    here. With float32 mean/std the same arithmetic gives the same float32 input (a test compares
    them) in a fraction of the time. Returns False, changing nothing, where this rapidocr version
    keeps them elsewhere.
    """
    load_detector = getattr(engine, "_load_det_model", None)
    detector = load_detector() if callable(load_detector) else getattr(engine, "text_det", None)
    if detector is None or getattr(detector, "mean", None) is None or getattr(detector, "std", None) is None:
        return False
    detector.mean = np.asarray(detector.mean, dtype=np.float32)
    detector.std = np.asarray(detector.std, dtype=np.float32)
    return True


def detect_scale(width: int, height: int) -> float:
    """The factor the image is resized by before detection (see DETECT_MAX_SIDE)."""
    if max(width, height) > DETECT_MAX_SIDE:
        return DETECT_MAX_SIDE / max(width, height)
    if min(width, height) < DETECT_MIN_SIDE:
        return min(MAX_UPSCALE, DETECT_MIN_SIDE / min(width, height), DETECT_MAX_SIDE / max(width, height))
    return 1.0


def detect_side(length: float) -> int:
    """A side of the detector's input: a multiple of 32, rounded as rapidocr rounds it."""
    return max(32, round(int(length) / 32) * 32)


def resize_interpolation(scale: float) -> int:
    """Area-averaging for a real reduction (thin strokes survive), bilinear for a slight one (as
    rapidocr itself resizes; area-averaging costs 4x more there and changes nothing), bicubic up."""
    if scale > 1:
        return cv2.INTER_CUBIC
    return cv2.INTER_LINEAR if scale >= AREA_BELOW else cv2.INTER_AREA


def _corners(bbox: list[float]) -> list[list[float]]:
    x0, y0, x1, y1 = bbox
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]


def rotate_point_back(x: float, y: float, angle: int, width: int, height: int) -> tuple[float, float]:
    """A point of the upright page (the input turned ``angle`` degrees counter-clockwise) in the
    input's coordinates; ``width``/``height`` are the input's size."""
    if angle == 90:  # upright = input turned a quarter counter-clockwise: (x, y) -> (y, W - x)
        return width - y, x
    if angle == 180:
        return width - x, height - y
    if angle == 270:  # upright = input turned three quarters counter-clockwise: (x, y) -> (H - y, x)
        return y, height - x
    return x, y
