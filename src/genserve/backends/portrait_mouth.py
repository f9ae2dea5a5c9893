"""The mouth driven by 68-point landmarks: jaw and lower lip drop, the upper lip nearly still, and
the inside of the mouth (a shaded cavity, upper teeth with the upper lip, lower teeth with the lower
lip) drawn between the inner lip contours.

The lower face is split at the lips' rest midline into an upper and a lower part. Each part gets a
piecewise-affine displacement field over its landmarks (a Delaunay mesh of the lips, jaw, nose,
midline and a fixed ring around the region; ``scipy.interpolate.griddata(method="linear")``),
computed once per job as two bases: per pixel of lip gap, and per unit of lip widening. A frame is
``gap * G + width * W`` for each part, inverted by fixed-point iteration and applied with one
``cv2.remap`` of the lower face; what opens between the two parts is the inside of the mouth. Where
the portrait already shows teeth between its lips, they stay with the lip they belong to (the rest
gap's upper half with the upper lip, its lower half with the lower lip); otherwise teeth are drawn.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.interpolate import griddata

# NOTE: in speech the jaw does most of the opening: the lower lip travels several times as far as
# the upper lip (relative to the nose). Shares of the inner-lip gap at the lips' centre:
LOWER_SHARE = 0.9
UPPER_SHARE = 0.1
CORNER_DROP = 0.3  # mouth corners follow the jaw a little
CHIN_SHARE = 0.72  # the chin drops this share of the lower lip's travel
GAP_PER_OPENING = 0.32  # inner-lip gap at opening 1.0, as a fraction of the mouth's width
WIDEN = 0.1  # corners move out (wide, +1) or in (rounded, -1) by this fraction of the mouth width
CAVITY_RGB = np.array([58, 20, 24], np.float32)  # the shadowed back of the mouth
TONGUE_RGB = np.array([140, 62, 66], np.float32)
TOOTH_RGB = np.array([236, 230, 214], np.float32)
GRAIN_STD = 5.0  # grey levels of fine texture inside the mouth
FIELD_STEP = 4  # pixels between the nodes where the mesh is evaluated exactly
MIDLINE_POINTS = 11  # control points along the lips' midline, corners included


def _jaw_share(k: int) -> float:
    """How far jaw point k (3..13) drops, relative to the chin (8): the jaw turns about the ear."""
    return float(np.clip(1.0 - abs(k - 8) / 5.2, 0.0, 1.0) ** 1.3)


class LandmarkMouth:
    """Precomputed fields for one portrait's lower face; ``apply`` draws any (gap, width) in place."""

    def __init__(self, base: np.ndarray, pts: np.ndarray) -> None:
        height, width = base.shape[:2]
        p = pts.astype(np.float64)
        self.mouth_w = float(np.hypot(*(p[54] - p[48])))
        self.cx = float((p[48, 0] + p[54, 0]) / 2)
        chin, nose = p[8], p[30]
        face_len = float(chin[1] - nose[1])
        # 1. the region: nose tip to under the chin, jaw to jaw
        x0 = max(0, int(np.floor(min(p[2:15, 0]) - 0.08 * self.mouth_w)))
        x1 = min(width, int(np.ceil(max(p[2:15, 0]) + 0.08 * self.mouth_w)))
        y0 = max(0, int(np.floor(nose[1])))
        y1 = min(height, int(np.ceil(chin[1] + 0.45 * face_len)))
        self.rows, self.cols = slice(y0, y1), slice(x0, x1)
        gy, gx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        self.gx, self.gy = gx, gy
        # 2. the rest midline between the inner lips, corner to corner (the seam between the parts)
        upper_in, lower_in = p[[60, 61, 62, 63, 64]], p[[60, 67, 66, 65, 64]]
        self.rest_gap = float(np.max(lower_in[:, 1] - upper_in[:, 1]))
        # where the parts split: between the inner lips, at the darkest row (where upper teeth end)
        mid = upper_in + self._split_fraction(base, upper_in, lower_in) * (lower_in - upper_in)
        self.mid = mid
        corner_l, corner_r = (p[48] + p[60]) / 2, (p[54] + p[64]) / 2
        seam_y_l, seam_y_r = mid[0, 1], mid[-1, 1]
        lateral = [
            (corner_l[0] - 0.5 * (corner_l[0] - p[4, 0]), seam_y_l, 0.5),
            (p[3, 0], seam_y_l, 0.05),
            (corner_r[0] + 0.5 * (p[12, 0] - corner_r[0]), seam_y_r, 0.5),
            (p[13, 0], seam_y_r, 0.05),
        ]
        # 3. control points: (x, y, gap_dx, gap_dy, width_dx, width_dy) per unit gap / unit width
        half = self.mouth_w / 2

        def widen(x: float, share: float = 1.0) -> float:
            return WIDEN * self.mouth_w * share * float(np.clip((x - self.cx) / half, -1.2, 1.2))

        common: list[tuple[float, ...]] = []
        for k in (48, 54, 60, 64):
            common.append((p[k, 0], p[k, 1], 0.0, CORNER_DROP, widen(p[k, 0]), 0.0))
        for x, y, share in lateral:
            common.append((x, y, 0.0, CORNER_DROP * share, widen(x, share * 0.6), 0.0))
        ring = [(x, y, 0.0, 0.0, 0.0, 0.0) for x in np.linspace(x0, x1 - 1, 6) for y in (y0, y1 - 1)] + [
            (x, y, 0.0, 0.0, 0.0, 0.0) for y in np.linspace(y0, y1 - 1, 6)[1:-1] for x in (x0, x1 - 1)
        ]
        upper: list[tuple[float, ...]] = list(common) + ring
        for k in range(31, 36):
            upper.append((p[k, 0], p[k, 1], 0.0, 0.0, 0.0, 0.0))
        for k, lift in ((49, 0.5), (50, 0.8), (51, 0.85), (52, 0.8), (53, 0.5)):
            upper.append((p[k, 0], p[k, 1], 0.0, -UPPER_SHARE * lift, widen(p[k, 0], 0.8), 0.0))
        lower: list[tuple[float, ...]] = list(common) + ring
        for k in range(3, 14):
            lower.append((p[k, 0], p[k, 1], 0.0, LOWER_SHARE * CHIN_SHARE * _jaw_share(k), 0.0, 0.0))
        for k, share in ((55, 0.6), (56, 0.9), (57, 0.95), (58, 0.9), (59, 0.6)):
            lower.append((p[k, 0], p[k, 1], 0.0, LOWER_SHARE * share, widen(p[k, 0], 0.8), 0.0))
        under = chin + np.array([0.0, 0.22 * face_len])
        lower.append((under[0], under[1], 0.0, 0.3 * LOWER_SHARE, 0.0, 0.0))
        between = (p[57] + chin) / 2
        lower.append((between[0], between[1], 0.0, 0.85 * LOWER_SHARE, 0.0, 0.0))
        # the midline (and the inner lips when the portrait's mouth is open) move with their part: the
        # gap opens as a smooth lens, widest at the centre
        order = np.argsort(mid[:, 0])
        mx = np.linspace(mid[0, 0], mid[-1, 0], MIDLINE_POINTS)
        my = np.interp(mx, mid[order, 0], mid[order, 1])
        prof = self._profile(mx, mid[0, 0], mid[-1, 0])
        up_dy = CORNER_DROP + (-UPPER_SHARE - CORNER_DROP) * prof
        lo_dy = CORNER_DROP + (LOWER_SHARE - CORNER_DROP) * prof
        wx = np.array([widen(x) for x in mx])
        for x, y, du, dl, w in zip(mx[1:-1], my[1:-1], up_dy[1:-1], lo_dy[1:-1], wx[1:-1], strict=True):
            upper.append((x, y, 0.0, du, w, 0.0))
            lower.append((x, y, 0.0, dl, w, 0.0))
        for k_up, k_lo in ((61, 67), (62, 66), (63, 65)):
            if p[k_lo, 1] - p[k_up, 1] > 2.0:
                pr = float(self._profile(np.array([p[k_up, 0]]), mid[0, 0], mid[-1, 0])[0])
                du = CORNER_DROP + (-UPPER_SHARE - CORNER_DROP) * pr
                dl = CORNER_DROP + (LOWER_SHARE - CORNER_DROP) * pr
                upper.append((p[k_up, 0], p[k_up, 1], 0.0, du, widen(p[k_up, 0]), 0.0))
                lower.append((p[k_lo, 0], p[k_lo, 1], 0.0, dl, widen(p[k_lo, 0]), 0.0))
        fields = [self._field(np.array(s, np.float64), gx, gy) for s in (upper, lower)]
        # per part: (displacement per pixel of gap, per unit of width), (H, W, 2) each
        self.parts = [(np.ascontiguousarray(f[..., :2]), np.ascontiguousarray(f[..., 2:])) for f in fields]
        self.lx, self.ly = gx - x0, gy - y0  # region coordinates
        self.region = np.ascontiguousarray(base[y0:y1, x0:x1])
        self.mid_x, self.mid_y, self.mid_wx = (
            mx,
            my,
            np.array([widen(mid[0, 0]), *wx[1:-1], widen(mid[-1, 0])]),
        )
        self.mid_up, self.mid_lo = up_dy, lo_dy
        # 4. the painted inside: a fixed fine grain so the cavity never reads as a flat slab
        rng = np.random.default_rng(17)
        grain = rng.normal(0.0, 1.0, gx.shape).astype(np.float32)
        # NOTE: grain the size of ~1/60 of the mouth's width survives H.264 at any resolution
        sigma = max(0.6, self.mouth_w / 60.0)
        grain = cv2.GaussianBlur(grain, (0, 0), sigma)
        self.grain = grain * (GRAIN_STD / max(float(grain.std()), 1e-6))
        # a grey photo gets a grey mouth: the painted colours keep the lower face's own saturation
        face_rgb = base[self.rows, self.cols].reshape(-1, 3).astype(np.float32)
        chroma = float(np.abs(face_rgb - face_rgb.mean(axis=1, keepdims=True)).mean())
        self.colour = float(np.clip(chroma / 12.0, 0.0, 1.0))
        self.light = float(np.clip(np.percentile(face_rgb.mean(axis=1), 90) / 235.0, 0.55, 1.0))
        cast = face_rgb.mean(axis=0) / max(float(face_rgb.mean()), 1.0)
        self.cast = np.clip(cast, 0.7, 1.3) ** 0.35  # the light's colour, mildly, on the teeth
        self.teeth_in_portrait = self.rest_gap > 0.06 * self.mouth_w and self._gap_is_bright(
            base, upper_in, lower_in
        )

    @staticmethod
    def _field(points: np.ndarray, gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
        """(H, W, 4) piecewise-affine interpolation of the control points' (gap, width) displacements."""
        # duplicates (closed lips give coincident inner points) would be dropped by qhull anyway
        _, keep = np.unique(np.round(points[:, :2], 1), axis=0, return_index=True)
        pts = points[np.sort(keep)]
        # 1. the mesh interpolation on a coarse grid (every FIELD_STEP pixels, edges included) ...
        h, w = gx.shape
        rows = np.unique(np.append(np.arange(0, h, FIELD_STEP), h - 1))
        cols = np.unique(np.append(np.arange(0, w, FIELD_STEP), w - 1))
        cx, cy = gx[0, cols], gy[rows, 0]
        coarse_x, coarse_y = np.meshgrid(cx, cy)
        values = griddata(pts[:, :2], pts[:, 2:], (coarse_x, coarse_y), method="linear", fill_value=0.0)
        # 2. ... read at every pixel (bilinear between grid nodes: still piecewise smooth, 10x faster)
        fx = np.interp(gx[0], cx, np.arange(len(cx))).astype(np.float32)
        fy = np.interp(gy[:, 0], cy, np.arange(len(cy))).astype(np.float32)
        map_x, map_y = np.meshgrid(fx, fy)
        return np.asarray(
            cv2.remap(np.asarray(values, np.float32), map_x, map_y, cv2.INTER_LINEAR), np.float32
        )

    @staticmethod
    def _split_fraction(base: np.ndarray, upper_in: np.ndarray, lower_in: np.ndarray) -> float:
        """0.5 for closed lips; for a portrait showing teeth, the darkest row in the lower part of the
        gap (under the upper teeth), so the upper teeth stay whole with the upper lip."""
        top, bottom = float(upper_in[2, 1]), float(lower_in[2, 1])
        if bottom - top < 4.0:
            return 0.5
        x0, x1 = round(upper_in[1, 0]), round(upper_in[3, 0]) + 1
        rows = np.arange(round(top + 0.45 * (bottom - top)), round(top + 0.95 * (bottom - top)) + 1)
        rows = rows[(rows >= 0) & (rows < base.shape[0])]
        if len(rows) == 0 or x1 <= x0:
            return 0.5
        profile = base[rows, max(0, x0) : x1].astype(np.float32).mean(axis=(1, 2))
        return float(np.clip((rows[int(np.argmin(profile))] - top) / (bottom - top), 0.45, 0.95))

    @staticmethod
    def _gap_is_bright(base: np.ndarray, upper_in: np.ndarray, lower_in: np.ndarray) -> bool:
        poly = np.concatenate([upper_in, lower_in[::-1]]).round().astype(np.int32)
        mask = np.zeros(base.shape[:2], np.uint8)
        cv2.fillPoly(mask, [poly], 1)
        if mask.sum() < 4:
            return False
        inside = base[mask.astype(bool)].astype(np.float32).mean(axis=0)
        return bool(inside.mean() > 120)

    def gap_px(self, opening: float) -> float:
        return float(opening) * GAP_PER_OPENING * self.mouth_w

    def apply(self, frame: np.ndarray, gap: float, width: float = 0.0) -> None:
        """Open the mouth by ``gap`` pixels (inner lips, at the centre) with ``width`` in [-1, 1]
        (rounded .. wide), in place."""
        if gap < 0.05:
            return
        # 1. each part's displacement this frame, inverted by fixed-point iteration: src = p - D(src)
        #    (the upper part moves little: one step is exact to a hundredth of a pixel)
        maps = []
        for steps, (per_gap, per_width) in zip((1, 3), self.parts, strict=True):
            disp = cv2.addWeighted(per_gap, gap, per_width, width, 0.0)
            qx, qy = self.lx - disp[..., 0], self.ly - disp[..., 1]  # the first step: D at p itself
            for _ in range(steps - 1):
                d = cv2.remap(disp, qx, qy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                qx, qy = self.lx - d[..., 0], self.ly - d[..., 1]
            maps.append((qx, qy))
        # 2. where the mouth opens: the displaced midline of each part, column by column
        xs = self.gx[0]
        top, bot, mids = self._curves(gap, width, xs)
        open_cols = bot - top > 0.5
        split = np.where(open_cols, (top + bot) / 2, top)
        use_upper = self.gy < split[None, :]
        map_x = np.where(use_upper, maps[0][0], maps[1][0])
        map_y = np.where(use_upper, maps[0][1], maps[1][1])
        out = cv2.remap(self.region, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
        # 3. the inside of the mouth, anti-aliased against the lips, on the rows it spans
        if open_cols.any():
            y0 = max(0, int(np.floor(top[open_cols].min())) - 1 - self.rows.start)
            y1 = min(out.shape[0], int(np.ceil(bot[open_cols].max())) + 2 - self.rows.start)
            band = slice(y0, y1)
            gy = self.gy[band]
            cover = np.clip(gy - top[None, :] + 0.5, 0.0, 1.0) * np.clip(bot[None, :] - gy + 0.5, 0.0, 1.0)
            cover[:, ~open_cols] = 0.0
            k = cover[..., None]
            inside = self._paint(top, bot, mids, gap, band)
            out[band] = (out[band].astype(np.float32) * (1.0 - k) + inside * k).clip(0, 255).astype(np.uint8)
        frame[self.rows, self.cols] = out

    def _curves(self, gap: float, width: float, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """Per column: the upper part's and the lower part's displaced midline (top, bottom of the gap)."""
        px = self.mid_x + width * self.mid_wx
        top = np.interp(xs, px, self.mid_y + gap * self.mid_up)
        bot = np.interp(xs, px, self.mid_y + gap * self.mid_lo)
        outside = (xs < px[0]) | (xs > px[-1])
        bot[outside] = top[outside]
        bot = np.maximum(bot, top)
        return top.astype(np.float32), bot.astype(np.float32), float((px[0] + px[-1]) / 2)

    @staticmethod
    def _profile(x: np.ndarray, left: float, right: float) -> np.ndarray:
        """0 at the mouth corners, 1 at the centre: how much of the centre's travel a point makes."""
        u = (x - (left + right) / 2) / max((right - left) / 2, 1e-3)
        return np.asarray(np.clip(1.0 - u**2, 0.0, 1.0) ** 0.6, np.float64)

    def _paint(self, top: np.ndarray, bot: np.ndarray, centre: float, gap: float, band: slice) -> np.ndarray:
        """RGB float32 of the open mouth over the region's rows ``band``: cavity, tongue, teeth, grain."""
        gx, gy = self.gx[band], self.gy[band]
        span = np.maximum(bot - top, 1e-3)[None, :]
        v = np.clip((gy - top[None, :]) / span, 0.0, 1.0)  # 0 at the upper lip .. 1 at the lower
        half = max(1.0, float(np.count_nonzero(bot - top > 0.5)) / 2)
        u = np.clip((gx - centre) / half, -1.0, 1.0)
        depth = (1.0 - u**2) ** 0.5
        # cavity: darkest at the back and toward the corners; the tongue lighter at the bottom centre
        # NOTE: the shading is strong on purpose: H.264 flattens dark, gently graded areas into a slab
        out = CAVITY_RGB[None, None, :] * ((0.35 + 0.65 * (1.0 - u**2)) * (0.55 + 0.9 * v))[..., None]
        tongue = np.clip((v - 0.45) / 0.55, 0.0, 1.0) ** 1.2 * depth * min(1.0, gap / (0.1 * self.mouth_w))
        out = out * (1.0 - 0.7 * tongue[..., None]) + TONGUE_RGB * (0.7 * tongue[..., None])
        if not self.teeth_in_portrait:
            # upper incisors hang from the upper lip, lower teeth show a little above the lower lip
            reach = np.clip(1.0 - (u / 0.82) ** 2, 0.0, 1.0) ** 0.5
            up_h = np.minimum(0.42 * span, 0.15 * self.mouth_w) * reach
            lo_h = np.minimum(0.14 * span, 0.05 * self.mouth_w) * reach
            dy_top = gy - top[None, :]
            dy_bot = bot[None, :] - gy
            shade = 0.62 + 0.38 * (1.0 - np.abs(u) ** 1.5)
            seams = np.abs(np.sin(np.pi * (u * 4.2 + 0.5)))  # incisor and canine boundaries
            shade = shade * (0.9 + 0.1 * np.clip(seams * 4.0, 0.0, 1.0))
            lip_shadow = 0.7 + 0.3 * np.clip(dy_top / np.maximum(0.35 * up_h, 1.0), 0.0, 1.0)
            upper_t = np.clip(up_h - dy_top + 0.5, 0.0, 1.0) * (up_h > 0.4)
            lower_t = np.clip(lo_h - dy_bot + 0.5, 0.0, 1.0) * (lo_h > 0.4)
            tooth = TOOTH_RGB * self.light * self.cast  # teeth are lit like the face around them
            tooth_up = tooth * (shade * lip_shadow)[..., None]
            tooth_lo = tooth * (0.6 * shade)[..., None]
            out = out * (1.0 - upper_t[..., None]) + tooth_up * upper_t[..., None]
            out = out * (1.0 - lower_t[..., None]) + tooth_lo * lower_t[..., None]
        if self.colour < 1.0:
            luma = (out @ np.array([0.299, 0.587, 0.114], np.float32))[..., None]
            out = luma + (out - luma) * self.colour
        return out + self.grain[band][..., None]
