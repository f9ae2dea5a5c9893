"""Layout regions: text blocks join the region holding them, regions are read in order (columns,
headers and footers last), the geometry's own layout without a model; the CDLA model's decoding."""

from __future__ import annotations

import numpy as np
import pytest

from genserve.backends import regions as region_model
from genserve.backends.layout import analyze
from genserve.backends.layout_regions import analyze as analyze_regions
from genserve.backends.layout_regions import one_class_per_area
from genserve.backends.regions import DetectedRegion


def box(x0: float, y0: float, x1: float, y1: float) -> list[list[float]]:
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]


# a page: a running header, a title, two columns of three lines, a page number in the footer
BOXES = [
    box(700, 1480, 760, 1510),  # 0 footer: page number
    box(100, 100, 900, 150),  # 1 title
    box(100, 200, 450, 230),  # 2 left column
    box(100, 240, 450, 270),  # 3
    box(100, 280, 450, 310),  # 4
    box(550, 200, 900, 230),  # 5 right column
    box(550, 240, 900, 270),  # 6
    box(550, 280, 900, 310),  # 7
    box(100, 20, 500, 45),  # 8 header: running head
]
TEXTS = ["12", "Title", "L1", "L2", "L3", "R1", "R2", "R3", "Journal of Things"]
DETECTED = [
    DetectedRegion("footer", (690, 1470, 770, 1520), 0.8),
    DetectedRegion("title", (90, 90, 910, 160), 0.95),
    DetectedRegion("text", (90, 190, 460, 320), 0.9),
    DetectedRegion("text", (540, 190, 910, 320), 0.9),
    DetectedRegion("header", (90, 10, 510, 50), 0.7),
    DetectedRegion("figure", (100, 400, 900, 1200), 0.85),
]


def test_regions_in_reading_order_with_headers_and_footers_last() -> None:
    found = analyze_regions(BOXES, TEXTS, DETECTED)
    assert found.source == "model"
    assert [TEXTS[i] for i in found.layout.order] == [
        "Title",
        "L1",
        "L2",
        "L3",
        "R1",
        "R2",
        "R3",
        "Journal of Things",
        "12",
    ]
    kinds = [r["type"] for r in found.regions]
    assert kinds == ["title", "text", "text", "figure", "header", "footer"]
    # every block names its region; a region lists its blocks by their reading-order index
    assert found.region_of[2] == found.region_of[3] == 1 and found.region_of[5] == 2
    assert found.regions[1]["text_blocks"] == [1, 2, 3]
    assert found.regions[3]["text_blocks"] == [] and found.regions[3]["source"] == "model"
    # lines and paragraphs are numbered across the page and name their region
    assert [line["region"] for line in found.layout.lines] == [0, 1, 1, 1, 2, 2, 2, 4, 5]
    assert found.layout.lines[4]["text_blocks"] == [4]


def test_text_outside_every_region_gets_a_region_from_the_geometry() -> None:
    found = analyze_regions(BOXES, TEXTS, DETECTED[1:4])  # no header, footer or figure found
    loose = [r for r in found.regions if r["source"] == "geometry"]
    assert {r["type"] for r in loose} == {"text"} and len(loose) == 2
    assert sorted(
        TEXTS[i] for i, r in found.region_of.items() if found.regions[r]["source"] == "geometry"
    ) == [
        "12",
        "Journal of Things",
    ]
    # without the header/footer classes they are read where they stand: the running head first
    assert TEXTS[found.layout.order[0]] == "Journal of Things"


def test_without_a_model_the_regions_are_the_paragraphs() -> None:
    found = analyze_regions(BOXES, TEXTS, None)
    plain = analyze(BOXES, TEXTS)
    assert found.source == "geometry"
    assert found.layout.order == plain.order
    assert [{k: v for k, v in line.items() if k != "region"} for line in found.layout.lines] == plain.lines
    assert [line["region"] for line in found.layout.lines] == [line["paragraph"] for line in plain.lines]
    assert [r["bbox"] for r in found.regions] == [p["bbox"] for p in plain.paragraphs]
    assert all(r["type"] == "text" and r["score"] is None for r in found.regions)
    assert found.region_of == plain.paragraph_of


def test_one_area_two_classes_keeps_the_better_scored() -> None:
    kept = one_class_per_area(
        [
            DetectedRegion("reference", (10, 10, 200, 100), 0.76),
            DetectedRegion("text", (11, 10, 201, 101), 0.74),
            DetectedRegion("table", (10, 200, 200, 300), 0.6),
        ]
    )
    assert [r.kind for r in kept] == ["reference", "table"]


def test_picodet_decoding_and_nms() -> None:
    # the model's outputs for the 608x800 input: class scores and 4x8 distance bins per anchor
    counts = (100 * 76, 50 * 38, 25 * 19, 13 * 10)  # strides 8, 16, 32, 64
    scores = [np.zeros((1, n, 10), dtype=np.float32) for n in counts]
    dists = [np.full((1, n, 32), -20.0, dtype=np.float32) for n in counts]
    anchor = 12 * 76 + 25  # row 12, column 25 at stride 8: centre (204, 100)
    scores[0][0, anchor, 4] = 0.9  # class 4: table
    scores[0][0, anchor + 1, 4] = 0.7  # its neighbour on the same object, suppressed by NMS
    for side in range(4):
        dists[0][0, anchor, side * 8 + 7] = 20.0  # bin 7: 7 x 8 = 56 px on every side
        dists[0][0, anchor + 1, side * 8 + 6] = 20.0  # 48 px around (212, 100): IoU 0.73
    found = region_model.postprocess([*scores, *dists], (800, 608))
    assert [r.kind for r in found] == ["table"]
    assert found[0].box == pytest.approx((148, 44, 260, 156), abs=0.01)
    assert found[0].score == pytest.approx(0.9)
    # boxes come back in the page's pixels: a page twice the input's size doubles them
    big = region_model.postprocess([*scores, *dists], (1600, 1216))
    assert big[0].box == pytest.approx((296, 88, 520, 312), abs=0.02)


def test_a_table_is_read_row_by_row() -> None:
    # cells far apart (a receipt's name, quantity and price): lines of their own outside a table
    boxes = [box(40, 100, 120, 130), box(400, 100, 420, 130), box(600, 100, 680, 130)]
    boxes += [box(40, 150, 120, 180), box(400, 150, 420, 180), box(600, 150, 680, 180)]
    texts = ["苹果", "1", "8.50", "牛奶", "1", "12.00"]
    assert len(analyze(boxes, texts).lines) == 6
    found = analyze_regions(boxes, texts, [DetectedRegion("table", (30, 90, 700, 190), 0.9)])
    assert [line["text"] for line in found.layout.lines] == ["苹果 1 8.50", "牛奶 1 12.00"]
    assert [texts[i] for i in found.layout.order] == texts
