"""Face finding, crop geometry, blinks, head motion and the warp, on a real portrait (astronaut)."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data

from genserve.backends import portrait_landmarks
from genserve.backends.portrait_face import crop_box, detect_face, output_size, plausible
from genserve.backends.portrait_motion import blink_curve, head_path
from genserve.backends.portrait_warp import PortraitRig
from genserve.errors import InvalidInput


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return skimage.data.astronaut()


def test_finds_the_face_eyes_and_mouth(astronaut: np.ndarray) -> None:
    face = detect_face(astronaut)
    # NOTE: in skimage's astronaut.png the face spans about x 175-270, y 60-170 (eyes near y 100)
    assert 160 < face.x < 200 and 50 < face.y < 90 and 70 < face.w < 130
    (lx, ly), (rx, ry), (mx, my) = face.left_eye, face.right_eye, face.mouth
    assert lx < mx < rx
    assert 90 < ly < 110 and 90 < ry < 110
    assert ly + 0.3 * face.h < my < face.y + face.h  # the mouth is under the eyes, inside the face


def test_no_face_is_a_clear_error() -> None:
    y, x = np.mgrid[0:300, 0:400]
    gradient = np.stack([x % 256, y % 256, (x + y) % 256], axis=-1).astype(np.uint8)
    with pytest.raises(InvalidInput, match="no face found: use a frontal portrait") as info:
        detect_face(gradient)
    assert info.value.argument == "image"


def test_crop_is_square_inside_the_image_and_grows_with_expand_ratio(astronaut: np.ndarray) -> None:
    face = detect_face(astronaut)
    boxes = [crop_box(face, 512, 512, r) for r in (0.0, 0.18, 0.5, 1.0)]
    sides = [x1 - x0 for x0, _, x1, _ in boxes]
    assert sides == sorted(sides) and sides[0] < sides[-1]
    for x0, y0, x1, y1 in boxes:
        assert x1 - x0 == y1 - y0
        assert x0 >= 0 and y0 >= 0 and x1 <= 512 and y1 <= 512
        assert x0 <= face.x and face.x + face.w <= x1  # the face is always inside


def test_output_size_is_even_and_capped_at_the_portrait() -> None:
    assert output_size(171, 171, 1024, 512) == (512, 512)
    assert output_size(171, 171, 256, 512) == (256, 256)
    assert output_size(300, 201, 257, 900) == (384, 256)  # odd 257 -> even


def test_blinks_are_natural_and_seeded() -> None:
    a = blink_curve(25 * 60, 25, np.random.default_rng(1))
    b = blink_curve(25 * 60, 25, np.random.default_rng(1))
    assert np.array_equal(a, b)
    starts = np.flatnonzero((a[1:] > 0) & (a[:-1] == 0))
    assert 10 <= len(starts) <= 30  # 10-30 blinks a minute
    assert a.max() > 0.95 and a.min() == 0.0


def test_head_motion_scales_and_smooth_motion_removes_jitter() -> None:
    opening = np.zeros(250, np.float32)

    def path(scale: float, smooth: bool) -> np.ndarray:
        p = head_path(250, 25, np.random.default_rng(7), 100.0, scale, opening, smooth)
        return np.stack([p.tx, p.ty, p.roll])

    assert not path(0.0, True).any()
    still, strong = np.abs(path(1.0, True)).max(axis=1), np.abs(path(2.0, True)).max(axis=1)
    assert strong == pytest.approx(2 * still, rel=1e-5)
    assert 0.3 < still[0] < 5.0  # a few pixels on a 100-pixel face
    jerk = lambda p: np.abs(np.diff(p, 2, axis=1)).mean()  # noqa: E731
    assert jerk(path(1.0, True)) < 0.2 * jerk(path(1.0, False))


def test_rest_pose_is_the_portrait_and_opening_darkens_only_the_mouth(astronaut: np.ndarray) -> None:
    face = detect_face(astronaut)
    rig = PortraitRig(astronaut, face)
    assert np.array_equal(rig.render(0.0, 0.0, 0.0, 0.0, 0.0), astronaut)
    opened = rig.render(1.0, 0.0, 0.0, 0.0, 0.0).astype(int)
    x, y, w, h = face.mouth_box()
    diff = np.abs(opened - astronaut.astype(int)).sum(axis=2)
    assert diff[y : y + h, x : x + w].mean() > 20
    assert diff[: int(face.y + 0.5 * face.h)].max() == 0  # eyes and above untouched
    assert opened[y : y + h, x : x + w].mean() < astronaut[y : y + h, x : x + w].mean()  # a dark gap
    blink = rig.render(0.0, 1.0, 0.0, 0.0, 0.0).astype(int)
    (ex, ey) = face.left_eye
    eye = np.s_[int(ey - 5) : int(ey + 5), int(ex - 8) : int(ex + 8)]
    assert np.abs(blink[eye] - astronaut[eye]).mean() > 10
    assert np.abs(blink - astronaut)[y : y + h, x : x + w].max() == 0  # a blink leaves the mouth alone


def test_haar_path_without_landmarks(astronaut: np.ndarray) -> None:
    face = detect_face(astronaut, use_landmarks=False)
    assert face.detector == "haar" and face.landmarks is None
    rig = PortraitRig(astronaut, face)
    assert rig.mouth is None  # the row warp around the guessed lip line
    assert np.array_equal(rig.render(0.0, 0.0, 0.0, 0.0, 0.0), astronaut)


@pytest.mark.skipif(not portrait_landmarks.available(), reason="needs genserve[landmarks]")
def test_landmark_mouth_drops_the_jaw_and_keeps_the_upper_lip(astronaut: np.ndarray) -> None:
    face = detect_face(astronaut)
    assert face.detector == "dlib-68" and face.landmarks is not None
    rig = PortraitRig(astronaut, face)
    p = face.landmarks
    opened = rig.render(1.0, 0.0, 0.0, 0.0, 0.0)
    diff = np.abs(opened.astype(int) - astronaut.astype(int)).sum(axis=2)
    assert diff[: int(p[30, 1]) - 1].max() == 0  # above the nose tip nothing moves
    moved = portrait_landmarks.find_landmarks(opened)  # measured again on the rendered frame
    assert moved is not None
    travel = moved[:, 1] - p[:, 1] - (moved[30, 1] - p[30, 1])  # down, relative to the nose tip
    assert travel[[56, 57, 58]].mean() > 2.5 * abs(travel[[50, 51, 52]].mean())  # the jaw does the work
    assert travel[8] > 0.3 * travel[57]  # the chin drops with it
    x = int(p[51, 0])
    # the inside of the mouth: dark between the lips, not one flat colour
    gap = rig.mouth.gap_px(1.0) if rig.mouth else 0.0
    mid_y = int(p[[62, 66], 1].mean() + 0.6 * gap)
    inside = opened[mid_y - 2 : mid_y + 3, x - 6 : x + 7].astype(float)
    assert inside.mean() < 90 and inside.std() > 3
    assert np.array_equal(rig.render(0.0, 0.0, 0.0, 0.0, 0.0), astronaut)  # rest pose: the portrait


@pytest.mark.skipif(not portrait_landmarks.available(), reason="needs genserve[landmarks]")
def test_landmarks_of_a_turned_head_fall_back_to_haar(
    astronaut: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    points = portrait_landmarks.find_landmarks(astronaut)
    assert points is not None and plausible(points)
    turned = points.copy()
    turned[27:36, 0] += 0.3 * (points[16, 0] - points[0, 0])  # the nose near the cheek: a head turned away
    assert not plausible(turned)
    monkeypatch.setattr(portrait_landmarks, "find_landmarks", lambda rgb: turned)
    assert detect_face(astronaut).detector == "haar"


@pytest.mark.skipif(not portrait_landmarks.available(), reason="needs genserve[landmarks]")
def test_blink_closes_the_lids_along_the_eye_landmarks(astronaut: np.ndarray) -> None:
    face = detect_face(astronaut)
    assert face.landmarks is not None
    rig = PortraitRig(astronaut, face)
    shut = rig.render(0.0, 1.0, 0.0, 0.0, 0.0)
    for eye in (slice(36, 42), slice(42, 48)):
        pts = face.landmarks[eye]
        x0, x1 = int(pts[:, 0].min()), int(pts[:, 0].max()) + 1
        y0, y1 = int(pts[:, 1].min()), int(pts[:, 1].max()) + 1
        before, after = astronaut[y0:y1, x0:x1].astype(float), shut[y0:y1, x0:x1].astype(float)
        assert np.abs(after - before).mean() > 10  # the open eye is covered
        assert after.std() < before.std()  # by smooth lid skin, not the eye's dark and white
