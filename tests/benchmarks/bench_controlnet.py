"""controlnet RMS2Sound at paper size on this CPU: AudioLDM-S (185 M UNet) + RMS-ControlNet
(79 M encoder copy), random weights, one 10.24 s window at 25 DDIM steps with guidance.

The GPU numbers come from scripts/gpu_bench_controlnet.py on a lent card (goal there:
<= 0.25 s per 10.24 s at 25 steps on an H100). Here the render takes minutes, so it is
skipped when FOLEY_BENCH_SKIP_SLOW=1; the parameter counts are always reported.
"""

from __future__ import annotations

import os
import time


def run() -> list[dict]:
    try:
        import torch

        from foley_studio.engines.rms2sound.controlnet import paper, sampler
    except ImportError:  # the neural extras are not installed
        return []
    t0 = time.perf_counter()
    models = paper.build("cpu", torch.float32)
    build = time.perf_counter() - t0
    rows = [
        {"name": "controlnet paper size: UNet parameters", "value": paper.count(models["unet"]) / 1e6,
         "unit": "M", "target": None},
        {"name": "controlnet paper size: ControlNet parameters (incl. zero convs)",
         "value": paper.count(models["controlnet"]) / 1e6, "unit": "M", "target": None},
        {"name": "controlnet paper size: build random models", "value": build, "unit": "s", "target": None},
    ]
    if os.environ.get("FOLEY_BENCH_SKIP_SLOW") == "1":
        return rows
    x = paper.inputs(models, "cpu", torch.float32)
    steps = 25
    with torch.inference_mode():
        t0 = time.perf_counter()
        paper.render(models, x, steps=1)  # first call: allocator and kernel warm-up
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        wave = paper.render(models, x, steps=steps)
        total = time.perf_counter() - t0
        t0 = time.perf_counter()
        sampler.decode(models["vae"], models["vocoder"], x["noise"])
        decode = time.perf_counter() - t0
    assert wave.shape[0] >= 163_840
    rows += [
        {"name": "controlnet paper size, CPU: first 1-step render (warm-up)", "value": first, "unit": "s",
         "target": None},
        {"name": f"controlnet paper size, CPU: 10.24 s at {steps} steps + decode", "value": total, "unit": "s",
         "target": None},
        {"name": "controlnet paper size, CPU: per guided step", "value": (total - decode) / steps, "unit": "s",
         "target": None},
        {"name": "controlnet paper size, CPU: VAE decode + HiFi-GAN", "value": decode, "unit": "s", "target": None},
        {"name": "controlnet paper size, CPU: real-time factor (render / 10.24 s)", "value": total / 10.24,
         "unit": "x", "target": None},
    ]
    return rows


if __name__ == "__main__":
    from foley_studio.bench import format_table

    print(format_table(run()))
