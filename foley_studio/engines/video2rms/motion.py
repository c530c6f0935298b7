"""Motion engine: a loudness envelope from the picture's motion, no weights (DESIGN.md, "Engines").

Measuring is in motion_features.py, with two cues of contact strength per video frame
(a contact is a sudden change of velocity, camera motion removed):

* motion_tracks.py: compact objects followed as foreground blobs (motion_background.py),
  their centroids' velocity changes. It sees what dense flow cannot: a small ball moving
  its own size per frame;
* dense optical flow: velocity changes of scene points where large things move (a person,
  a hand), where blobs merge and split. Around the compact objects followed as blobs it
  stays out (it would only smear them), and with little of the picture changing it is
  not computed at all.

Here the per-frame measurements (the larger of the two cues) become an envelope at 125
frames/s:

* contacts: peaks of the strength (above a running median, so a steady level never reads
  as a hit) become impacts with a one-frame attack at the video frame of the contact and
  an exponential decay, like the RMS of a real impact;
* sustained local motion of large things (sliding, scrubbing) becomes a low bed well
  below the impacts; a compact object in flight is silent;
* levels: amplitude follows contact strength (the velocity change summed over the frames
  a contact spreads over, times the object's area: impact sound ~ impact speed). The
  clip's strongest contact sits at -6 dBFS if it reaches `ref_impact` (a weaker clip stays
  quieter). Contacts more than 24 dB under the clip's strongest, or under `gate_impact`
  (calibrated on what a still or panning shot with drifting clouds measures), are noise;
  anything under -40 dBFS (0.01, class 0 of the paper) is 0.

Contact times are sub-frame: the strength-weighted centre of the peak video frame and
its neighbours. Onsets are not low-passed (the paper's smoothing would smear them over
~60 ms, both ways); only the sustained bed goes through rms.smooth.

Everything after decoding is the pure function `motion_envelope`, so tests feed it frames.
A clip over three minutes is measured in pieces by worker processes (motion_segments.py),
each warmed up on the five seconds before it so that it measures what one pass would.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterable

import queue
import threading

import cv2
import numpy as np
from scipy.ndimage import maximum_filter1d, median_filter

from foley_studio.core.envelope import Envelope
from foley_studio.core.errors import EngineError
from foley_studio.core.media_decode import FRAME_TIME_EPS
from foley_studio.core.rms import FRAME_RATE, RMS_MIN, smooth
from foley_studio.engines.base import ROI, CancelToken, EngineInfo, Progress, check, report
from foley_studio.engines.video2rms import motion_segments
from foley_studio.engines.video2rms.motion_features import FlowFeatures


@dataclass(frozen=True)
class MotionParams:
    analysis_width: int = 160  # frames are analysed at this width (height follows the aspect)
    finest_scale: int = 2  # DIS pyramid level where flow stops refining (2 = ultrafast)
    top_db: float = -6.0  # level of the strongest contact of a clip that reaches ref_impact
    # contact strength (velocity change in frame widths/s, times the fraction of the frame's
    # area that changed) that reads as top_db: a ball covering 1% of the picture bouncing
    # back at 1/20 of the frame width per frame at 30 fps (3 widths/s * 0.01)
    ref_impact: float = 0.03
    # weaker contacts are measurement noise: an object covering 0.25% of the frame (a 26 px
    # ball at 640 px width) changing velocity by 0.3 frame widths/s (6 px/frame at 640, 30 fps)
    gate_impact: float = 0.0008
    relative_gate: float = 0.0625  # contacts 24 dB under the clip's strongest are dropped
    decay_s: float = 0.15  # time an impact takes to fall by 20 dB
    attack_frames: int = 1  # envelope frames of rise before the contact frame
    sustain_db: float | None = -32.0  # level of strong sustained motion; None turns it off
    ref_motion: float = 0.02  # sustained-motion strength that reaches sustain_db
    baseline_frames: int = 9  # video frames of the running median removed from contact strength
    colour: bool = True  # decode RGB: foreground blobs also from colour, not only grey level
    opencv_threads: int = 1  # OpenCV threads while measuring (0: OpenCV's own setting)


@dataclass(frozen=True)
class MotionTrace:
    """Per-video-frame measurements (kept for diagnostics and tests)."""

    t_contact: np.ndarray
    impact: np.ndarray
    t_motion: np.ndarray
    motion: np.ndarray
    flow_impact: np.ndarray | None = None  # the two cues that `impact` combines
    track_impact: np.ndarray | None = None


def motion_envelope(
    frames: Iterable[Any],
    duration: float,
    roi: ROI | None = None,
    source_size: tuple[int, int] | None = None,
    params: MotionParams = MotionParams(),
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
    n_frames_hint: int | None = None,
) -> np.ndarray:
    """Envelope values (float32, 125 frames/s, round(duration * 125) long, 0..1) of frames.

    frames: objects with `.t` (seconds) and `.image` ((H, W) uint8 grey or (H, W, 3) RGB).
    roi: x, y, w, h in source pixels when source_size (width, height) is given, else in
    the pixels of the frames as they arrive.
    """
    trace = measure(frames, roi, source_size, params, progress, cancel, n_frames_hint)
    return envelope_from_trace(trace, duration, params)


def measure(
    frames: Iterable[Any],
    roi: ROI | None = None,
    source_size: tuple[int, int] | None = None,
    params: MotionParams = MotionParams(),
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
    n_frames_hint: int | None = None,
) -> MotionTrace:
    with _opencv_threads(params.opencv_threads):
        return _measure(frames, roi, source_size, params, progress, cancel, n_frames_hint)


def _measure(frames, roi, source_size, params, progress, cancel, n_frames_hint,
             keep_from: float | None = None) -> MotionTrace:
    """keep_from: rows of frames before this time only warm the measuring state up
    (motion_segments.py measures a long clip in pieces that start early by a little)."""
    features: FlowFeatures | None = None
    rows = []
    for i, frame in enumerate(frames):
        if i % 30 == 0:
            check(cancel)
            if n_frames_hint:
                report(progress, 0.95 * i / n_frames_hint, "optical flow")
        gray, colour = _analysis_pictures(frame.image, params.analysis_width, params.colour)
        if features is None:
            mask = _roi_mask(roi, frame.image.shape, gray.shape, source_size)
            source_w = source_size[0] if source_size is not None else frame.image.shape[1]
            source_px = gray.shape[1] / max(float(source_w), 1.0)
            features = FlowFeatures(gray.shape, mask, params.finest_scale, source_px=source_px)
        elif gray.shape != features.shape:
            raise EngineError(f"frame size changed mid-clip ({gray.shape} after {features.shape})")
        row = features.push(float(frame.t), gray, colour)
        if row is not None and (keep_from is None or frame.t >= keep_from - FRAME_TIME_EPS):
            rows.append(
                (row.t_contact, row.impact, row.t_motion, row.motion, row.flow_impact, row.track_impact)
            )
    check(cancel)
    data = np.asarray(rows, np.float64).reshape(-1, 6)
    return MotionTrace(*(np.ascontiguousarray(data[:, i]) for i in range(6)))


def envelope_from_trace(trace: MotionTrace, duration: float, params: MotionParams = MotionParams()) -> np.ndarray:
    n_out = max(int(round(duration * FRAME_RATE)), 0)
    out = np.zeros(n_out, np.float32)
    if n_out == 0 or len(trace.t_contact) == 0:
        return out
    times, levels = contact_events(trace, params)
    out = np.maximum(out, _render_impacts(times, levels, n_out, params))
    if params.sustain_db is not None:
        out = np.maximum(out, _render_sustain(trace, n_out, params))
    out[out < RMS_MIN] = 0.0
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def contact_events(trace: MotionTrace, params: MotionParams = MotionParams()) -> tuple[np.ndarray, np.ndarray]:
    """Times (s) and linear peak levels of the contacts found in a trace."""
    s = trace.impact
    if len(s) == 0:
        return np.zeros(0), np.zeros(0)
    # a steady level (occlusion edges of a steadily moving object) is not a contact
    baseline = median_filter(s, size=params.baseline_frames, mode="nearest")
    onset = np.maximum(s - baseline, 0.0)
    # a contact between two frames splits its velocity change between them: its strength is
    # the sum over the peak frame and its neighbours
    total = onset + np.r_[0.0, onset[:-1]] + np.r_[onset[1:], 0.0]
    peaks = (onset == maximum_filter1d(onset, size=3, mode="constant")) & (total > params.gate_impact)
    # a plateau of equal values yields its first frame only
    peaks[1:] &= ~(peaks[:-1] & (onset[1:] == onset[:-1]))
    idx = np.flatnonzero(peaks)
    if len(idx) == 0:
        return np.zeros(0), np.zeros(0)
    strength = total[idx]
    idx = idx[strength >= params.relative_gate * strength.max()]
    strength = total[idx]
    # loudness follows the strength (amplitude ~ impact speed), the strongest at top_db
    norm = max(params.ref_impact, float(strength.max()))
    levels = 10.0 ** (params.top_db / 20.0) * strength / norm
    return _contact_times(trace.t_contact, onset, idx), levels


def _contact_times(t: np.ndarray, onset: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Sub-frame contact times: the strength-weighted centre of each peak and its neighbours.

    A contact between two frames splits its velocity change between them in proportion
    to where in the interval it happened, so the centroid lands near the true instant.
    """
    lo, hi = np.maximum(idx - 1, 0), np.minimum(idx + 1, len(t) - 1)
    w_lo, w_mid, w_hi = onset[lo] * (lo < idx), onset[idx], onset[hi] * (hi > idx)
    return (w_lo * t[lo] + w_mid * t[idx] + w_hi * t[hi]) / (w_lo + w_mid + w_hi)


def _render_impacts(times: np.ndarray, levels: np.ndarray, n_out: int, params: MotionParams) -> np.ndarray:
    out = np.zeros(n_out, np.float32)
    tau = params.decay_s / np.log(10.0) * FRAME_RATE  # in envelope frames: -20 dB after decay_s
    length = int(np.ceil(tau * np.log(1.0 / RMS_MIN))) + 1  # until it would fall below silence
    decay = np.exp(-np.arange(length) / tau).astype(np.float32)
    attack = ((np.arange(params.attack_frames) + 1) / (params.attack_frames + 1)).astype(np.float32)
    for t, level in zip(times, levels):
        k = int(np.floor(t * FRAME_RATE))  # the envelope frame that contains the contact
        if not 0 <= k < n_out:
            continue
        end = min(n_out, k + length)
        np.maximum(out[k:end], level * decay[: end - k], out=out[k:end])
        a0 = max(0, k - len(attack))
        if a0 < k:
            np.maximum(out[a0:k], level * attack[len(attack) - (k - a0) :], out=out[a0:k])
    return out


def _render_sustain(trace: MotionTrace, n_out: int, params: MotionParams) -> np.ndarray:
    if len(trace.t_motion) == 0:
        return np.zeros(n_out, np.float32)
    centres = (np.arange(n_out) + 0.5) / FRAME_RATE
    motion = np.interp(centres, trace.t_motion, trace.motion, left=0.0, right=0.0)
    top = 10.0 ** (params.sustain_db / 20.0)
    # square root: loudness grows slower than speed, so fast drifts do not approach impacts
    level = top * np.sqrt(np.clip(motion / params.ref_motion, 0.0, 1.0))
    return np.minimum(smooth(level), top)  # the low-pass may overshoot a little


@contextmanager
def _opencv_threads(n: int):
    """OpenCV's thread count set to n (0: left alone) while the block runs.

    On pictures this small OpenCV's worker threads cost more than they give: measured on
    two cores, one thread halved the analysis' CPU time at the same wall time, which leaves
    the other core to the decoder's threads. OpenCV's setting is process-wide, so OpenCV
    work elsewhere in the process runs single-threaded meanwhile.
    """
    if n <= 0:
        yield
        return
    before = cv2.getNumThreads()
    cv2.setNumThreads(n)
    try:
        yield
    finally:
        cv2.setNumThreads(before)


def _analysis_pictures(
    image: np.ndarray, width: int, colour: bool = True
) -> tuple[np.ndarray, np.ndarray | None]:
    """The grey picture at analysis size and, for RGB input when colour is on, the RGB one."""
    img = np.asarray(image)
    if img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    h, w = img.shape[:2]
    if w > width * 1.25:  # media.py normally decodes at the analysis width already
        size = (width, max(2, int(round(h * width / w))))
        img = cv2.resize(np.ascontiguousarray(img), size, interpolation=cv2.INTER_AREA)
    if img.ndim == 2:
        return np.ascontiguousarray(img), None
    rgb = np.ascontiguousarray(img[..., :3])
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), (rgb if colour else None)


def _roi_mask(roi, image_shape, analysis_shape, source_size) -> np.ndarray | None:
    if roi is None:
        return None
    x, y, w, h = (float(v) for v in roi)
    if w <= 0 or h <= 0:
        raise EngineError(f"region of interest must have a positive size, got {tuple(roi)}")
    src_w, src_h = source_size if source_size is not None else (image_shape[1], image_shape[0])
    ah, aw = analysis_shape
    sx, sy = aw / src_w, ah / src_h
    x0, y0 = int(np.clip(np.floor(x * sx), 0, aw)), int(np.clip(np.floor(y * sy), 0, ah))
    x1, y1 = int(np.clip(np.ceil((x + w) * sx), 0, aw)), int(np.clip(np.ceil((y + h) * sy), 0, ah))
    if x1 <= x0 or y1 <= y0:
        raise EngineError(f"region of interest {tuple(roi)} lies outside the {src_w}x{src_h} frame")
    mask = np.zeros(analysis_shape, bool)
    mask[y0:y1, x0:x1] = True
    return mask


class _Prefetch:
    """Frames decoded on a thread of their own, a few ahead of the analysis.

    Decoding (FFmpeg, with the interpreter lock released) and measuring (OpenCV and numpy)
    then run on both cores at once instead of taking turns: on two idle cores the envelope
    is close to the slower of the two, not their sum. The queue is short, so memory stays
    a few small frames. The thread owns the decoder: close() stops it there and waits.
    Frames travel in batches of BATCH: a queue hand-over (locks, a wake-up of the other
    thread) per frame cost the analysis thread about a tenth of its time.
    """

    DEPTH = 4  # batches
    BATCH = 4  # frames per batch
    _END = object()

    def __init__(self, frames):
        self._frames = frames
        self._queue: queue.Queue = queue.Queue(self.DEPTH)
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="foley-motion-decode", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        batch: list = []
        try:
            for frame in self._frames:
                batch.append(frame)
                if len(batch) >= self.BATCH:
                    if not self._put(batch):
                        break
                    batch = []
        except BaseException as exc:  # handed to the consumer, raised there (after the batch)
            self._error = exc
        finally:
            close = getattr(self._frames, "close", None)
            if close is not None:
                close()
            if batch:
                self._put(batch)
            self._put(self._END)

    def _put(self, item) -> bool:
        """Queue item unless stopped first; False when stopped."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self):
        while True:
            item = self._queue.get()
            if item is self._END:
                if self._error is not None:
                    raise self._error
                return
            yield from item

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


class MotionEngine:
    """Video2RMS without weights: contacts seen in the picture become impacts in the envelope."""

    info = EngineInfo(
        id="motion",
        name="Motion (optical flow)",
        kind="video2rms",
        needs_weights=False,
        realtime=True,
        description="Contacts (sudden velocity changes of tracked objects and of optical flow) "
        "become impacts; camera motion and steady movement stay quiet.",
    )

    def __init__(self, **params: Any):
        self.params = MotionParams(**params)

    def available(self) -> tuple[bool, str]:
        if not hasattr(cv2, "DISOpticalFlow_create"):
            return False, "OpenCV lacks DIS optical flow (install opencv-python-headless >= 4.1)"
        return True, ""

    def predict(
        self,
        clip: Any,
        roi: ROI | None = None,
        progress: Progress | None = None,
        cancel: CancelToken | None = None,
    ) -> Envelope:
        info = clip.info
        report(progress, 0.0, "optical flow")
        segments = motion_segments.plan(info.duration, info.fps)
        if len(segments) > 1:  # a long clip: in pieces, on every core
            trace = motion_segments.measure_segments(clip, segments, roi, self.params, progress, cancel)
        else:
            trace = self._measure_whole(clip, roi, progress, cancel)
        values = envelope_from_trace(trace, info.duration, self.params)
        report(progress, 1.0, "done")
        return Envelope(values, FRAME_RATE)

    def _measure_whole(self, clip, roi, progress, cancel) -> MotionTrace:
        info = clip.info
        frames = _Prefetch(clip.frames(width=self.params.analysis_width, gray=not self.params.colour))
        try:
            return measure(frames, roi, (info.width, info.height), self.params, progress, cancel,
                           n_frames_hint=getattr(info, "n_frames", None))
        finally:
            frames.close()  # release the decoder now, also on cancel
