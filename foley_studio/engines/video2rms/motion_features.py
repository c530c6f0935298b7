"""Per-frame contact features (the motion engine's measuring half): dense optical flow,
combined with the blob cue of motion_tracks.py.

Sound in Foley comes from contacts, and a contact is a sudden change of velocity. So for
every new frame we measure how much the velocity of *the same scene point* changed since
the previous frame (a Lagrangian derivative, not a per-pixel one: a ball flying through
the air at constant speed keeps its velocity while it moves across pixels).

    b_t(x)   backward flow of frame t: frame_t(x) ~ frame_{t-1}(x + b_t(x))
    r_t      b_t minus the fitted global (camera) motion: the residual displacement
    v_t(x)   = -r_t(x) / dt_t                          velocity of the point at x, px/s
    v_{t-1}  = -r_{t-1}(x + b_t(x)) / dt_{t-1}          its velocity one frame earlier
    a_t      = v_t - v_{t-1}

Camera motion (pan, zoom, shake) is removed by an affine fit to the flow field that
ignores the moving objects, so it never reaches a_t. Velocities are averaged over small
neighbourhoods before their difference is taken: a real contact moves a whole object
coherently, flow noise does not, so averaging keeps the first and cancels the second.
Decelerations count fully, speeding up counts half (a foot landing is loud, a hand
starting to wave is not). Flow is trusted only where it passes a brightness-constancy
check (occlusions, the edge a pan brings in fail it) and near pixels that changed beyond
the camera motion (the blob cue's stillness test: flow noise on static texture does not
count).

Flow fails on a small object that moves about its own size per frame, and smears it over
its neighbourhood. So the blob cue measures the compact objects it follows (flow stays out
of their boxes), and flow's dense maps are computed only when more than QUIET_CHANGE of
the picture changed beyond the camera motion (large things moving); the flow itself is
always computed, for the camera motion both cues remove. A frame's contact strength is the
larger of the two cues.

Per frame this is one DIS flow plus a few dozen small OpenCV/numpy calls on a grid half
the flow's size; Python call overhead, not arithmetic, dominates, so calls are few.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from foley_studio.engines.video2rms.motion_tracks import TrackContacts

# displacement error (px per frame at flow resolution) of averaged flow: below it, no change
FLOW_NOISE_PX = 0.35
# grey levels of brightness-constancy error above which a pixel's flow is not trusted
PHOTO_TOLERANCE = 30.0
# grey levels of difference from the previous frame that make a pixel count as changed
# (for spotting a frame that repeats the last one)
CHANGE_LEVEL = 8.0
# mean grey difference below which a frame repeats the previous one
DUPLICATE_LEVEL = 0.3
# fraction of the picture that may change beyond the camera motion with only the blob cue
# measuring contacts: dense flow is for large moving things (and costs as much as the rest)
QUIET_CHANGE = 0.05
# remap fill outside the previous frame: residual 0, trust 0, grey far from any real grey
_OFF_FRAME = (0.0, 0.0, 0.0, -1e4)
_ONES2 = np.ones(2)
_ZERO_MOTION = np.zeros((2, 3))


@dataclass(frozen=True)
class FrameFeatures:
    """What one frame contributes; strengths are in frame widths per second, area-weighted."""

    t_contact: float  # time the velocity change is attributed to (the middle of three frames)
    t_motion: float  # midpoint of the last frame interval
    impact: float  # contact strength: the larger of the two cues below
    motion: float  # area-weighted local (camera-compensated) speed
    flow_impact: float = 0.0  # area-weighted deceleration magnitude from dense flow
    track_impact: float = 0.0  # velocity changes of tracked foreground blobs (motion_tracks.py)


class FlowFeatures:
    """Streams grey frames of one size (with their RGB, optionally); FrameFeatures for every
    frame after the first (None for the first and for a frame that merely repeats its
    predecessor).

    Flow is computed at the frames' size; everything after it runs on a grid `reduce`
    times smaller (flow at DIS finest_scale 2 has no finer detail anyway).
    roi_mask: optional bool (H, W) array; features are measured only inside it, while the
    camera motion is still estimated from the whole frame.
    source_px: the size of a source video pixel in these frames' pixels (motion_tracks.py).
    """

    def __init__(
        self,
        shape: tuple[int, int],
        roi_mask: np.ndarray | None = None,
        finest_scale: int = 2,
        reduce: int = 2,
        box: int = 5,
        source_px: float = 0.25,
    ):
        h, w = shape
        self.shape = (h, w)
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        self._dis.setFinestScale(finest_scale)
        self._scale = 1.0 / reduce
        self._reduce = reduce
        self._small = (max(2, w // reduce), max(2, h // reduce))  # cv2 order: width, height
        sw, sh = self._small
        self._box = (box, box)
        self._dilate_kernel = np.ones((9, 9), np.uint8)
        self._mask = None
        if roi_mask is not None:
            self._mask = cv2.resize(roi_mask.astype(np.float32), self._small, interpolation=cv2.INTER_AREA)
        # strengths are in frame widths (of the flow grid) per second, summed over the frame area
        self._norm = 1.0 / (sw * sh) / (w * self._scale)
        ys, xs = np.mgrid[0:sh, 0:sw].astype(np.float32)
        self._grid = cv2.merge([xs, ys])
        # camera model fitted on a sparse grid of the full-size flow
        step = max(1, int(round(min(h, w) / 12)))
        fy, fx = np.mgrid[step // 2 : h : step, step // 2 : w : step]
        # the grid's points are a strided view of the flow; b below is their (rows, cols, 2)
        # view into the product's right-hand columns: a copy, not a gather, fills it
        self._fit_slice = (slice(step // 2, None, step), slice(step // 2, None, step))
        self._fit_design = np.stack([fx.ravel(), fy.ravel(), np.ones(fx.size)], axis=1).astype(np.float64)
        self._fit_design_t = np.ascontiguousarray(self._fit_design.T)
        self._fit_ab = np.hstack([self._fit_design, np.zeros((fx.size, 2))])
        self._fit_b = self._fit_ab[:, 3:]
        self._fit_b_grid = self._fit_b.reshape(fy.shape + (2,))
        assert np.shares_memory(self._fit_b_grid, self._fit_ab)  # a view, never a copy
        self._fit_median = fx.size // 2
        self._prev_gray: np.ndarray | None = None
        self._prev_small: np.ndarray | None = None
        self._prev_t = 0.0
        self._prev_dt: float | None = None
        self._prev_pack: np.ndarray | None = None  # previous residual x, y (small px), trust, grey
        self._zero_pack: np.ndarray | None = None  # the reused pack of frames without flow
        self._skipped = False  # the last frame was a duplicate: never skip two in a row
        self._duplicate_l1 = DUPLICATE_LEVEL * sw * sh
        self._duplicate_changed = max(1, int(0.001 * sw * sh))
        self._tracks = TrackContacts((h, w), roi_mask, source_px)

    def push(
        self, t: float, gray: np.ndarray, colour: np.ndarray | None = None
    ) -> FrameFeatures | None:
        """colour: optionally the same frame as RGB (H, W, 3) uint8; the blob cue sees
        objects that only differ from their background in colour."""
        small = cv2.resize(gray, self._small, interpolation=cv2.INTER_AREA)
        if self._prev_gray is None:
            self._prev_pack = self._flowless_pack(small)
            self._prev_gray, self._prev_small, self._prev_t = gray, small, float(t)
            self._tracks.push(t, gray, _ZERO_MOTION, colour)
            return None
        if not self._skipped and self._repeats(small):
            # a repeated frame (frame-rate conversion, a stalled camera) would read as a sudden
            # stop and restart of everything moving; measure across it instead
            self._skipped = True
            return None
        self._skipped = False
        dt = max(float(t) - self._prev_t, 1e-3)
        prev_dt = self._prev_dt or dt  # the second frame has no earlier velocity (its trust is 0)

        back = self._dis.calc(gray, self._prev_gray, None)
        camera_full = self._camera_motion(back)  # 2x3 affine of displacements
        track_impact = self._tracks.push(t, gray, camera_full, colour)
        if self._tracks.background.changed_fraction <= QUIET_CHANGE:
            # little of the picture changed beyond the camera motion: small things moving
            # (the blob cue has them, and flow would only smear them), or nothing at all
            return self._without_flow(t, gray, small, dt, track_impact)
        small_f = small.astype(np.float32)
        camera = camera_full.copy()  # on the small grid: the constant scales, the linear part not
        camera[:, 2] *= self._scale
        back = cv2.resize(back, self._small, interpolation=cv2.INTER_AREA)
        back *= self._scale
        resid = back - cv2.transform(self._grid, camera)

        # the previous frame's residual, trust and grey, seen from where each pixel was
        old = cv2.remap(
            self._prev_pack, self._grid + back, None, cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT, borderValue=_OFF_FRAME,
        )
        consistent = cv2.compare(np.abs(small_f - old[..., 3]), PHOTO_TOLERANCE, cv2.CMP_LT)
        trusted = cv2.bitwise_and(consistent, self._changed())
        trust = cv2.multiply(trusted, 1.0 / 255.0, dtype=cv2.CV_32F)

        # both velocities of a pixel count only where both frames' flow is trusted; the
        # averaging box turns per-pixel displacements into per-neighbourhood velocities
        both = trust * old[..., 2]
        new_box = cv2.blur(resid * (both * (1.0 / dt))[..., None], self._box)
        old_box = cv2.blur(old[..., :2] * (both * (1.0 / prev_dt))[..., None], self._box)
        new_speed = _magnitude(new_box)
        accel = _magnitude(new_box - old_box)
        speeding_up = cv2.max(new_speed - _magnitude(old_box), 0.0)
        # flow error is a displacement per frame: the floor of a velocity difference grows with 1/dt
        noise = FLOW_NOISE_PX * self._scale
        floor = noise * (1.0 / dt + 1.0 / prev_dt)
        contact = cv2.max(cv2.addWeighted(accel, 1.0, speeding_up, -0.5, -floor), 0.0)
        moving = cv2.max(cv2.subtract(new_speed, noise / dt), 0.0)
        # a compact object followed as a blob: its contacts come from its track (flow smears
        # a small fast object over its neighbourhood) and its flight is silent
        r = self._reduce
        for x0, y0, x1, y1 in self._tracks.compact:
            moving[y0 // r : -(-y1 // r), x0 // r : -(-x1 // r)] = 0.0
        for x0, y0, x1, y1 in self._tracks.owned:
            contact[y0 // r : -(-y1 // r), x0 // r : -(-x1 // r)] = 0.0

        flow_impact = self._aggregate(contact)
        features = FrameFeatures(
            t_contact=self._prev_t,
            t_motion=0.5 * (self._prev_t + float(t)),
            impact=max(flow_impact, track_impact),
            motion=self._aggregate(moving),
            flow_impact=flow_impact,
            track_impact=track_impact,
        )
        self._prev_gray, self._prev_small, self._prev_t, self._prev_dt = gray, small, float(t), dt
        self._prev_pack = cv2.merge([resid, trust, small_f])
        return features

    def _repeats(self, small: np.ndarray) -> bool:
        """True when the frame repeats the previous one: almost no difference on average
        and, unlike a small object moving over a still scene, almost no pixel that changed."""
        if cv2.norm(small, self._prev_small, cv2.NORM_L1) >= self._duplicate_l1:
            return False
        difference = cv2.absdiff(small, self._prev_small)
        changed = cv2.threshold(difference, CHANGE_LEVEL, 255, cv2.THRESH_BINARY)[1]
        return cv2.countNonZero(changed) <= self._duplicate_changed

    def _without_flow(self, t, gray, small, dt, track_impact) -> FrameFeatures:
        """The frame's features from the blob cue alone (flow's dense maps not computed)."""
        features = FrameFeatures(
            t_contact=self._prev_t,
            t_motion=0.5 * (self._prev_t + float(t)),
            impact=track_impact,
            motion=0.0,
            track_impact=track_impact,
        )
        self._prev_gray, self._prev_small, self._prev_t, self._prev_dt = gray, small, float(t), dt
        self._prev_pack = self._flowless_pack(small)  # no flow: no earlier velocity next frame
        return features

    def _flowless_pack(self, small: np.ndarray) -> np.ndarray:
        """The pack (residual x, y, trust, grey) of a frame without flow: zeros and its grey.

        Most frames have no flow, so one buffer is refilled in place rather than built anew:
        the pack it held was read (by remap) before push() replaces it.
        """
        if self._zero_pack is None:
            self._zero_pack = np.zeros((small.shape[0], small.shape[1], 4), np.float32)
        self._zero_pack[..., 3] = small
        return self._zero_pack

    def _aggregate(self, per_pixel: np.ndarray) -> float:
        # a sum over the analysed region as a fraction of the whole frame: a bigger object
        # or a harder stop both read louder, and an ROI does not magnify what is inside it
        if self._mask is not None:
            return float(cv2.sumElems(cv2.multiply(per_pixel, self._mask))[0]) * self._norm
        return float(cv2.sumElems(per_pixel)[0]) * self._norm

    def _camera_motion(self, flow: np.ndarray) -> np.ndarray:
        """Affine camera motion fitted to the flow without the moving objects.

        Starts from the median translation (robust while moving objects cover less than
        half the frame), keeps the points that agree with it and fits an affine to them by
        least squares, then repeats that once from the affine unless the translation fitted
        well already (a still camera, a pan). Returned as a 2x3 matrix giving the
        displacement at (x, y, 1) of the flow's grid.
        """
        a, ab, b, half = self._fit_design, self._fit_ab, self._fit_b, self._fit_median
        # one product per fit gives both sides of the normal equations
        np.copyto(self._fit_b_grid, flow[self._fit_slice])
        params = np.zeros((3, 2))
        params[2] = np.partition(b, half, axis=0)[half]
        for _ in range(2):
            err = np.abs(a @ params - b) @ _ONES2  # L1 error; a matmul sums faster than .sum(1)
            err_sorted = err.copy()
            err_sorted.partition(half)
            typical = float(err_sorted[half])
            normal = (self._fit_design_t * (err <= max(0.5, 2.5 * typical))) @ ab
            if normal[2, 2] < 6:  # fewer than 6 points agree: keep the last model
                break
            params = _solve3(normal)
            if typical < 0.25:  # the model fitted the scene already: the refit changes nothing
                break
        return params.T.copy()

    def _changed(self) -> np.ndarray:
        """255 near pixels that changed beyond the camera motion, else 0 (on the small grid),
        from the blob cue's stillness test of this frame."""
        still = cv2.resize(self._tracks.background.quiet, self._small, interpolation=cv2.INTER_AREA)
        changed = cv2.compare(still, 255, cv2.CMP_LT)  # any of the pixels it covers changed
        # a uniform object's inside does not change while it moves: reach it from its edges
        return cv2.dilate(changed, self._dilate_kernel)


def _solve3(normal: np.ndarray) -> np.ndarray:
    """Solve the 3x3 system normal[:, :3] @ p = normal[:, 3:] (Cramer's rule, plain floats).

    np.linalg.solve costs ~20 us of call overhead at this size, a fifth of the whole fit.
    A tiny ridge keeps a degenerate fit (all points on one row) solvable.
    """
    (a, b, c, r0, s0), (d, e, f, r1, s1), (g, h, i, r2, s2) = normal.tolist()
    a, e, i = a + 1e-6, e + 1e-6, i + 1e-6
    m00, m01, m02 = e * i - f * h, c * h - b * i, b * f - c * e
    m10, m11, m12 = f * g - d * i, a * i - c * g, c * d - a * f
    m20, m21, m22 = d * h - e * g, b * g - a * h, a * e - b * d
    k = 1.0 / (a * m00 + b * m10 + c * m20)
    return np.array([
        [k * (m00 * r0 + m01 * r1 + m02 * r2), k * (m00 * s0 + m01 * s1 + m02 * s2)],
        [k * (m10 * r0 + m11 * r1 + m12 * r2), k * (m10 * s0 + m11 * s1 + m12 * s2)],
        [k * (m20 * r0 + m21 * r1 + m22 * r2), k * (m20 * s0 + m21 * s1 + m22 * s2)],
    ])


def _magnitude(v: np.ndarray) -> np.ndarray:
    return cv2.magnitude(v[..., 0], v[..., 1])  # views: cheaper than cv2.split
