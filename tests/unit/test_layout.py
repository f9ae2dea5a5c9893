"""Reading order, lines and paragraphs from text boxes (pure geometry, no model)."""

from __future__ import annotations

import pytest

from genserve.backends.layout import analyze, join_text, skew_degrees, vertical_share


def box(x0: float, y0: float, x1: float, y1: float) -> list[list[float]]:
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]


def test_empty_page_has_no_lines() -> None:
    layout = analyze([], [])
    assert layout.order == [] and layout.lines == [] and layout.paragraphs == []


def test_boxes_of_one_row_form_a_line_read_left_to_right() -> None:
    # given in a scrambled order, with a small wobble in height
    boxes = [box(300, 102, 420, 131), box(10, 100, 120, 130), box(140, 98, 280, 129)]
    layout = analyze(boxes, ["c", "a", "b"])
    assert layout.order == [1, 2, 0]
    assert len(layout.lines) == 1
    assert layout.lines[0]["text"] == "a b c"
    assert layout.lines[0]["bbox"] == [10, 98, 420, 131]


def test_far_apart_boxes_at_one_height_are_two_lines() -> None:
    boxes = [box(10, 100, 110, 130), box(900, 100, 1000, 130)]
    layout = analyze(boxes, ["left", "right"])
    assert len(layout.lines) == 2


def test_paragraphs_split_at_large_gaps() -> None:
    # two lines close together, then a gap of three line heights, then one more line
    boxes = [box(10, 10, 400, 40), box(10, 50, 380, 80), box(10, 170, 300, 200)]
    layout = analyze(boxes, ["one", "two", "three"])
    assert [p["lines"] for p in layout.paragraphs] == [[0, 1], [2]]
    assert layout.paragraphs[0]["text"] == "one\ntwo"
    assert layout.paragraph_of == {0: 0, 1: 0, 2: 1}


def test_two_columns_are_read_column_by_column_after_a_spanning_heading() -> None:
    boxes = [
        box(10, 10, 990, 50),  # heading across both columns
        box(10, 100, 450, 130),  # left column, 3 lines
        box(10, 140, 450, 170),
        box(10, 180, 450, 210),
        box(550, 100, 990, 130),  # right column, 3 lines
        box(550, 140, 990, 170),
        box(550, 180, 990, 210),
    ]
    texts = ["H", "L1", "L2", "L3", "R1", "R2", "R3"]
    layout = analyze(boxes, texts)
    assert [texts[i] for i in layout.order] == ["H", "L1", "L2", "L3", "R1", "R2", "R3"]
    assert len(layout.paragraphs) == 3
    assert [layout.line_of[i] for i in layout.order] == [0, 1, 2, 3, 4, 5, 6]


def test_lines_of_different_sizes_are_different_paragraphs() -> None:
    boxes = [box(10, 10, 600, 90), box(10, 100, 400, 125)]  # a title 80 px high over body text
    layout = analyze(boxes, ["Title", "body"])
    assert len(layout.paragraphs) == 2


def test_text_block_indices_of_lines_follow_reading_order() -> None:
    boxes = [box(10, 60, 100, 90), box(10, 10, 100, 40), box(120, 10, 200, 40)]
    layout = analyze(boxes, ["second", "first", "more"])
    assert layout.order == [1, 2, 0]
    assert layout.lines[0]["text_blocks"] == [0, 1]
    assert layout.lines[1]["text_blocks"] == [2]


@pytest.mark.parametrize(
    ("parts", "joined"),
    [
        (["万物", "识别"], "万物识别"),
        (["Hello", "world"], "Hello world"),
        (["价格", "12.5", "元"], "价格 12.5 元"),
        (["", " a ", "b"], "a b"),
    ],
)
def test_join_text(parts: list[str], joined: str) -> None:
    assert join_text(parts) == joined


def test_vertical_share_and_skew() -> None:
    assert vertical_share([box(0, 0, 300, 30)]) == 0.0
    assert vertical_share([box(0, 0, 30, 300)]) == 1.0
    assert skew_degrees([box(0, 0, 300, 30)]) == 0.0
    # a box rotated by ~5.7 degrees clockwise (y grows downwards)
    tilted = [[0, 0], [100, 10], [97, 40], [-3, 30]]
    assert skew_degrees([tilted]) == pytest.approx(5.71, abs=0.05)
