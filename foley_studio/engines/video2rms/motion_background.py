"""A background model that follows the camera: what moves in a frame, as a mask.

For the blob cue (motion_tracks.py). A pixel joins the background once it has stayed
still for STILL_FRAMES frames, or for SETTLE_FRAMES where something is held (foreground
that is an object, not speckle: a landed object, the ghost an object leaves where it
started; the caller takes a whole resting object in at once with absorb()). A pixel that
just became foreground starts counting afresh: the leading edge of an object moving a
pixel a frame would otherwise look still, keep the background's count, and melt into the
background, trailing a smear. Foreground is every pixel that differs from the background
by more than FOREGROUND_LEVEL in any colour channel: a red ball on a brown floor can have
the floor's grey level, never its colour.

Following the camera cheaply: everything kept (previous picture, background, counts,
masks) is shifted by whole pixels as the camera's translation adds up; a zoom or a
rotation re-samples it with the affine. That leaves up to half a pixel of misalignment,
so while the camera moves (and a few frames after) both tests compare a pixel with the
range of its reference's 3x3 neighbourhood, and the strip a pan brings in at an edge is
never foreground. A still camera's estimate jitters by a tenth of a pixel: that is left
alone (following it would only blur the background).

Per frame this is about twenty small OpenCV calls on a 160x90 picture.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

STILL_LEVEL = 6  # grey levels a pixel may change by and still count as still (compression noise)
FOREGROUND_LEVEL = 14  # grey levels from the background that make a pixel foreground
STILL_FRAMES = 3  # still this long: the pixel is background (unless it is foreground)
# still this long: background even where something is held; a uniform object covers its
# middle for many frames as it turns at the top of a throw
SETTLE_FRAMES = 30
# camera motion (px per frame at analysis size, anywhere in the frame) below which the
# camera counts as still: the affine fit of a still shot stays under ~0.25 px
CAMERA_STILL_PX = 0.3
# zoom/rotation (px per frame at the corners, beyond the translation) followed by an affine
# re-sampling; up to it (and the half pixel a whole-pixel shift leaves) the tolerance copes
ZOOM_PX = 0.5
_HOLD = SETTLE_FRAMES - STILL_FRAMES  # value of the foreground mask: the extra frames it waits


class BackgroundModel:
    """Streams frames of one size with the camera motion of each (2x3 affine of
    displacements: frame_t(x) ~ frame_{t-1}(x + C [x, 1]))."""

    def __init__(self, shape: tuple[int, int]):
        self.shape = shape
        self._size = (shape[1], shape[0])
        self._prev: np.ndarray | None = None  # previous grey picture
        self._picture: np.ndarray | None = None  # previous picture as given (grey or RGB)
        self._background: np.ndarray | None = None  # grey or RGB, like the pictures
        self._still: np.ndarray | None = None  # frames each pixel has stayed still (uint8)
        self._held: np.ndarray | None = None  # objects (hold()), one pixel wider (0 or _HOLD)
        self._last_fg: np.ndarray | None = None  # the last foreground (0 or 255)
        self._offset = (0.0, 0.0)  # camera translation not yet applied to the above
        # px along each edge (left, top, right, bottom) that a moving camera brought into view
        # and has no background yet, and frames for which the kept pictures may be misaligned
        self._margins = (0, 0, 0, 0)
        self._misaligned = 0
        # the last frame's stillness test (255 where the picture did not change beyond the
        # camera motion), and the fraction of the picture (away from its edges) that changed
        self.quiet: np.ndarray | None = None
        self.changed_fraction = 0.0
        self.difference: np.ndarray | None = None  # the last picture's from the background
        # OpenCV takes a Python number as a 4-channel Scalar, about 2 us a call more than an
        # array of the value: constants as arrays, and scratch planes for splitting colour
        self._ones = np.ones(shape, np.uint8)
        self._hold_level = np.full(shape, _HOLD, np.uint8)
        self._planes = [np.empty(shape, np.uint8) for _ in range(3)]

    def push(
        self, gray: np.ndarray, camera: np.ndarray, colour: np.ndarray | None = None
    ) -> tuple[np.ndarray, bool]:
        """Foreground mask (uint8, nonzero where foreground) of this frame, and whether the
        camera moved (then earlier positions need camera_inverse to be seen in this frame).
        gray: (H, W) uint8; colour: the same frame as (H, W, 3) RGB uint8, if there is one."""
        picture = gray if colour is None else colour
        if self._prev is None or self._background.shape != picture.shape:
            self._prev, self._background = gray, picture.copy()  # copyTo writes into it
            self._still = np.full(self.shape, SETTLE_FRAMES, np.uint8)
            self._held = np.zeros(self.shape, np.uint8)
            self._last_fg = np.zeros(self.shape, np.uint8)
            self._offset, self._margins, self._misaligned = (0.0, 0.0), (0, 0, 0, 0), 0
            return np.zeros(self.shape, np.uint8), False
        moved = self._follow(camera)
        # while the camera moves the kept pictures may be off by up to half a pixel: then a
        # pixel is compared with the range of its reference's 3x3 neighbourhood
        tolerant = self._misaligned > 0
        # stillness in grey is enough: what it misses of a moving object is foreground
        quiet = cv2.threshold(_difference(gray, self._prev, tolerant), STILL_LEVEL, 255, cv2.THRESH_BINARY_INV)[1]
        self.difference = _difference(picture, self._background, tolerant, self._planes)
        fg = cv2.threshold(self.difference, FOREGROUND_LEVEL, 255, cv2.THRESH_BINARY)[1]
        # a pixel that just became foreground (something arrived) starts its count afresh:
        # an object that moves a pixel a frame would otherwise look still at its leading
        # edge, keep the background's count there, and melt into the background
        arrived = cv2.subtract(fg, self._last_fg)
        # quiet is 0 or 255, so quiet - arrived (saturating) is quiet & ~arrived in one call
        still = cv2.bitwise_and(cv2.add(self._still, self._ones), cv2.subtract(quiet, arrived))
        # STILL_FRAMES still frames make background, SETTLE_FRAMES where it was foreground
        # (the held mask is 0 or _HOLD, so subtracting it is the delay); counts are whole,
        # so > STILL_FRAMES - 1 is >= STILL_FRAMES (a threshold is cheaper than a compare)
        ready = cv2.threshold(cv2.subtract(still, self._held), STILL_FRAMES - 1, 255, cv2.THRESH_BINARY)[1]
        background = cv2.copyTo(picture, ready, self._background)
        fg = cv2.subtract(fg, ready)  # what became background here is not foreground
        self._prev, self._background, self._still, self._picture = gray, background, still, picture
        self._last_fg = fg.copy()  # the caller may edit what it gets
        self.hold(fg)
        (left, top, right, bottom), (h, w) = self._margins, self.shape
        if left or top or right or bottom:  # what a pan brings in has no background yet
            fg[:top], fg[h - bottom :], fg[:, :left], fg[:, w - right :] = 0, 0, 0, 0
        self.quiet = quiet
        inner = quiet[top : h - bottom, left : w - right]
        self.changed_fraction = 1.0 - cv2.countNonZero(inner) / max(inner.size, 1)
        return fg, moved

    def absorb(self, mask: np.ndarray) -> None:
        """Take the last picture into the background where mask is nonzero (a resting object)."""
        self._background = cv2.copyTo(self._picture, mask, self._background)
        inside = mask > 0
        self._held[inside] = 0
        self._still[inside] = np.maximum(self._still[inside], SETTLE_FRAMES)

    def hold(self, objects: np.ndarray) -> None:
        """Keep these foreground pixels (nonzero) out of the background for SETTLE_FRAMES:
        what is there moves, or rests after moving. push() holds all of its foreground;
        a caller that knows which of it is speckle holds the rest instead, so that speckle
        goes back into the background after STILL_FRAMES."""
        # one pixel of margin keeps an object's faint rim out of the background while it rests
        self._held = cv2.dilate(cv2.min(objects, self._hold_level), None)

    @property
    def margins(self) -> tuple[int, int, int, int]:
        """Widths (px) of the strips along the left, top, right and bottom edges where nothing
        is foreground: the camera moved, and what it brought into view has no background yet."""
        return self._margins

    def _follow(self, camera: np.ndarray) -> bool:
        w, h = self._size
        (a, b, c), (d, e, f) = camera.tolist()
        # translation at the centre, and how much zoom/rotation adds at the corners
        cx, cy = c + 0.5 * (a * w + b * h), f + 0.5 * (d * w + e * h)
        spread = 0.5 * (abs(a) * w + abs(b) * h + abs(d) * w + abs(e) * h)
        if math.hypot(cx, cy) + spread <= CAMERA_STILL_PX:
            if not self._misaligned and self._margins == (0, 0, 0, 0):
                self._offset = (0.0, 0.0)  # the usual still shot: nothing to count down
                return False
            # new picture at an edge, and the misalignment, last until refreshed
            self._margins = tuple(max(m - 1, 0) for m in self._margins)
            self._misaligned = max(self._misaligned - 1, 0)
            if not self._misaligned:
                self._offset = (0.0, 0.0)
            return False
        self._misaligned = STILL_FRAMES
        # a strip as wide as the camera moves in STILL_FRAMES frames, on the side it moves to
        cap = min(w, h) // 8
        self._margins = tuple(
            min(max(old, math.ceil(STILL_FRAMES * (max(step, 0.0) + spread))), cap)
            for old, step in zip(self._margins, (-cx, -cy, cx, cy))
        )
        if spread > ZOOM_PX:
            m = camera + np.eye(2, 3)
            flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
            self._prev, self._background, self._still, self._held, self._last_fg = (
                cv2.warpAffine(img, m, self._size, flags=flags, borderMode=cv2.BORDER_REPLICATE)
                for img in (self._prev, self._background, self._still, self._held, self._last_fg)
            )
            self._offset = (0.0, 0.0)
            return True
        ox, oy = self._offset[0] + cx, self._offset[1] + cy
        sx, sy = int(round(ox)), int(round(oy))
        self._offset = (ox - sx, oy - sy)
        if sx or sy:
            kept = (self._prev, self._background, self._still, self._held, self._last_fg)
            self._prev, self._background, self._still, self._held, self._last_fg = (
                _shift(img, sx, sy) for img in kept
            )
        return True


def _difference(a: np.ndarray, ref: np.ndarray, tolerant: bool, planes: list | None = None) -> np.ndarray:
    """|a - ref|, the largest over colour channels; tolerant: a's distance from the range of
    ref's 3x3 neighbourhood. planes: three (H, W) uint8 scratch arrays for splitting colour
    (a split into fresh arrays costs three times as much)."""
    if tolerant:
        d = cv2.max(cv2.subtract(cv2.erode(ref, None), a), cv2.subtract(a, cv2.dilate(ref, None)))
    else:
        d = cv2.absdiff(a, ref)
    if d.ndim == 3:  # cv2.reduce would be ten times slower
        r, g, b = cv2.split(d, planes)
        d = cv2.max(cv2.max(r, g), b)
    return d


def _shift(img: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """out[y, x] = img[y + dy, x + dx], the edge repeated where that falls outside."""
    h, w = img.shape[:2]
    dx, dy = max(-w + 1, min(w - 1, dx)), max(-h + 1, min(h - 1, dy))
    crop = img[max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)]
    return cv2.copyMakeBorder(crop, max(-dy, 0), max(dy, 0), max(-dx, 0), max(dx, 0), cv2.BORDER_REPLICATE)


def camera_inverse(camera: np.ndarray) -> np.ndarray:
    """2x3 map from the previous frame's coordinates to this frame's."""
    return cv2.invertAffineTransform(camera + np.eye(2, 3))
