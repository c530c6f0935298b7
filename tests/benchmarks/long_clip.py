"""The long benchmark clip for bench_long_clip.py: N minutes of 1280x720 30 fps H.264 + AAC.

Encoding an hour of 720p frame by frame would take longer than the benchmark itself, so a
24 s segment (a still textured room, three balls falling and bouncing on the floor, each
bounce a short noise burst in a 48 kHz mono AAC track) is encoded once with libx264 ultrafast and its
packets are repeated with shifted timestamps. 24 s holds a whole number of AAC frames
(24 * 48000 / 1024 = 1125) and the segment starts on a keyframe, so the copies join
seamlessly. Written under a temporary name and renamed: an interrupted run leaves nothing.
"""

from __future__ import annotations

import os

import av
import numpy as np
from clip_cache import cache_dir, mux_mono_audio, write_atomically

W, H, FPS = 1280, 720, 30
SEGMENT_S = 24
AUDIO_SR = 48_000
VERSION = 2


def clip_path(minutes: float) -> str:
    """Path of the N-minute clip, written first if it is not cached yet."""
    reps = max(1, int(round(minutes * 60 / SEGMENT_S)))
    path = os.path.join(cache_dir(), f"long-{reps * SEGMENT_S}s-720p-v{VERSION}.mp4")
    if os.path.isfile(path):
        return path
    segment = os.path.join(cache_dir(), f"segment-{SEGMENT_S}s-720p-v{VERSION}.mp4")
    if not os.path.isfile(segment):
        write_atomically(segment, _write_segment)
    write_atomically(path, lambda tmp: _repeat(segment, tmp, reps))
    return path


def _room(rng: np.random.Generator) -> np.ndarray:
    coarse = rng.random((H // 16 + 2, W // 16 + 2)).astype(np.float32)
    smooth = np.kron(coarse, np.ones((16, 16), np.float32))[:H, :W]
    return np.clip(50 + 120 * smooth, 0, 255).astype(np.uint8)


def _write_segment(path: str) -> None:
    rng = np.random.default_rng(7)
    room = _room(rng)
    n = SEGMENT_S * FPS
    side = 90
    floor = H - 40
    # x, y, horizontal speed, vertical speed (px per frame), gravity (px per frame^2)
    balls = [[float(rng.uniform(0, W - side)), float(rng.uniform(50, 300)),
              float(rng.uniform(3, 8)) * rng.choice([-1, 1]), 0.0, float(rng.uniform(2.0, 3.5))]
             for _ in range(3)]
    impacts = []
    chroma = np.full((H // 2, W), 128, np.uint8)  # U and V planes, stacked (yuv420p layout)
    with av.open(path, "w", format="mp4") as out:
        video = out.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = W, H, "yuv420p"
        video.options = {"preset": "ultrafast", "crf": "28", "g": "150"}
        sound = out.add_stream("aac", rate=AUDIO_SR)
        sound.layout = "mono"
        for i in range(n):
            y = room.copy()
            for b in balls:
                b[0] += b[2]
                if not 0 <= b[0] <= W - side:  # off a side wall
                    b[2], b[0] = -b[2], min(max(b[0], 0.0), W - side)
                b[3] += b[4]
                b[1] += b[3]
                if b[1] + side >= floor:  # a bounce: lose some speed, never die out
                    b[1] = floor - side
                    b[3] = -max(0.85 * b[3], 30.0)
                    impacts.append((i + 1) / FPS)
                y[int(b[1]):int(b[1]) + side, int(b[0]):int(b[0]) + side] = 235
            frame = av.VideoFrame.from_ndarray(np.concatenate([y, chroma]), format="yuv420p")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        samples = _impact_audio(rng, impacts, SEGMENT_S * AUDIO_SR)
        mux_mono_audio(out, sound, samples, AUDIO_SR)


def _impact_audio(rng, impacts, n: int) -> np.ndarray:
    samples = (rng.standard_normal(n) * 0.003).astype(np.float32)  # room tone
    length = int(0.12 * AUDIO_SR)
    decay = np.exp(-np.arange(length) / (0.03 * AUDIO_SR)).astype(np.float32)
    for t in impacts:
        a = int(t * AUDIO_SR)
        m = len(samples[a:a + length])
        samples[a:a + m] += (rng.standard_normal(length).astype(np.float32) * decay * 0.5)[:m]
    return np.clip(samples, -1.0, 1.0)


def _repeat(segment: str, path: str, reps: int) -> None:
    """`reps` copies of the segment's packets, back to back, timestamps shifted."""
    with av.open(segment) as src, av.open(path, "w", format="mp4") as out:
        streams = {s.index: out.add_stream_from_template(s) for s in (src.streams.video[0],
                                                                    src.streams.audio[0])}
        last_dts: dict[int, int] = {}
        for r in range(reps):
            src.seek(0)
            for packet in src.demux():
                if packet.dts is None or packet.size == 0:
                    continue
                shift = int(round(r * SEGMENT_S / packet.time_base))
                dts = packet.dts + shift
                if dts <= last_dts.get(packet.stream_index, -1 << 62):
                    continue  # the encoder's priming packet overlaps the previous copy's end
                last_dts[packet.stream_index] = dts
                packet.dts, packet.pts = dts, packet.pts + shift
                packet.stream = streams[packet.stream_index]
                out.mux(packet)


if __name__ == "__main__":
    import sys

    print(clip_path(float(sys.argv[1]) if len(sys.argv) > 1 else 60.0))
