"""The local warp that animates a portrait frame: jaw and lips, eyelids, and the head inside the frame.

Every frame is one ``cv2.remap`` of the head region only (the background never moves): an
inverse map built from precomputed fields (head weight, rotation lever arms) plus piecewise-linear
remappings of the rows around the eyes, composed after the head motion so the lids follow the head.
With landmarks the mouth is drawn first by ``portrait_mouth.LandmarkMouth`` (jaw and lower lip,
the inside of the mouth); without them (the Haar path) the rows around the mouth are remapped too
and opening the mouth stretches the (darkened) lip line into the gap.
"""

from __future__ import annotations

import cv2
import numpy as np

from genserve.backends.portrait_face import FaceLayout
from genserve.backends.portrait_mouth import LandmarkMouth

MAX_OPENING_FRAC = 0.08  # lip gap at opening 1.0, as a fraction of the face box height
UPPER_LIP_SHARE = 0.2  # the upper lip rises by this share of the lip gap
JAW_SHARE = 0.35  # of the opening, the part the whole lower face drops (a stretch, no gap)
INTERIOR_RGB = np.array([40, 12, 14], np.float32)  # the shadowed inside of a mouth


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _span(lo: float, hi: float, limit: int) -> slice:
    return slice(max(0, int(np.floor(lo))), max(0, min(limit, int(np.ceil(hi)))))


def _raised_cosine(centre: float, half_width: float, n: int = 65) -> tuple[np.ndarray, np.ndarray]:
    xs = np.linspace(centre - half_width, centre + half_width, n)
    return xs, 0.5 * (1.0 + np.cos(np.pi * (xs - centre) / half_width))


class PortraitRig:
    """A still frame and its face, ready to render any (mouth, eyelids, head pose) quickly."""

    def __init__(self, base: np.ndarray, face: FaceLayout) -> None:
        self.base = np.ascontiguousarray(base)
        self.face = face
        self.mouth = None if face.landmarks is None else LandmarkMouth(self.base, face.landmarks)
        height, width = base.shape[:2]
        fx, fy, fw, fh = face.x, face.y, face.w, face.h
        # 1. the head region and its weight: 1 on the head, easing to 0 at the region's edge
        self.rows = _span(fy - 0.6 * fh, fy + 1.75 * fh, height)
        self.cols = _span(fx - 0.45 * fw, fx + 1.45 * fw, width)
        gy, gx = np.mgrid[self.rows, self.cols].astype(np.float32)
        cx, cy, rx, ry = fx + fw / 2, fy + 0.55 * fh, 0.62 * fw, 0.82 * fh
        dist = np.sqrt(((gx - cx) / rx) ** 2 + ((gy - cy) / ry) ** 2)
        weight = (1.0 - _smoothstep((dist - 1.0) / 0.35)).astype(np.float32)
        px, py = cx, fy + 1.35 * fh  # heads turn about the neck
        self.gx, self.gy, self.weight = gx, gy, weight
        self.lever_x = (weight * (gy - py)).astype(np.float32)
        self.lever_y = (weight * (gx - px)).astype(np.float32)
        # 2. jaw and lips: rows around the mouth, relative to the head region
        mx, my = face.mouth
        self.band = max(1.0, 0.012 * fh)  # half-height of the lip line that becomes the gap
        self.jaw_rows = _span(
            my - 0.2 * fh - self.rows.start, face.chin_y + 0.45 * fh - self.rows.start, gx.shape[0]
        )
        self.jaw_cols = _span(mx - 0.5 * fw - self.cols.start, mx + 0.5 * fw - self.cols.start, gx.shape[1])
        self.jaw_profile = _raised_cosine(mx, 0.42 * fw)
        self.lip_rows = _span(my - 0.16 * fh - self.rows.start, my + 0.2 * fh - self.rows.start, gx.shape[0])
        self.lip_cols = _span(
            mx - 1.2 * face.mouth_half_width - self.cols.start,
            mx + 1.2 * face.mouth_half_width - self.cols.start,
            gx.shape[1],
        )
        self.lip_profile = _raised_cosine(mx, 1.15 * face.mouth_half_width)
        # 3. eyelids: one small region per eye
        self.eyes = []
        for ex, ey in (face.left_eye, face.right_eye):
            eh, ew = face.eye_height, face.eye_width
            rows = _span(ey - 1.9 * eh - self.rows.start, ey + 1.0 * eh - self.rows.start, gx.shape[0])
            cols = _span(ex - 0.8 * ew - self.cols.start, ex + 0.8 * ew - self.cols.start, gx.shape[1])
            self.eyes.append((rows, cols, _raised_cosine(ex, 0.75 * ew), ey))

    def opening_px(self, opening: float) -> float:
        if self.mouth is not None:
            return self.mouth.gap_px(opening)
        return float(opening) * MAX_OPENING_FRAC * self.face.h

    def render(
        self, opening: float, closure: float, tx: float, ty: float, roll: float, width: float = 0.0
    ) -> np.ndarray:
        """One RGB frame: mouth ``opening`` (mouth-curve units), eyelid ``closure`` (0..1), head pose;
        ``width`` (-1 rounded .. +1 wide) shapes the lips on the landmark path."""
        tx, ty, roll, closure = float(tx), float(ty), float(roll), float(closure)  # keep maps float32
        frame = self.base.copy()
        gap = self.opening_px(opening)
        if gap < 0.05 and closure < 1e-3 and tx == 0.0 and ty == 0.0 and roll == 0.0:
            return frame  # the rest pose is the portrait itself
        if self.mouth is not None:
            self.mouth.apply(frame, gap, float(width))
            gap = 0.0  # the mouth is drawn: the row remaps below only move the head and the lids
        elif gap >= 0.05:
            self._darken_lip_line(frame, gap)
        # 1. head motion: source = p - w(p) * (t + roll x (p - pivot)), small-angle
        map_x = self.gx - self.weight * tx + roll * self.lever_x
        map_y = self.gy - self.weight * ty - roll * self.lever_y
        # 2. jaw and lips, in head coordinates: the lower face stretches down (wide), then the lip
        #    line opens into a lens-shaped gap (narrow)
        if gap >= 0.05:
            jaw, lips = JAW_SHARE * gap, (1.0 - JAW_SHARE) * gap
            self._remap_rows(
                map_x, map_y, self.jaw_rows, self.jaw_cols, self.jaw_profile, self._jaw_knots(jaw)
            )
            self._remap_rows(
                map_x, map_y, self.lip_rows, self.lip_cols, self.lip_profile, self._lip_knots(lips)
            )
        # 3. eyelids: the skin above each eye slides down over it
        if closure >= 1e-3:
            for rows, cols, profile, ey in self.eyes:
                self._remap_rows(map_x, map_y, rows, cols, profile, self._lid_knots(ey, closure))
        frame[self.rows, self.cols] = cv2.remap(
            frame, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101
        )
        return frame

    def _jaw_knots(self, drop: float) -> tuple[np.ndarray, np.ndarray]:
        my, chin, tail = self.face.mouth[1], self.face.chin_y, 0.4 * self.face.h
        out = np.array([my, chin + drop, chin + tail])
        src = np.array([my, chin, chin + tail])
        return out, src

    def _lip_knots(self, gap: float) -> tuple[np.ndarray, np.ndarray]:
        my, fh, b = self.face.mouth[1], self.face.h, self.band
        up, down = 0.15 * fh, 0.18 * fh
        lift = UPPER_LIP_SHARE * gap
        out = np.array([my - up, my - b - lift, my + b + gap - lift, my + down])
        src = np.array([my - up, my - b, my + b, my + down])
        return out, src

    def _lid_knots(self, ey: float, closure: float) -> tuple[np.ndarray, np.ndarray]:
        eh = self.face.eye_height
        top, bottom = ey - eh / 2, ey + eh / 2
        out = np.array([top - 1.3 * eh, top + 0.95 * closure * eh, bottom + 0.45 * eh])
        src = np.array([top - 1.3 * eh, top, bottom + 0.45 * eh])
        return out, src

    @staticmethod
    def _remap_rows(
        map_x: np.ndarray,
        map_y: np.ndarray,
        rows: slice,
        cols: slice,
        profile: tuple[np.ndarray, np.ndarray],
        knots: tuple[np.ndarray, np.ndarray],
    ) -> None:
        """Blend a monotone row remapping into the map, weighted by a horizontal profile."""
        qx, qy = map_x[rows, cols], map_y[rows, cols]
        strength = np.interp(qx, profile[0], profile[1], left=0.0, right=0.0)
        far = np.array([-1e6]), np.array([1e6])  # identity outside the knots (np.interp would clamp)
        moved = np.interp(
            qy, np.concatenate([far[0], knots[0], far[1]]), np.concatenate([far[0], knots[1], far[1]])
        )
        map_y[rows, cols] = qy - strength * (qy - moved)

    def _darken_lip_line(self, frame: np.ndarray, gap: float) -> None:
        """Shade the lip line toward the inside of a mouth; the warp stretches it into the gap."""
        (mx, my), half = self.face.mouth, self.face.mouth_half_width
        rows = _span(my - self.band, my + self.band + 1, frame.shape[0])
        cols = _span(mx - half, mx + half + 1, frame.shape[1])
        xs = np.arange(cols.start, cols.stop, dtype=np.float32)
        lens = np.clip(1.0 - ((xs - mx) / half) ** 2, 0.0, 1.0) ** 0.6
        strength = 0.8 * min(1.0, gap / (0.025 * self.face.h))
        k = (strength * lens)[None, :, None]
        patch = frame[rows, cols].astype(np.float32)
        frame[rows, cols] = (patch * (1.0 - k) + INTERIOR_RGB * k).astype(np.uint8)
