"""Motion engine: contacts become onsets at the contact frame; steady motion stays quiet."""

from __future__ import annotations

from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from foley_studio.core.envelope import Envelope
from foley_studio.core.errors import Cancelled, EngineError
from foley_studio.core.media import Frame
from foley_studio.core.rms import FRAME_RATE, RMS_MIN
from foley_studio.engines.base import CancelToken, VideoToRMS
from foley_studio.engines.video2rms.motion import (
    MotionEngine,
    MotionParams,
    contact_events,
    envelope_from_trace,
    measure,
    motion_envelope,
)

FPS = 30.0
W, H = 320, 180  # analysed at 160x90 after the engine's own downscale


def _texture(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    coarse = rng.random((h // 4 + 2, w // 4 + 2)).astype(np.float32)
    return 60.0 + 60.0 * cv2.resize(coarse, (w + 8, h + 8), interpolation=cv2.INTER_CUBIC)[:h, :w]


def bouncing_ball(n=90, size=24, g=1.0, floor=160, x0=150, vx=0.0, e=0.8, seed=0):
    """A bright square falling under gravity and bouncing on a floor line.

    Semi-implicit Euler in px/frame; returns frames and the exact (fractional) frame
    positions of the contacts, and the frame of greatest speed before the first contact.
    """
    bg = _texture(H, W, seed)
    y, vy, x = 6.0, 0.0, float(x0)
    ys, xs, contacts, speeds = [], [], [], []
    for i in range(n):
        ys.append(y)
        xs.append(x)
        vy += g
        ny = y + vy
        if ny + size >= floor:
            contacts.append(i + (floor - size - y) / vy)
            ny = floor - size - (ny + size - floor) * e
            vy = -vy * e
        speeds.append(abs(ny - y))
        y, x = ny, x + vx
    frames = []
    for i in range(n):
        img = bg.copy()
        yi, xi = int(round(ys[i])), int(round(xs[i]))
        img[yi : yi + size, xi : xi + size] = 235
        frames.append(Frame(i / FPS, img.astype(np.uint8)))
    return frames, np.array(contacts)


def panning(n=60, speed=4.0, seed=1):
    """The whole textured picture translating at a constant speed (a camera pan)."""
    big = _texture(H, W + int(speed * n) + 16, seed)
    out = []
    for i in range(n):
        m = np.float32([[1, 0, -speed * i], [0, 1, 0]])
        out.append(Frame(i / FPS, cv2.warpAffine(big, m, (W, H)).astype(np.uint8)))
    return out


def drifting_blob(n=60, speed=2.0, seed=2):
    """A soft bright blob drifting at constant velocity over a still background (a cloud)."""
    bg = _texture(H, W, seed)
    yy, xx = np.mgrid[0:H, 0:W]
    out = []
    for i in range(n):
        cx, cy = 60 + speed * i, 90
        blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * 20.0**2))
        out.append(Frame(i / FPS, np.clip(bg * (1 - blob) + 220 * blob, 0, 255).astype(np.uint8)))
    return out


@pytest.fixture(scope="module")
def bounce():
    frames, contacts = bouncing_ball()
    assert len(contacts) >= 3
    return frames, contacts


@pytest.fixture(scope="module")
def bounce_env(bounce):
    frames, _ = bounce
    return motion_envelope(frames, duration=len(frames) / FPS)


def test_every_contact_is_an_event_within_one_video_frame(bounce):
    frames, contacts = bounce
    times, levels = contact_events(measure(frames))
    event_frames = times * FPS
    visible = contacts[contacts < len(frames) - 2]
    for c in visible:
        assert np.min(np.abs(event_frames - c)) <= 1.0, (c, event_frames)
    # and nothing else: every event is a contact
    for ev in event_frames:
        assert np.min(np.abs(contacts - ev)) <= 1.0, (ev, contacts)
    assert np.all((levels > 0.05) & (levels <= 0.51))  # -26..-6 dBFS


def test_envelope_onsets_sit_at_the_contacts(bounce, bounce_env):
    _, contacts = bounce
    env = bounce_env
    for c in contacts[contacts < 85]:
        k = int(c / FPS * FRAME_RATE)
        lo, hi = max(k - 5, 0), k + 6
        peak = lo + int(np.argmax(env[lo:hi]))
        assert abs(peak - k) <= 5, (c, peak, k)
        # a sharp onset: the level a video frame before the contact is far below the peak
        assert env[max(k - 6, 0)] < 0.5 * env[peak]


def test_peak_is_at_the_contact_not_at_the_greatest_speed(bounce, bounce_env):
    _, contacts = bounce
    env = bounce_env
    first = int(contacts[0] / FPS * FRAME_RATE)
    # the ball is fastest in the frames just before the contact; it is quiet there
    falling = env[: first - 6]
    assert env[first - 5 : first + 6].max() > 0.1
    assert falling.max() < 0.2 * env[first - 5 : first + 6].max()


def test_small_fast_ball_bounces_are_events():
    # 8 px at the analysis width, hitting the floor at ~9 px/frame: about its own size per
    # frame, where dense flow loses it (the demo clip's ball); the blob cue follows it
    frames, contacts = bouncing_ball(size=16, g=1.2, e=0.6)
    times, levels = contact_events(measure(frames))
    # the first three (impacts at 9, 5 and 3 px/frame); the ones after are hops of a pixel
    for c in contacts[:3]:
        assert np.min(np.abs(times * FPS - c)) <= 1.0, (c, times * FPS)
    for ev in times * FPS:  # and nothing else
        assert np.min(np.abs(contacts - ev)) <= 1.0, (ev, contacts)
    # slower impacts are quieter
    first = [levels[np.argmin(np.abs(times * FPS - c))] for c in contacts[:3]]
    assert first[0] > first[1] > first[2], first


def _colour_only_ball(frames):
    """The ball of `frames` recoloured red with the background's mean grey level."""
    out = []
    for f in frames:
        grey = f.image.astype(np.float32)
        rgb = np.repeat(grey[..., None], 3, axis=-1)
        ball = f.image >= 230
        rgb[ball] = (200.0, 62.0, 40.0)  # grey level ~100: the texture's own middle
        out.append(Frame(f.t, np.clip(rgb, 0, 255).astype(np.uint8)))
    return out


def test_an_object_of_the_backgrounds_grey_level_is_seen_by_its_colour():
    frames, contacts = bouncing_ball(size=24, g=1.0)
    rgb = _colour_only_ball(frames)
    times, _ = contact_events(measure(rgb))
    for c in contacts[:3]:
        assert np.min(np.abs(times * FPS - c)) <= 1.0, (c, times * FPS)


def test_camera_pan_is_silent():
    frames = panning()
    assert len(contact_events(measure(frames))[0]) == 0
    env = motion_envelope(frames, duration=len(frames) / FPS)
    assert env.max() < 0.02


def test_constant_velocity_drift_makes_no_onsets():
    frames = drifting_blob()
    assert len(contact_events(measure(frames))[0]) == 0
    env = motion_envelope(frames, duration=len(frames) / FPS)
    assert env.max() < 0.03  # at most a quiet bed of sustained motion (-32 dBFS)


def test_roi_away_from_the_ball_is_silent(bounce):
    frames, _ = bounce
    left_only = (0, 0, 100, H)  # the ball falls at x = 150..174
    env = motion_envelope(frames, len(frames) / FPS, roi=left_only)
    assert env.max() == 0.0
    around_ball = (130, 0, 70, H)
    env = motion_envelope(frames, len(frames) / FPS, roi=around_ball)
    assert env.max() > 0.1


def test_roi_in_source_pixels_is_scaled():
    frames, _ = bouncing_ball(n=45)
    # the same region given in 4x larger source pixels
    env = motion_envelope(frames, 1.5, roi=(0, 0, 400, 4 * H), source_size=(4 * W, 4 * H))
    assert env.max() == 0.0


@pytest.mark.parametrize("roi", [(0, 0, 0, 10), (W + 10, 0, 20, 20)])
def test_bad_roi_is_a_clear_error(roi):
    frames, _ = bouncing_ball(n=5)
    with pytest.raises(EngineError, match="region of interest"):
        motion_envelope(frames, 5 / FPS, roi=roi)


@pytest.mark.parametrize("duration", [0.0, 0.5, 3.0, 2.999])
def test_length_and_range(bounce, duration):
    frames, _ = bounce
    env = motion_envelope(frames[: int(duration * FPS) + 1], duration)
    assert env.dtype == np.float32
    assert len(env) == round(duration * FRAME_RATE)
    assert np.all((env == 0) | ((env >= RMS_MIN) & (env <= 1.0)))


def test_too_few_frames_is_silence():
    frames, _ = bouncing_ball(n=2)
    assert not motion_envelope(frames[:1], 1.0).any()
    assert not motion_envelope([], 1.0).any()


def test_rgb_frames_and_variable_frame_rate():
    frames, contacts = bouncing_ball()
    rgb = [Frame(f.t, np.repeat(f.image[..., None], 3, axis=-1)) for f in frames]
    # drop every fourth frame: the timestamps carry the timing
    vfr = [f for i, f in enumerate(rgb) if i % 4 != 3]
    times, _ = contact_events(measure(vfr))
    for c in contacts[contacts < 85]:
        assert np.min(np.abs(times * FPS - c)) <= 1.5, (c, times * FPS)


def test_sustained_motion_is_a_quiet_bed(bounce):
    frames, _ = bounce
    trace = measure(frames)
    quiet = envelope_from_trace(trace, 3.0, MotionParams(sustain_db=None))
    full = envelope_from_trace(trace, 3.0)
    assert np.all(full >= quiet)
    assert (full - quiet).max() <= 10 ** (-32 / 20) + 1e-6


class _FakeClip:
    def __init__(self, frames, width=W, height=H):
        self.frames_list = frames
        self.info = SimpleNamespace(
            duration=len(frames) / FPS, fps=FPS, width=width, height=height, n_frames=len(frames)
        )
        self.requested = None

    def frames(self, width=None, gray=True, start=0.0, end=None):
        self.requested = (width, gray)
        return iter(self.frames_list)


def test_engine_protocol_progress_and_envelope(bounce):
    frames, _ = bounce
    engine = MotionEngine()
    assert isinstance(engine, VideoToRMS)
    assert engine.info.id == "motion" and engine.info.kind == "video2rms"
    assert not engine.info.needs_weights and engine.info.realtime
    assert engine.available() == (True, "")
    seen = []
    clip = _FakeClip(frames)
    env = engine.predict(clip, progress=lambda f, msg: seen.append(f))
    assert isinstance(env, Envelope) and env.rate == FRAME_RATE
    assert len(env) == round(clip.info.duration * FRAME_RATE)
    # RGB: the blob cue also sees objects that only differ from their background in colour
    assert clip.requested == (MotionParams().analysis_width, False)
    assert seen[0] == 0.0 and seen[-1] == 1.0 and len(seen) >= 4
    assert all(b >= a for a, b in zip(seen, seen[1:]))


def test_grey_frames_are_decoded_when_colour_is_off(bounce):
    frames, _ = bounce
    clip = _FakeClip(frames)
    MotionEngine(colour=False).predict(clip)
    assert clip.requested == (MotionParams().analysis_width, True)


def test_cancel_raises(bounce):
    frames, _ = bounce
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        MotionEngine().predict(_FakeClip(frames), cancel=token)


def test_cancel_midway_stops_between_frames(bounce):
    frames, _ = bounce
    token = CancelToken()
    pulled = []

    def stream():
        for i, f in enumerate(frames):
            pulled.append(i)
            if i == 40:
                token.cancel()
            yield f

    with pytest.raises(Cancelled):
        motion_envelope(stream(), 3.0, cancel=token)
    assert len(pulled) <= 61  # checked at least every 30 frames


def test_engine_on_a_real_h264_file(tmp_path):
    from foley_studio.core.media import open_clip
    from tests.mediagen import write_video

    frames, contacts = bouncing_ball(n=60)
    stack = np.stack([f.image for f in frames])
    path = write_video(tmp_path / "bounce.mp4", np.repeat(stack[..., None], 3, axis=-1), fps=FPS)
    clip = open_clip(path)
    env = MotionEngine().predict(clip)
    assert len(env) == round(clip.info.duration * FRAME_RATE)
    for c in contacts[:2]:
        k = int(c / FPS * FRAME_RATE)
        peak = k - 8 + int(np.argmax(env.values[k - 8 : k + 9]))
        assert abs(peak - k) <= 5 and env.values[peak] > 0.1
    assert env.values[: int(contacts[0] / FPS * FRAME_RATE) - 6].max() < 0.05


def test_registry_creates_the_motion_engine():
    from foley_studio.engines import registry

    engine = registry.create("motion", decay_s=0.2)
    assert isinstance(engine, MotionEngine) and engine.params.decay_s == 0.2


def test_repeated_frames_are_not_contacts():
    # frame-rate conversion repeats frames: a fast ball would seem to stop and restart
    frames, contacts = bouncing_ball()
    repeated = []
    for i, f in enumerate(frames):
        repeated.append(f)
        if i % 4 == 2:
            repeated.append(Frame(f.t + 0.5 / FPS, f.image))
    times, _ = contact_events(measure(repeated))
    for ev in times * FPS:
        assert np.min(np.abs(contacts - ev)) <= 1.0, (ev, contacts)
    for c in contacts[contacts < 85]:
        assert np.min(np.abs(times * FPS - c)) <= 1.0


def test_cancel_stops_the_decode_thread_and_closes_the_decoder(bounce):
    """Frames are decoded on a thread of their own (overlapping the analysis); a cancel
    must still stop it, close the decoder, and leave no thread behind."""
    import threading

    frames, _ = bounce
    token = CancelToken()
    closed = []

    class Clip(_FakeClip):
        def frames(self, width=None, gray=True, start=0.0, end=None):
            def gen():
                try:
                    for i, f in enumerate(frames * 50):
                        if i == 45:
                            token.cancel()
                        yield f
                finally:
                    closed.append(True)
            return gen()

    before = {t for t in threading.enumerate() if t.name == "foley-motion-decode"}
    with pytest.raises(Cancelled):
        MotionEngine().predict(Clip(frames), cancel=token)
    assert closed == [True]
    assert {t for t in threading.enumerate() if t.name == "foley-motion-decode"} == before


def test_a_decode_error_reaches_the_caller(bounce):
    from foley_studio.core.errors import MediaError

    frames, _ = bounce

    class Clip(_FakeClip):
        def frames(self, width=None, gray=True, start=0.0, end=None):
            def gen():
                yield from frames[:20]
                raise MediaError("damaged video data after 0.63 s", "clip.mp4")
            return gen()

    with pytest.raises(MediaError, match="damaged video data"):
        MotionEngine().predict(Clip(frames))
