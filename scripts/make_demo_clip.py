"""Generate the bundled demo clip and its ground-truth events.

    python scripts/make_demo_clip.py foley_studio/resources/demo/demo.mp4

The clip is package data (foley_studio/resources/, found through foley_studio.core.resources),
so it ships in the wheel and the PyInstaller bundle; `make demo` rewrites it in place.

Writes OUT.mp4 (640x360, 30 fps, 8 s, H.264 yuv420p + AAC 48 kHz mono) and, beside it,
demo_events.json. Everything is deterministic (fixed seed, analytic physics), so the
clip only changes when this script does.

What is in it, and why:
  * a ball dropped on a wooden floor, bouncing 4 times with decaying heights
    (sound at each contact, louder for faster impacts)             -> kind "ball_bounce"
  * a box that slides along a shelf, falls off and lands           -> kind "box_land"
  * a block dropped from above the frame after the camera pan      -> kind "block_land"
  * distractors that must stay silent: clouds drifting all the time, and a slow camera
    pan (the whole scene translates) while nothing touches anything.
Backgrounds are textured so optical flow has something to track.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from dataclasses import dataclass
from fractions import Fraction

import av
import cv2
import numpy as np

SEED = 20240815
FPS = 30
DURATION = 8.0
WIDTH, HEIGHT = 640, 360
SR = 48_000

WORLD_W = 800  # the camera sees 640 of it and pans across the rest
FLOOR_Y = 300  # world y where things touch the floor
SKY_H = 130
G = 1800.0  # px/s^2; ~1 m = 180 px for a 10 cm ball
PAN = (4.6, 6.6, 160.0)  # start s, end s, distance px (eased)
CLOUD_SPEED = 9.0  # px/s, slow enough to read as background drift


# --- physics: analytic, so contact times are exact ---------------------------------------


@dataclass(frozen=True)
class Contact:
    t: float
    kind: str
    speed: float  # px/s at impact
    x: float  # world x of the contact


def fall_time(h: float, v_up: float = 0.0) -> float:
    """Seconds until height h (px above floor) reaches 0 with initial upward speed v_up."""
    return (v_up + math.sqrt(v_up * v_up + 2 * G * h)) / G


class Ball:
    RADIUS = 17

    def __init__(self, t_drop=0.30, x0=330.0, vx=38.0, height=330.0, restitution=0.6, bounces=4):
        self.t_drop, self.x0, self.vx = t_drop, x0, vx
        # flight segments: (start time, start height, upward speed); a contact ends each one
        self.segments = []
        hits = []  # (time, speed)
        t, h, v = t_drop, height, 0.0
        for _ in range(bounces):
            self.segments.append((t, h, v))
            t += fall_time(h, v)
            speed = math.sqrt(v * v + 2 * G * h)
            hits.append((t, speed))
            h, v = 0.0, restitution * speed
        self.t_rest = t  # after the last contact the ball stays where it landed
        self.contacts = [Contact(t, "ball_bounce", s, self.x_at(t)) for t, s in hits]

    def x_at(self, t: float) -> float:
        # drifts right while in the air (it was tossed, not just let go)
        return self.x0 + self.vx * (min(max(t, self.t_drop), self.t_rest) - self.t_drop)

    def height_at(self, t: float) -> float:
        if t < self.t_drop:
            return self.segments[0][1]
        if t >= self.t_rest:
            return 0.0
        start, h, v = [s for s in self.segments if s[0] <= t][-1]
        dt = t - start
        return max(0.0, h + v * dt - 0.5 * G * dt * dt)


class SlidingBox:
    """Slides along a shelf at constant speed, tips off the edge, lands flat on the floor."""

    SIZE = 46

    def __init__(self, shelf_y=176, shelf_edge=236.0, x0=150.0, t_start=2.55, speed=95.0):
        self.shelf_y, self.shelf_edge, self.x0, self.t_start, self.speed = (
            shelf_y, shelf_edge, x0, t_start, speed)
        # it falls once its centre passes the shelf edge
        self.t_fall = t_start + (shelf_edge - (x0 + self.SIZE / 2)) / speed
        drop = FLOOR_Y - shelf_y
        self.t_land = self.t_fall + fall_time(drop)
        self.contact = Contact(self.t_land, "box_land", math.sqrt(2 * G * drop),
                               self.x_at(self.t_land) + self.SIZE / 2)

    def x_at(self, t: float) -> float:
        # keeps its horizontal speed in the air; friction stops it dead on landing
        return self.x0 + self.speed * (min(max(t, self.t_start), self.t_land) - self.t_start)

    def bottom_at(self, t: float) -> float:
        if t <= self.t_fall:
            return float(self.shelf_y)
        dt = min(t, self.t_land) - self.t_fall
        return min(FLOOR_Y, self.shelf_y + 0.5 * G * dt * dt)


class DroppedBlock:
    """Falls straight down from above the frame."""

    W, H = 40, 30

    def __init__(self, x=600.0, t_drop=6.75, top_start=-60.0):
        self.x, self.t_drop = x, t_drop
        self.bottom0 = top_start + self.H
        self.t_land = t_drop + fall_time(FLOOR_Y - self.bottom0)
        self.contact = Contact(self.t_land, "block_land",
                               math.sqrt(2 * G * (FLOOR_Y - self.bottom0)), x + self.W / 2)

    def bottom_at(self, t: float) -> float:
        dt = min(max(t - self.t_drop, 0.0), self.t_land - self.t_drop)
        return min(FLOOR_Y, self.bottom0 + 0.5 * G * dt * dt)


def camera_x(t: float) -> float:
    start, end, dist = PAN
    u = min(max((t - start) / (end - start), 0.0), 1.0)
    return dist * (0.5 - 0.5 * math.cos(math.pi * u))  # eased: no jolt at either end


# --- picture -----------------------------------------------------------------------------


def smooth_noise(rng, h, w, cell, octaves=3):
    """Value noise in 0..1 from upscaled random grids (cheap, tileless enough)."""
    out = np.zeros((h, w), np.float32)
    amp, total = 1.0, 0.0
    for o in range(octaves):
        c = max(2, cell >> o)
        grid = rng.random((h // c + 2, w // c + 2)).astype(np.float32)
        big = cv2.resize(grid, (w + 2 * c, h + 2 * c), interpolation=cv2.INTER_CUBIC)
        out += amp * big[c:c + h, c:c + w]
        total += amp
        amp *= 0.5
    out /= total
    return (out - out.min()) / (out.max() - out.min() + 1e-6)


def build_static_world(rng) -> np.ndarray:
    """Wall, floor boards and a shelf, drawn once; the sky is filled per frame."""
    world = np.zeros((HEIGHT, WORLD_W, 3), np.float32)
    # plaster wall with mottled texture and a darker skirting board
    # coarse mottling plus fine grit: optical flow needs detail at every scale
    wall = smooth_noise(rng, FLOOR_Y - SKY_H, WORLD_W, 24, octaves=4)
    grit = rng.random((FLOOR_Y - SKY_H, WORLD_W)).astype(np.float32)
    grit = cv2.GaussianBlur(grit, (0, 0), 0.8)
    world[SKY_H:FLOOR_Y] = np.array([178, 160, 138]) * (0.78 + 0.3 * wall[..., None]
                                                        + 0.12 * grit[..., None])
    world[FLOOR_Y - 14:FLOOR_Y] = np.array([96, 78, 64])
    # window frame around the sky
    world[SKY_H - 8:SKY_H] = np.array([230, 228, 220])
    # wooden floor: boards with grain, lighter towards the front
    floor_h = HEIGHT - FLOOR_Y
    grain = smooth_noise(rng, floor_h, WORLD_W, 6, octaves=2)
    yy = np.linspace(0.85, 1.1, floor_h)[:, None, None]
    world[FLOOR_Y:] = np.array([150, 104, 66]) * (0.75 + 0.4 * grain[..., None]) * yy
    for x in range(0, WORLD_W, 97):
        world[FLOOR_Y:, x:x + 2] *= 0.55
    world[FLOOR_Y:FLOOR_Y + 2] *= 0.6
    # shelf on the left wall
    world[176:186, 40:236] = np.array([110, 76, 48])
    world[186:192, 44:232] = np.array([70, 52, 40])
    return world


def build_sky_texture(rng) -> np.ndarray:
    """Blue gradient with soft white clouds, wider than the world so it can drift."""
    w = WORLD_W + int(CLOUD_SPEED * DURATION) + 8
    sky = np.zeros((SKY_H, w, 3), np.float32)
    grad = np.linspace(0.0, 1.0, SKY_H)[:, None, None]
    sky[:] = np.array([92, 140, 205]) * (1 - grad) + np.array([170, 200, 230]) * grad
    cloud = smooth_noise(rng, SKY_H, w, 48, octaves=4)
    cover = np.clip((cloud - 0.45) * 2.6, 0, 1)[..., None]
    return sky * (1 - cover) + np.array([246, 246, 250]) * cover


def ball_sprite(radius: int) -> tuple[np.ndarray, np.ndarray]:
    """RGB and alpha of a shaded red ball (light from the top left)."""
    size = 2 * radius + 3
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) - (size - 1) / 2
    r = np.hypot(xx, yy)
    alpha = np.clip(radius + 0.5 - r, 0, 1)
    light = np.clip(1.0 - np.hypot(xx + radius * 0.35, yy + radius * 0.4) / (radius * 1.6), 0, 1)
    rgb = np.array([200, 40, 36]) * (0.55 + 0.6 * light[..., None]) + 80 * light[..., None] ** 4
    return np.clip(rgb, 0, 255), alpha


def box_sprite(rng, w, h, base) -> np.ndarray:
    """A wooden box face with grain and a darker border."""
    grain = smooth_noise(rng, h, w, 4, octaves=2)
    img = np.array(base, np.float32) * (0.8 + 0.35 * grain[..., None])
    img[:3], img[-3:], img[:, :3], img[:, -3:] = (img[:3] * 0.6, img[-3:] * 0.6,
                                                   img[:, :3] * 0.6, img[:, -3:] * 0.6)
    return img


def paste(world, rgb, alpha, left, top):
    """Alpha-blend a sprite at integer world coordinates, clipped to the world."""
    h, w = rgb.shape[:2]
    x0, y0 = max(left, 0), max(top, 0)
    x1, y1 = min(left + w, world.shape[1]), min(top + h, world.shape[0])
    if x1 <= x0 or y1 <= y0:
        return
    sub = (slice(y0 - top, y1 - top), slice(x0 - left, x1 - left))
    a = alpha[sub][..., None] if alpha is not None else 1.0
    world[y0:y1, x0:x1] = world[y0:y1, x0:x1] * (1 - a) + rgb[sub] * a


def shadow(world, cx, height, width):
    """Soft contact shadow on the floor; smaller and fainter the higher the object."""
    fade = 1.0 / (1.0 + height / 80.0)
    half_w = int(width * (0.5 + 0.5 * fade))
    if half_w < 2:
        return
    y0, y1 = FLOOR_Y - 3, FLOOR_Y + 9
    x0, x1 = int(cx) - half_w, int(cx) + half_w
    xx = np.linspace(-1, 1, x1 - x0)[None, :]
    yy = np.linspace(-1, 1, y1 - y0)[:, None]
    dark = np.clip(1 - (xx ** 2 + yy ** 2), 0, 1) * 0.45 * fade
    xs = slice(max(x0, 0), min(x1, world.shape[1]))
    world[y0:y1, xs] *= (1 - dark[:, xs.start - x0:xs.stop - x0])[..., None]


class Scene:
    def __init__(self, seed: int = SEED):
        rng = np.random.default_rng(seed)
        self.static = build_static_world(rng)
        self.sky = build_sky_texture(rng)
        self.ball = Ball()
        self.ball_rgb, self.ball_alpha = ball_sprite(Ball.RADIUS)
        self.box = SlidingBox()
        self.box_rgb = box_sprite(rng, SlidingBox.SIZE, SlidingBox.SIZE, [196, 150, 96])
        self.block = DroppedBlock()
        self.block_rgb = box_sprite(rng, DroppedBlock.W, DroppedBlock.H, [90, 104, 130])

    def contacts(self) -> list[Contact]:
        everything = self.ball.contacts + [self.box.contact, self.block.contact]
        return sorted(everything, key=lambda c: c.t)

    def render(self, t: float) -> np.ndarray:
        world = self.static.copy()
        # clouds drift at sub-pixel speed: blend the two nearest integer offsets
        off = CLOUD_SPEED * t
        i, frac = int(off), off - int(off)
        world[:SKY_H - 8] = ((1 - frac) * self.sky[:SKY_H - 8, i:i + WORLD_W]
                             + frac * self.sky[:SKY_H - 8, i + 1:i + 1 + WORLD_W])

        h = self.ball.height_at(t)
        x = self.ball.x_at(t)
        shadow(world, x, h, Ball.RADIUS * 1.2)
        r = Ball.RADIUS
        paste(world, self.ball_rgb, self.ball_alpha, int(round(x)) - r - 1,
              int(round(FLOOR_Y - h)) - 2 * r - 2)

        bx, bottom = self.box.x_at(t), self.box.bottom_at(t)
        if t >= self.box.t_fall:
            shadow(world, bx + SlidingBox.SIZE / 2, FLOOR_Y - bottom, SlidingBox.SIZE * 0.6)
        paste(world, self.box_rgb, None, int(round(bx)), int(round(bottom)) - SlidingBox.SIZE)

        bottom = self.block.bottom_at(t)
        if bottom > 0:
            shadow(world, self.block.x + DroppedBlock.W / 2, FLOOR_Y - bottom, DroppedBlock.W * 0.6)
            top = int(round(bottom)) - DroppedBlock.H
            paste(world, self.block_rgb, None, int(self.block.x), top)

        # the camera: a sub-pixel horizontal pan over the world
        shift = np.float32([[1, 0, -camera_x(t)], [0, 1, 0]])
        view = cv2.warpAffine(world, shift, (WIDTH, HEIGHT), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REFLECT)
        return np.clip(view, 0, 255).astype(np.uint8)


# --- sound -------------------------------------------------------------------------------

# (frequency Hz, decay s, relative amplitude) per contact kind: a few damped modes
MODES = {
    "ball_bounce": [(210, 0.035, 1.0), (470, 0.02, 0.5), (1150, 0.012, 0.25)],
    "box_land": [(95, 0.09, 1.0), (180, 0.06, 0.6), (720, 0.03, 0.35), (1450, 0.015, 0.2)],
    "block_land": [(140, 0.07, 1.0), (390, 0.05, 0.5), (1900, 0.012, 0.25)],
}
NOISE_DECAY = {"ball_bounce": 0.006, "box_land": 0.012, "block_land": 0.01}
REFERENCE_SPEED = 1000.0  # px/s that gives full level


def impact(kind: str, speed: float, rng) -> np.ndarray:
    """A short decaying noise burst plus modal ringing, level from the impact speed."""
    n = int(0.4 * SR)
    t = np.arange(n) / SR
    sound = np.zeros(n)
    for freq, decay, amp in MODES[kind]:
        detune = 1 + 0.02 * rng.standard_normal()  # no two hits identical
        sound += amp * np.exp(-t / decay) * np.sin(2 * np.pi * freq * detune * t)
    burst = rng.standard_normal(n) * np.exp(-t / NOISE_DECAY[kind])
    sound += 0.6 * burst
    sound *= 1 - np.exp(-t / 0.0005)  # 0.5 ms attack so the onset does not click
    level = min(speed / REFERENCE_SPEED, 1.2) ** 1.3
    return level * sound / np.abs(sound).max()


def render_audio(contacts: list[Contact], seed: int = SEED) -> np.ndarray:
    rng = np.random.default_rng(seed + 1)
    n = int(round(DURATION * SR))
    # room tone: quiet low-passed noise, ~ -66 dBFS RMS, far below the -40 dBFS silence floor
    room = np.convolve(rng.standard_normal(n + 63), np.hanning(64) / np.hanning(64).sum(), "valid")
    out = room / room.std() * 0.0005
    for c in contacts:
        hit = impact(c.kind, c.speed, rng)
        at = int(round(c.t * SR))
        end = min(n, at + len(hit))
        out[at:end] += 0.7 * hit[: end - at]
    peak = np.abs(out).max()
    if peak > 0.89:
        out *= 0.89 / peak  # -1 dBFS headroom for the AAC encoder
    return out.astype(np.float32)


# --- files -------------------------------------------------------------------------------


def write_clip(path: str, scene: Scene, audio: np.ndarray) -> None:
    n_frames = int(round(DURATION * FPS))
    with av.open(path, mode="w", options={"movflags": "+faststart"}) as out:
        video = out.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        video.options = {"crf": "21", "preset": "slow", "g": str(2 * FPS)}
        sound = out.add_stream("aac", rate=SR)
        sound.layout, sound.bit_rate = "mono", 96_000
        for i in range(n_frames):
            frame = av.VideoFrame.from_ndarray(scene.render(i / FPS), format="rgb24")
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        for at in range(0, len(audio), 1024):
            chunk = av.AudioFrame.from_ndarray(audio[None, at:at + 1024], format="fltp",
                                               layout="mono")
            chunk.sample_rate, chunk.pts, chunk.time_base = SR, at, Fraction(1, SR)
            out.mux(sound.encode(chunk))
        out.mux(sound.encode(None))


def events_json(contacts: list[Contact]) -> dict:
    return {
        "description": "Ground truth for demo.mp4, written by scripts/make_demo_clip.py",
        "fps": FPS,
        "duration": DURATION,
        "n_frames": int(round(DURATION * FPS)),
        "width": WIDTH,
        "height": HEIGHT,
        "sample_rate": SR,
        "seed": SEED,
        "events": [
            {
                "t": round(c.t, 6),
                # first frame that shows the contact (or the bounce after it)
                "frame": math.ceil(c.t * FPS - 1e-9),
                "kind": c.kind,
                "impact_speed_px_s": round(c.speed, 1),
                "x_world": round(c.x, 1),
            }
            for c in contacts
        ],
        "silent_motion": [
            {"kind": "cloud_drift", "start": 0.0, "end": DURATION, "speed_px_s": CLOUD_SPEED},
            {"kind": "camera_pan", "start": PAN[0], "end": PAN[1], "distance_px": PAN[2]},
        ],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", help="output .mp4; demo_events.json is written beside it")
    args = parser.parse_args(argv)
    scene = Scene()
    contacts = scene.contacts()
    out_dir = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(out_dir, exist_ok=True)
    write_clip(args.out, scene, render_audio(contacts))
    with open(os.path.join(out_dir, "demo_events.json"), "w") as f:
        json.dump(events_json(contacts), f, indent=2)
        f.write("\n")
    print(f"{args.out}: {os.path.getsize(args.out) / 1e6:.2f} MB, {len(contacts)} contacts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
