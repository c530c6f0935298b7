"""Learned Video2RMS speed: features + network on a 10 s 640x360 30 fps clip, and training.

* inference: a random-initialised network of the default size (speed does not depend on
  the weights) predicts the envelope of a 10 s H.264 clip end to end
  (LearnedEngine().predict(open_clip(path))), plus rows for the feature extraction alone
  and the network alone;
* training: 8 synthetic 4 s clips (320x180, a bouncing square with a click per contact in
  the audio track), default settings (4 s windows, batch 8): feature extraction per clip
  second (done once, then cached) and seconds per epoch.

Wall-clock numbers on a shared machine move with its load; the load average is reported.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
import time
from fractions import Fraction

import cv2
import numpy as np

W, H, FPS, SECONDS = 640, 360, 30, 10.0


def _scene(n: int, w: int, h: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    coarse = rng.random((h // 8 + 2, w // 8 + 2)).astype(np.float32)
    floor = cv2.resize(coarse, (coarse.shape[1] * 8, coarse.shape[0] * 8), interpolation=cv2.INTER_CUBIC)[:h, :w]
    floor = np.clip(50 + 120 * floor, 0, 255).astype(np.uint8)
    side = max(8, w // 16)
    x, v = float(rng.uniform(0, w - side)), float(rng.uniform(0.6, 1.2)) * w
    contacts, frames = [], []
    for i in range(n):
        img = floor.copy()
        y = (h - side) // 2
        img[y:y + side, int(x):int(x) + side] = 235
        frames.append(np.repeat(img[..., None], 3, axis=-1))
        nx = x + v / FPS
        if nx < 0 or nx > w - side:
            contacts.append((i + 1) / FPS)
            v = -v
            nx = min(max(nx, 0.0), w - side)
        x = nx
    return frames, contacts


def write_clip(path: str, w: int, h: int, seconds: float, seed: int = 0, audio: bool = False) -> str:
    import av  # imported here: the GPU check runs where PyAV is not installed

    n = int(seconds * FPS)
    frames, contacts = _scene(n, w, h, seed)
    with av.open(path, "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"crf": "23", "preset": "veryfast"}
        sound = container.add_stream("aac", rate=16_000) if audio else None
        if sound is not None:
            sound.layout = "mono"
        for img in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        container.mux(stream.encode())
        if sound is not None:
            samples = np.zeros(int(seconds * 16_000), np.float32)
            t = np.arange(3200) / 16_000
            burst = (np.random.default_rng(seed).standard_normal(3200) * np.exp(-t / 0.04) * 0.5).astype(np.float32)
            for c in contacts:
                a = int(c * 16_000)
                samples[a:a + 3200] += burst[: len(samples[a:a + 3200])]
            for at in range(0, len(samples), 1024):
                frame = av.AudioFrame.from_ndarray(samples[None, at:at + 1024].copy(), format="fltp", layout="mono")
                frame.sample_rate, frame.pts, frame.time_base = 16_000, at, Fraction(1, 16_000)
                container.mux(sound.encode(frame))
            container.mux(sound.encode(None))
    return path


def _best_of(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def run() -> list[dict]:
    if importlib.util.find_spec("torch") is None:
        return [{"name": "learned video2rms (torch not installed)", "value": float("nan"), "unit": "x realtime",
                 "target": None}]
    from foley_studio.core.media import open_clip
    from foley_studio.engines.video2rms.learned import LearnedEngine
    from foley_studio.engines.video2rms.learned.checkpoint import ModelConfig
    from foley_studio.engines.video2rms.learned.features import FeatureConfig, clip_features
    from foley_studio.engines.video2rms.learned.network import predict_probs
    from foley_studio.engines.video2rms.learned.weights import new_model, save_model
    from foley_studio.training.video2rms import train

    load = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = write_clip(os.path.join(tmp, "bench.mp4"), W, H, SECONDS)
        ckpt = os.path.join(tmp, "video2rms.safetensors")
        model = new_model(ModelConfig(n_features=FeatureConfig().n_features))
        save_model(model, ckpt)
        engine = LearnedEngine(weights=ckpt, device="cpu")
        clip = open_clip(path)
        engine.predict(clip)  # load the model once, as the editor does
        total = _best_of(lambda: engine.predict(open_clip(path)))
        feats = clip_features(clip)
        features = _best_of(lambda: clip_features(open_clip(path)))
        network = _best_of(lambda: predict_probs(engine._model, feats))
        params = sum(p.numel() for p in model.parameters())
        rows += [
            {"name": "learned 640x360 30fps end to end", "value": clip.duration / total, "unit": "x realtime",
             "target": 30, "better": "higher"},
            {"name": "learned features (decode+flow) per video frame", "value": 1e3 * features / clip.info.n_frames,
             "unit": "ms", "target": None},
            {"name": "learned network per 10 s (1250 frames)", "value": 1e3 * network, "unit": "ms", "target": None},
            {"name": "learned network parameters", "value": params / 1e3, "unit": "k", "target": None},
        ]

        folder = os.path.join(tmp, "clips")
        os.makedirs(folder)
        for i in range(8):
            write_clip(os.path.join(folder, f"c{i}.mp4"), 320, 180, 4.0, seed=i, audio=True)
        cache = os.path.join(tmp, "cache")
        t0 = time.perf_counter()
        train(folder, os.path.join(tmp, "t.safetensors"), epochs=1, cache_dir=cache, device="cpu")
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        m = train(folder, os.path.join(tmp, "t.safetensors"), epochs=4, cache_dir=cache, device="cpu",
                  resume=os.path.join(tmp, "t.safetensors"))
        per_epoch = (time.perf_counter() - t0) / 3
        rows += [
            {"name": "learned training: features per clip second (once, cached)",
             "value": (first - per_epoch) / (8 * 4.0), "unit": "s", "target": None},
            {"name": "learned training: epoch, 8 clips x 4 s (CPU, 1 thread)", "value": per_epoch, "unit": "s",
             "target": None},
            {"name": f"learned training: val ACC+-5 after {m['epoch']} epochs (synthetic)", "value": m["acc_5"],
             "unit": "", "target": None},
        ]
    rows.append({"name": "load average when started (2 cores)", "value": load, "unit": "", "target": None})
    return rows


def _stub_media_modules() -> list[str]:
    """The GPU image has torch but not PyAV, soxr or soundfile. The GPU check feeds cached
    features only, so nothing is ever decoded: empty stand-ins let the modules import."""
    import importlib.util
    import sys
    import types

    stubbed = []
    for name in ("av", "av.video", "av.video.reformatter", "soxr", "soundfile"):
        if name.split(".")[0] in stubbed or importlib.util.find_spec(name.split(".")[0]) is None:
            module = types.ModuleType(name)
            module.__path__ = []  # a package, so av.video.reformatter resolves
            sys.modules[name] = module
            stubbed.append(name)
    if "av" in sys.modules and not hasattr(sys.modules["av"], "FFmpegError"):
        sys.modules["av"].FFmpegError = type("FFmpegError", (Exception,), {})
        sys.modules["av.video.reformatter"].VideoReformatter = object
        sys.modules["av"].video = sys.modules["av.video"]
    return stubbed


def _synthetic_folder(folder: str, cache: str, n_clips: int = 12, seconds: float = 10.0) -> None:
    """Clips whose cached features carry events that the targets follow (no media needed)."""
    from foley_studio.core.media import fingerprint
    from foley_studio.core.rms import discretize, smooth
    from foley_studio.engines.video2rms.learned.features import FeatureConfig
    from foley_studio.training.video2rms_data import _cache_key, _write_cache

    cfg = FeatureConfig()
    n = int(seconds * 125)
    decay = np.exp(-np.arange(40) / 8.0)
    for i in range(n_clips):
        rng = np.random.default_rng(i)
        path = os.path.join(folder, f"clip{i:02d}.mp4")
        with open(path, "wb") as f:
            f.write(rng.bytes(4096))
        feats = rng.normal(0, 0.3, (n, cfg.n_features)).astype(np.float32)
        rms = np.zeros(n, np.float32)
        for at in rng.choice(n - 40, size=int(seconds * 1.5), replace=False):
            level = rng.uniform(0.05, 0.5)
            feats[at:at + 3, 32:48] += level * 8  # the velocity-change cells light up
            rms[at:at + 40] = np.maximum(rms[at:at + 40], level * decay)
        target = smooth(rms)
        _write_cache(os.path.join(cache, _cache_key(fingerprint(path), cfg) + ".npz"),
                     _cache_key(fingerprint(path), cfg),
                     {"features": feats, "rms": rms, "target": target, "classes": discretize(target)})


def gpu_check(device: str = "cuda") -> dict:
    """Training, resume and inference on `device` vs the CPU, on cached synthetic features."""
    stubbed = _stub_media_modules()
    import torch

    from foley_studio.engines.video2rms.learned import LearnedEngine
    from foley_studio.engines.video2rms.learned.network import predict_probs
    from foley_studio.engines.video2rms.learned.weights import load_model
    from foley_studio.training.video2rms import train

    out: dict = {"stubbed": stubbed, "torch": torch.__version__, "device": device}
    if device == "cuda":
        out["gpu"] = torch.cuda.get_device_name(0)
    with tempfile.TemporaryDirectory() as tmp:
        folder, cache = os.path.join(tmp, "clips"), os.path.join(tmp, "cache")
        os.makedirs(folder)
        _synthetic_folder(folder, cache)
        ckpt = os.path.join(tmp, "m.safetensors")
        for where in (device, "cpu"):
            t0 = time.perf_counter()
            m = train(folder, ckpt, epochs=2, cache_dir=cache, device=where)
            out[f"epoch_s_{where}"] = (time.perf_counter() - t0) / 2
            assert m["device"].startswith(where), m["device"]
        t0 = time.perf_counter()
        m = train(folder, ckpt, epochs=6, cache_dir=cache, device=device, resume=ckpt)
        out["resumed_epochs"] = [h["epoch"] for h in m["history"]]
        out["val_acc_5"], out["val_e_l1"] = m["acc_5"], m["e_l1"]
        out["epoch_s_resumed"] = (time.perf_counter() - t0) / 4
        engine = LearnedEngine(weights=ckpt, device="auto")
        model = engine._load()
        out["engine_device"] = str(engine._device)
        cpu_model, _ = load_model(ckpt, "cpu")
        feats = np.load(os.path.join(cache, os.listdir(cache)[0]))["features"]
        p_dev = predict_probs(model, feats)
        p_cpu = predict_probs(cpu_model, feats)
        out["max_prob_diff_vs_cpu"] = float(np.abs(p_dev - p_cpu).max())
        out["argmax_agree_vs_cpu"] = float(np.mean(p_dev.argmax(1) == p_cpu.argmax(1)))
        hour = np.tile(feats, (360, 1))  # one hour at 125 Hz
        predict_probs(model, feats)
        t0 = time.perf_counter()
        predict_probs(model, feats)
        out["network_ms_per_10s"] = 1e3 * (time.perf_counter() - t0)
        t0 = time.perf_counter()
        predict_probs(model, hour)
        out["network_s_per_hour"] = time.perf_counter() - t0
    return out


if __name__ == "__main__":
    import json
    import sys

    if "--gpu-check" in sys.argv:
        print(json.dumps(gpu_check(sys.argv[-1] if sys.argv[-1] in ("cuda", "cpu", "mps") else "cuda"), indent=1))
    else:
        from foley_studio.bench import format_table

        print(format_table(run()))
