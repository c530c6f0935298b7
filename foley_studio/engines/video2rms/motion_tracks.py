"""Contacts of compact objects from tracked foreground blobs (the flow-free motion cue).

Dense optical flow at analysis size cannot follow a small object that moves about its
own size per frame (a ball at impact speed): the object vanishes at the coarse pyramid
levels that flow needs for large motions. Its silhouette, however, stands out against a
background model (motion_background.py), so this cue follows silhouettes instead:

* foreground blobs (connected components) are linked frame to frame into tracks: nearest
  to where the object would be or where it was (a bounce, a stop), similar area;
* a track's centroid gives the object's velocity (camera motion removed), and a contact
  is a change of that velocity: strength = |dv| times the blob's area as a fraction of
  the frame, in the flow cue's units (frame widths per second, area-weighted);
* what a centroid does without the object moving is not a contact: pixel noise, a shape
  change (a blob that grows or splits moves its centroid), and the object's own typical
  velocity change over its last frames (gravity, a wobble).

A contact between two frames splits its velocity change between the second differences
centred on them in proportion to where it happened, so the strength-weighted time of the
two (motion.py does that) lands near the true instant. Blobs touching the frame's edge
(entering, leaving, or the strip a pan brings in) never make contacts.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from foley_studio.engines.video2rms.motion_background import FOREGROUND_LEVEL, BackgroundModel, camera_inverse

MIN_AREA = 8  # px at analysis size; smaller blobs are speckle
MAX_BLOBS = 24  # the largest blobs only: a cluttered frame is the flow cue's job
# centroid error (px at analysis size) of a blob, per frame: below it no velocity change.
# Boundary pixels flicker, so it shrinks with the blob's size: CENTROID_NOISE_PX / sqrt(area),
# but not below the error of the best fits (nor below a source pixel, see TrackContacts)
CENTROID_NOISE_PX = 2.0
CENTROID_NOISE_MIN_PX = 0.25
JITTER_FRAMES = 6  # a track's typical velocity change: the median over about this many frames
# blobs covering more than this fraction of the frame mean a global change (a light, a cut)
GLOBAL_CHANGE = 0.25
# a followed blob up to this fraction of the frame is a compact object (a ball, a box): its
# contacts are taken from its track, not from flow; larger ones (a person) keep the flow
COMPACT = 0.02
OWNED_MARGIN_PX = 6  # around an owned object (flow patches reach that far, at 160 px width)
# a blob that stays within REST_PX of one place for REST_FRAMES frames rests (a landed object,
# the ghost of one that left): it goes into the background, and its track ends
REST_PX = 1.0
REST_FRAMES = 10


# a pixel's weight in a blob's centroid (see TrackContacts.push) as a table: one cv2.LUT
# call, where cv2.min and cv2.subtract with Python numbers cost two slow ones
_WEIGHT = np.clip(np.arange(256) - FOREGROUND_LEVEL, 0, FOREGROUND_LEVEL).astype(np.uint8)


class _Track:
    __slots__ = ("x", "y", "area", "mass", "clipped", "t", "jitter", "anchor", "rest")

    def __init__(self, x: float, y: float, area: float, mass: float, clipped: bool, t: float):
        # last three observations, oldest first (mass: the summed difference from the background)
        self.x, self.y, self.area, self.mass, self.clipped, self.t = [x], [y], [area], [mass], [clipped], [t]
        self.jitter: list[float] = []  # the last few velocity changes above the noise floor
        self.anchor = (x, y)  # where it has been resting for `rest` frames
        self.rest = 0

    def move(self, m: list) -> None:
        """Apply the 2x3 affine map m (nested lists) to the kept positions."""
        (a, b, c), (d, e, f) = m
        for i, (x, y) in enumerate(zip(self.x, self.y)):
            self.x[i], self.y[i] = a * x + b * y + c, d * x + e * y + f
        x, y = self.anchor
        self.anchor = (a * x + b * y + c, d * x + e * y + f)

    def add(self, x: float, y: float, area: float, mass: float, clipped: bool, t: float) -> None:
        # the six lists always have the same length: one test for all (a hot loop)
        self.x.append(x)
        self.y.append(y)
        self.area.append(area)
        self.mass.append(mass)
        self.clipped.append(clipped)
        self.t.append(t)
        if len(self.x) > 3:
            del self.x[0], self.y[0], self.area[0], self.mass[0], self.clipped[0], self.t[0]
        if abs(x - self.anchor[0]) + abs(y - self.anchor[1]) <= REST_PX:
            self.rest += 1
        else:
            self.anchor, self.rest = (x, y), 0


class TrackContacts:
    """Streams frames of one size (grey, and RGB where there is one) with their camera
    motion; for each frame after the first, the contact strength attributed to the previous
    frame (see module doc).

    camera: 2x3 affine of displacements at this size, frame_t(x) ~ frame_{t-1}(x + C [x, 1]).
    roi_mask: optional bool (H, W); only tracks whose centroid lies inside count.
    source_px: the size of one pixel of the source video at this size (0.25 for 640 px
    video analysed at 160): things are drawn on the source's pixel grid, so a centroid is
    not known much better than that.
    """

    def __init__(
        self, shape: tuple[int, int], roi_mask: np.ndarray | None = None, source_px: float = 0.25
    ):
        h, w = shape
        self.shape = (h, w)
        self._size = (w, h)
        self._norm = 1.0 / (w * h) / w  # area fraction times frame widths
        self._mask = roi_mask
        self._noise_min = max(CENTROID_NOISE_MIN_PX, float(source_px))
        self.background = BackgroundModel((h, w))
        self._tracks: list[_Track] = []
        self._max_area = GLOBAL_CHANGE * w * h
        self._compact_area = COMPACT * w * h
        # boxes (x0, y0, x1, y1) around the compact objects in the current frame (also those
        # entering it, or seen for the first time), and the subset whose contacts are
        # measured here, better than dense flow can: followed for three frames, all in view
        self.compact: list[tuple[int, int, int, int]] = []
        self.owned: list[tuple[int, int, int, int]] = []

    def push(
        self, t: float, gray: np.ndarray, camera: np.ndarray, colour: np.ndarray | None = None
    ) -> float:
        """colour: the same frame as RGB (H, W, 3) uint8, if there is one."""
        fg, moved = self.background.push(gray, camera, colour)
        if moved:  # earlier positions into this frame's coordinates
            inv = camera_inverse(camera).tolist()
            for tr in self._tracks:
                tr.move(inv)
        x, y, bw, bh = cv2.boundingRect(fg)
        if bw == 0 or bw * bh < MIN_AREA:
            self._tracks, self.owned, self.compact = [], [], []
            return 0.0
        # labelling costs by the pixel: only the part of the frame that holds foreground
        crop = fg[y : y + bh, x : x + bw]
        _, labels, stats, centroids = cv2.connectedComponentsWithStatsWithAlgorithm(
            crop, 8, cv2.CV_16U, cv2.CCL_SPAGHETTI
        )
        # few blobs: plain Python beats numpy's per-call cost from here on
        every = stats.tolist()
        rows = [(label, box, area) for label, (*box, area) in enumerate(every[1:], start=1) if area >= MIN_AREA]
        if len(rows) < len(every) - 1:  # speckle: only objects are held out of the background
            speckle = stats[:, cv2.CC_STAT_AREA] < MIN_AREA
            speckle[0] = True
            crop[speckle[labels]] = 0
            self.background.hold(fg)
        if sum(r[2] for r in rows) > self._max_area:
            self._tracks, self.owned, self.compact = [], [], []  # a light switched, a cut
            return 0.0
        if len(rows) > MAX_BLOBS:
            rows = sorted(rows, key=lambda r: -r[2])[:MAX_BLOBS]
        # weight of a pixel: how far past the foreground level it is, up to as far again
        difference = cv2.LUT(self.background.difference[y : y + bh, x : x + bw], _WEIGHT)
        # the centroid weighted by how clearly each pixel differs from the background: the
        # faint rim that compression rings around a moving edge hardly moves it
        m00, m10, m01 = _weighted_moments(labels, difference, len(every), crop)
        blobs = []
        for label, (left, top, bw_, bh_), area in rows:
            # about the blob's box corner, as cv2.moments of its box gave them (whole numbers
            # in float64, so the same values to the last bit)
            mass = max(m00[label], 1e-9)
            cx = (m10[label] - left * m00[label]) / mass + left + x
            cy = (m01[label] - top * m00[label]) / mass + top + y
            blobs.append((cx, cy, float(area), left + x, top + y, left + x + bw_, top + y + bh_, label, mass))
        total, resting = self._link(float(t), blobs)
        if resting:
            mask = np.zeros_like(fg)
            mask[y : y + bh, x : x + bw][np.isin(labels, resting)] = 255
            self.background.absorb(mask)
        return total

    def _link(self, t: float, blobs: list[tuple]) -> tuple[float, list[int]]:
        """blobs: (centroid x, y, area, x0, y0, x1, y1, label, mass) each. The contact
        strength, and the labels of the blobs that have come to rest."""
        w, h = self._size
        # a blob this close to an edge is cut by it (or by the strip a pan brings in)
        left, top, right, bottom = self.background.margins
        lo_x, lo_y, hi_x, hi_y = left, top, w - right, h - bottom
        # greedy matching, closest pairs first
        pairs = []
        for ti, tr in enumerate(self._tracks):
            px, py = lx, ly = tr.x[-1], tr.y[-1]
            speed = 0.0
            if len(tr.x) >= 2:
                r = (t - tr.t[-1]) / max(tr.t[-1] - tr.t[-2], 1e-3)
                dx, dy = px - tr.x[-2], py - tr.y[-2]
                px, py = px + r * dx, py + r * dy
                speed = abs(dx) + abs(dy)
            a = tr.area[-1]
            reach = 2.0 + 0.6 * math.sqrt(a) + 0.5 * speed
            a_lo, a_hi = 0.67 * a, 1.5 * a
            for bi, blob in enumerate(blobs):  # indexing: star-unpacking builds a list per blob
                if not a_lo <= blob[2] <= a_hi:
                    continue
                bx, by = blob[0], blob[1]
                # near where it would be, or near where it was (a bounce, a stop)
                d = min(abs(bx - px) + abs(by - py), abs(bx - lx) + abs(by - ly))
                if d <= reach:
                    pairs.append((d, ti, bi))
        pairs.sort()
        used_t, used_b = set(), set()
        tracks, resting = [], []
        total = 0.0
        self.owned, self.compact = [], []
        for _, ti, bi in pairs:
            if ti in used_t or bi in used_b:
                continue
            used_t.add(ti)
            used_b.add(bi)
            bx, by, ba, x0, y0, x1, y1, label, mass = blobs[bi]
            tr = self._tracks[ti]
            tr.add(bx, by, ba, mass, x0 <= lo_x or y0 <= lo_y or x1 >= hi_x or y1 >= hi_y, t)
            total += self._contact(tr)
            if tr.rest >= REST_FRAMES:
                resting.append(label)
                continue
            tracks.append(tr)
            if ba <= self._compact_area:
                # the object and where it was two frames ago, with the reach of flow patches
                m = int(OWNED_MARGIN_PX + abs(tr.x[-1] - tr.x[0]) + abs(tr.y[-1] - tr.y[0]))
                box = (max(x0 - m, 0), max(y0 - m, 0), min(x1 + m, w), min(y1 + m, h))
                self.compact.append(box)
                if len(tr.x) == 3 and not any(tr.clipped):
                    self.owned.append(box)
        for bi, (bx, by, ba, x0, y0, x1, y1, _, mass) in enumerate(blobs):
            if bi not in used_b:
                tracks.append(_Track(bx, by, ba, mass, x0 <= lo_x or y0 <= lo_y or x1 >= hi_x or y1 >= hi_y, t))
                if ba <= self._compact_area:  # new here: where it came from is unknown
                    m = 2 * OWNED_MARGIN_PX
                    self.compact.append((max(x0 - m, 0), max(y0 - m, 0), min(x1 + m, w), min(y1 + m, h)))
        self._tracks = tracks
        return total, resting

    def _contact(self, tr: _Track) -> float:
        if len(tr.x) < 3 or any(tr.clipped):
            return 0.0
        if self._mask is not None:  # the ROI holds where the contact happened
            col, row = int(tr.x[1]), int(tr.y[1])
            h, w = self.shape
            if not (0 <= row < h and 0 <= col < w and self._mask[row, col]):
                return 0.0
        dt0 = max(tr.t[1] - tr.t[0], 1e-3)
        dt1 = max(tr.t[2] - tr.t[1], 1e-3)
        v0x, v0y = (tr.x[1] - tr.x[0]) / dt0, (tr.y[1] - tr.y[0]) / dt0
        v1x, v1y = (tr.x[2] - tr.x[1]) / dt1, (tr.y[2] - tr.y[1]) / dt1
        dv = math.hypot(v1x - v0x, v1y - v0y)
        speeding_up = max(math.hypot(v1x, v1y) - math.hypot(v0x, v0y), 0.0)
        # a blob that changes shape moves its centroid without moving: about its radius
        # times the relative change of its mass
        mean_area = sum(tr.area) / 3.0
        root = math.sqrt(mean_area)
        m0, m1, m2 = tr.mass
        shape = 0.5 * root * (abs(m1 - m0) + abs(m2 - m1)) / max((m0 + m1 + m2) / 3.0, 1e-9)
        noise = max(self._noise_min, CENTROID_NOISE_PX / root)
        # (one source pixel more or less of a rendered object is both: the larger counts)
        floor = max(noise, shape) * (1.0 / dt0 + 1.0 / dt1)
        strength = dv - 0.5 * speeding_up - floor
        # what this object does all the time (gravity, a wobble, pixel steps of a slow
        # motion) is not a contact: its median velocity change over the last few frames,
        # leaving out this one and the one before, which may hold the first half of it
        history = tr.jitter
        history.append(max(strength, 0.0))
        if len(history) > JITTER_FRAMES + 1:
            del history[0]
        if len(history) >= 4:
            strength -= sorted(history[:-2])[(len(history) - 2) // 2]
        if strength <= 0:
            return 0.0
        return strength * mean_area * self._norm


def _weighted_moments(labels: np.ndarray, weight: np.ndarray, n: int, mask: np.ndarray) -> tuple[list, list, list]:
    """Per label 0..n-1: the sums of weight, weight * x and weight * y over its pixels where
    mask (uint8) is nonzero, x and y counted from labels' corner.

    One pass over the foreground pixels for all blobs: cv2.moments per blob (a box, a mask
    and a dict of 24 moments each) costs more. weight is uint8, so every sum is a whole
    number, exact in float64: the same values as cv2.moments to the last bit.
    """
    points = cv2.findNonZero(mask)  # faster than numpy's nonzero on these small pictures
    if points is None:
        return [0.0] * n, [0.0] * n, [0.0] * n
    points = points.reshape(-1, 2)
    cols, rows = points[:, 0], points[:, 1]
    idx = rows * labels.shape[1] + cols
    lab = labels.ravel().take(idx)
    wt = weight.ravel().take(idx).astype(np.float64)
    sums = (np.bincount(lab, wt, n), np.bincount(lab, wt * cols, n), np.bincount(lab, wt * rows, n))
    return sums[0].tolist(), sums[1].tolist(), sums[2].tolist()
