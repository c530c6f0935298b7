"""Cheap per-frame visual features for the learned Video2RMS model (numpy + OpenCV only).

The paper feeds 2048-d BN-Inception RGB + RAFT-flow features; those need a GPU and
weights. Here every video frame becomes a few dozen numbers that a CPU computes in well
under a millisecond at 160 px, and that carry what makes sound in Foley: things that
change, move, speed up or stop. On a G x G grid of cells (default 4 x 4):

* frame-difference energy (mean |grey_t - grey_{t-1}|),
* local speed: optical flow (DIS, ultrafast) minus the median flow (the camera), trusted
  only near pixels that changed (DIS smears a moving object's flow over static texture),
* velocity change: the mean velocity of the moving pixels of a cell now minus one frame
  earlier, weighted by how much moved in both: a coherent change of motion (a contact),
  not an object entering or leaving the cell, nor per-pixel flow noise,
* signed divergence of the local flow (expansion: something approaching or deforming),

plus a few global numbers (camera speed, overall activity, whole-frame velocity change).
Units are per second and per frame width, so clips with other frame rates or sizes read
alike; every value is log-compressed (signed where it has a sign). The network
standardises them itself (mean/std of its training set, stored with its weights).

Rows are attributed to the midpoint of their frame interval and then resampled onto the
125 Hz RMS grid (`to_rms_rate`), where the model works.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

import cv2
import numpy as np

from foley_studio.core.errors import EngineError
from foley_studio.core.rms import FRAME_RATE

# Bump when the meaning of any column changes: cached features and checkpoints record it.
FEATURE_VERSION = 1
ANALYSIS_WIDTH = 160
GRID = 4
ACTIVE_LEVEL = 12.0  # grey levels of frame difference that count as "this pixel changed"
MOVING_PX = 0.5  # px per frame of local flow at the analysis width: a pixel fully 'moving'
_N_GLOBAL = 5


@dataclass(frozen=True)
class FeatureConfig:
    analysis_width: int = ANALYSIS_WIDTH
    grid: int = GRID
    version: int = FEATURE_VERSION

    @property
    def n_features(self) -> int:
        return 4 * self.grid * self.grid + _N_GLOBAL

    def as_dict(self) -> dict[str, int]:
        return {"analysis_width": self.analysis_width, "grid": self.grid, "version": self.version}


class FrameFeatureExtractor:
    """Streams grey frames of one size; push() returns a feature row for every frame after
    the first (None for the first), attributed to the middle of the last frame interval.

    Flow is computed at the frames' size; everything after it runs on a grid half that
    size (DIS ultrafast has no finer detail), and all per-cell statistics come out of two
    multi-channel area resizes: per frame this is ~25 OpenCV/numpy calls on 80x45 arrays.
    """

    def __init__(self, shape: tuple[int, int], config: FeatureConfig = FeatureConfig()):
        h, w = shape
        self.shape = (h, w)
        self.config = config
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        self._cells = (config.grid, config.grid)
        self._small = (max(2, w // 2), max(2, h // 2))  # cv2 order: width, height
        self._kernel = np.ones((5, 5), np.uint8)
        self._width = float(w)
        self._prev: np.ndarray | None = None
        self._prev_t = 0.0
        self._prev_vel: np.ndarray | None = None
        self._prev_mass = np.zeros(self._cells, np.float32)
        self._prev_vel_all = np.zeros(2, np.float32)
        self._prev_mass_all = 0.0

    def push(self, t: float, gray: np.ndarray) -> tuple[float, np.ndarray] | None:
        if self._prev is None:
            self._prev, self._prev_t = gray, float(t)
            return None
        dt = max(float(t) - self._prev_t, 1e-3)
        per_s = 1.0 / (dt * self._width)  # px per frame (full analysis size) -> frame widths per second
        area = cv2.INTER_AREA

        diff = cv2.absdiff(gray, self._prev)
        active = float(cv2.countNonZero(cv2.compare(diff, ACTIVE_LEVEL, cv2.CMP_GT))) / diff.size
        # flow is trusted only near pixels that changed: DIS spreads a moving object's
        # motion over the static texture around it, and that halo is not motion
        changed = cv2.dilate(cv2.compare(diff, ACTIVE_LEVEL, cv2.CMP_GT), self._kernel)
        near = cv2.resize(changed, self._small, interpolation=area).astype(np.float32) * (1.0 / 255.0)
        diff_small = cv2.resize(diff, self._small, interpolation=area).astype(np.float32)

        flow = cv2.resize(self._dis.calc(self._prev, gray, None), self._small, interpolation=area)
        cx, cy = np.median(flow.reshape(-1, 2), axis=0)  # the camera (robust to a minority moving)
        u, v = flow[..., 0] - cx, flow[..., 1] - cy  # px per frame, camera motion removed
        speed = cv2.magnitude(u, v)
        un, vn = u * near, v * near
        div = cv2.Sobel(un, cv2.CV_32F, 1, 0, ksize=3) + cv2.Sobel(vn, cv2.CV_32F, 0, 1, ksize=3)
        # velocity of what moves in a cell: flow averaged over moving pixels only, so an
        # object entering or leaving a cell does not read as a change of its speed
        weight = np.minimum(speed * (1.0 / MOVING_PX), 1.0) * near
        motion = cv2.merge([u * weight, v * weight, weight, speed * near])  # resize takes <= 4 channels
        cells = np.concatenate([cv2.resize(motion, self._cells, interpolation=area),
                                cv2.resize(cv2.merge([div, diff_small]), self._cells, interpolation=area)], axis=2)
        whole = cv2.mean(motion)  # whole-frame means of the four motion planes

        mass = cells[..., 2]
        vel = cells[..., :2] * (per_s / np.maximum(mass, 1e-6))[..., None]
        mass_all = float(whole[2])
        vel_all = np.array(whole[:2]) * (per_s / max(mass_all, 1e-6))
        if self._prev_vel is None:
            accel_cells = np.zeros(self._cells, np.float32)
            accel_all = 0.0
        else:
            # a change counts only where something moved in both intervals, scaled by how much
            change = (vel - self._prev_vel) / dt
            accel_cells = cv2.magnitude(change[..., 0], change[..., 1]) * np.minimum(mass, self._prev_mass)
            accel_all = float(np.hypot(*((vel_all - self._prev_vel_all) / dt))) * min(mass_all, self._prev_mass_all)

        cam_speed = float(np.hypot(cx, cy)) * per_s
        row = np.concatenate([
            np.log1p(cells[..., 5].ravel() * 0.2),
            np.log1p(cells[..., 3].ravel() * (10.0 * per_s)),
            np.log1p(accel_cells.ravel() * 5.0),
            _signed_log(cells[..., 4].ravel() * (0.2 * per_s * self._width)),
            np.log1p(np.array([
                cam_speed * 10.0,
                float(diff_small.mean()) * 0.2,
                active * 100.0,
                accel_all * 50.0,
                float(accel_cells.max()) * 5.0,
            ])),
        ]).astype(np.float32)
        t_mid = 0.5 * (self._prev_t + float(t))
        self._prev, self._prev_t = gray, float(t)
        self._prev_vel, self._prev_mass = vel, mass
        self._prev_vel_all, self._prev_mass_all = vel_all, mass_all
        return t_mid, row


def _signed_log(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.log1p(np.abs(x))


def extract(
    frames: Iterable[Any],
    roi_px: tuple[int, int, int, int] | None = None,
    config: FeatureConfig = FeatureConfig(),
    on_frame=None,
) -> tuple[np.ndarray, np.ndarray]:
    """(times (n,), features (n, F)) of frames with `.t` and `.image` (grey or RGB uint8).

    roi_px: x, y, w, h in the pixels of the frames as they arrive; the region is cut out
    and scaled to the analysis width, so it is analysed as if it were the whole picture.
    on_frame(i) is called for every frame (progress, cancellation).
    """
    extractor: FrameFeatureExtractor | None = None
    times: list[float] = []
    rows: list[np.ndarray] = []
    for i, frame in enumerate(frames):
        if on_frame is not None:
            on_frame(i)
        gray = analysis_gray(frame.image, config.analysis_width, roi_px)
        if extractor is None:
            extractor = FrameFeatureExtractor(gray.shape, config)
        elif gray.shape != extractor.shape:
            raise EngineError(f"frame size changed mid-clip ({gray.shape} after {extractor.shape})")
        out = extractor.push(float(frame.t), gray)
        if out is not None:
            times.append(out[0])
            rows.append(out[1])
    if not rows:
        return np.zeros(0), np.zeros((0, config.n_features), np.float32)
    return np.asarray(times), np.stack(rows)


def analysis_gray(image: np.ndarray, width: int, roi_px: tuple[int, int, int, int] | None = None) -> np.ndarray:
    img = np.asarray(image)
    if img.ndim == 3:
        img = cv2.cvtColor(np.ascontiguousarray(img[..., :3]), cv2.COLOR_RGB2GRAY)
    if img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    if roi_px is not None:
        x, y, w, h = roi_px
        img = img[y:y + h, x:x + w]
    h, w = img.shape
    if w != width:
        out_h = max(8, int(round(h * width / w)))
        img = cv2.resize(img, (width, out_h), interpolation=cv2.INTER_AREA if w > width else cv2.INTER_LINEAR)
    return np.ascontiguousarray(img)


def to_rms_rate(times: np.ndarray, features: np.ndarray, n_out: int) -> np.ndarray:
    """Features at frame times -> (n_out, F) at 125 Hz (frame centres), linear in time.

    Before the first and after the last row the nearest row is held; a clip with no rows
    (a single frame) gives zeros.
    """
    n_feat = features.shape[1]
    if n_out <= 0:
        return np.zeros((0, n_feat), np.float32)
    if len(times) == 0:
        return np.zeros((n_out, n_feat), np.float32)
    centres = (np.arange(n_out) + 0.5) / FRAME_RATE
    hi = np.clip(np.searchsorted(times, centres, side="right"), 1, max(len(times) - 1, 1))
    lo = hi - 1
    if len(times) == 1:
        return np.repeat(features[:1], n_out, axis=0).astype(np.float32)
    span = np.maximum(times[hi] - times[lo], 1e-9)
    w = np.clip((centres - times[lo]) / span, 0.0, 1.0)[:, None]
    return ((1.0 - w) * features[lo] + w * features[hi]).astype(np.float32)


def roi_to_pixels(roi, source_size: tuple[int, int], decoded_size: tuple[int, int]) -> tuple[int, int, int, int]:
    """An ROI in source-video pixels as x, y, w, h in decoded-frame pixels (clamped)."""
    x, y, w, h = (float(v) for v in roi)
    if w <= 0 or h <= 0:
        raise EngineError(f"region of interest must have a positive size, got {tuple(roi)}")
    src_w, src_h = source_size
    dw, dh = decoded_size
    sx, sy = dw / src_w, dh / src_h
    x0, y0 = int(np.clip(np.floor(x * sx), 0, dw)), int(np.clip(np.floor(y * sy), 0, dh))
    x1, y1 = int(np.clip(np.ceil((x + w) * sx), 0, dw)), int(np.clip(np.ceil((y + h) * sy), 0, dh))
    if x1 - x0 < 4 or y1 - y0 < 4:
        raise EngineError(f"region of interest {tuple(roi)} lies outside the {src_w}x{src_h} frame or is too small")
    return x0, y0, x1 - x0, y1 - y0


def decode_width_for_roi(roi, source_width: int, analysis_width: int = ANALYSIS_WIDTH) -> int:
    """Decode wide enough that the ROI alone still spans about `analysis_width` pixels."""
    if roi is None:
        return analysis_width
    w = max(float(roi[2]), 1.0)
    return int(min(source_width, max(analysis_width, round(analysis_width * source_width / w))))


def clip_features(clip: Any, roi=None, config: FeatureConfig = FeatureConfig(), on_frame=None) -> np.ndarray:
    """Features of a media.Clip on the 125 Hz grid: (round(duration * 125), F) float32."""
    info = clip.info
    width = decode_width_for_roi(roi, info.width, config.analysis_width)
    frames = clip.frames(width=width, gray=True)
    roi_px = None
    try:
        first = next(iter(frames), None)
        if first is not None and roi is not None:
            h, w = first.image.shape[:2]
            roi_px = roi_to_pixels(roi, (info.width, info.height), (w, h))
        times, feats = extract(_chain(first, frames), roi_px, config, on_frame)
    finally:
        close = getattr(frames, "close", None)  # release the decoder now, also on cancel
        if close is not None:
            close()
    return to_rms_rate(times, feats, int(round(info.duration * FRAME_RATE)))


def _chain(first, rest):
    if first is not None:
        yield first
        yield from rest
