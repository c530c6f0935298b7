#!/usr/bin/env python3
"""Time the controlnet engine's model at paper size on a GPU: eager fp16 vs torch.compile.

Builds AudioLDM-S (185 M UNet) + its RMS-ControlNet (79 M encoder copy), VAE and HiFi-GAN
with random weights, and renders one 10.24 s window: 25 DDIM steps with classifier-free
guidance (batch 2, the RMS control in both branches), VAE decode, vocoder. The CLAP text
encoder is left out: the engine encodes each prompt once and caches it.

  (a) eager, fp16 (CUDA) or fp32 (CPU)
  (b) torch.compile of the guided noise prediction (ControlNet + UNet), mode reduce-overhead
      (CUDA graphs) by default, then the same timing

Each: warm-up, then --runs timed renders with torch.cuda.synchronize. Prints a table and
writes JSON to $OUT/gpu_bench.json when OUT is set (or to --json). Stays within about five
minutes on an H100, compile included; `--device cpu --tiny` tries the code on a CPU.

`--engine-check` instead runs the ControlNetEngine itself on the device: tiny random weights
for correctness (length, determinism, span splice bit-identical outside the span), then a
paper-sized random weights folder for end-to-end engine timings, eager and compile=True.

  python3 scripts/gpu_bench_controlnet.py                 # on the GPU machine
  python3 scripts/gpu_bench_controlnet.py --device cpu --tiny --runs 2 --steps 3
  python3 scripts/gpu_bench_controlnet.py --engine-check  # needs soundfile, soxr, pytest there
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from foley_studio.engines.rms2sound.controlnet import paper, sampler  # noqa: E402

GOAL_S = 0.25  # per 10.24 s window at 25 steps on an H100 (issue 4)


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn, device: str, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        sync(device)
        t0 = time.perf_counter()
        fn()
        sync(device)
        out.append(time.perf_counter() - t0)
    return out


def row(name: str, values: list[float] | float, unit: str = "s", target: float | None = None) -> dict:
    if isinstance(values, list):
        return {"name": name, "value": statistics.median(values), "min": min(values), "runs": len(values),
                "unit": unit, "target": target}
    return {"name": name, "value": values, "unit": unit, "target": target}


def engine_check(args, dev: str, start: float) -> list[dict]:
    """The engine on the device: correctness on tiny weights, then paper-size timings."""
    import tempfile

    import numpy as np

    from foley_studio.engines.rms2sound.controlnet import windows as win
    from foley_studio.engines.rms2sound.controlnet.engine import ControlNetEngine
    from tests.test_controlnet_support import sine_envelope, write_folder, write_tokenizer

    rows: list[dict] = []

    def verdict(name: str, ok: bool) -> None:
        print(f"{'PASS' if ok else 'FAIL'} {name}", flush=True)
        rows.append(row(name, 1.0 if ok else 0.0, "pass"))

    tmp = tempfile.mkdtemp()
    tiny = ControlNetEngine(weights=write_folder(os.path.join(tmp, "tiny")), device=dev, steps=3)
    env, sr, span = sine_envelope(25.0), 48_000, (9.5, 10.5)
    a = tiny.render(env, "footsteps", 1, sr)
    b = tiny.render(env, "footsteps", 1, sr)
    verdict("tiny: 25 s render has the exact length, finite", len(a) == 25 * sr and bool(np.isfinite(a.samples).all()))
    verdict("tiny: same seed, same samples", bool(np.array_equal(a.samples, b.samples)))
    v = env.values.copy()
    v[int(span[0] * 125): int(span[1] * 125)] = 0.6
    edited = type(env)(v)
    c = tiny.render(edited, "footsteps", 1, sr, span=span, previous=a)
    lo, hi, _ = win.span_samples(span, sr, len(a))
    verdict("tiny: span re-render bit-identical outside the span, changed inside",
            bool(np.array_equal(c.samples[:lo], a.samples[:lo]) and np.array_equal(c.samples[hi:], a.samples[hi:])
                 and not np.allclose(c.samples[lo:hi], a.samples[lo:hi])))
    if time.perf_counter() - start > args.budget:
        return rows

    # paper-size random weights folder, saved and loaded the way convert-weights output is
    from transformers import ClapTextConfig, ClapTextModelWithProjection
    from diffusers import DDIMScheduler

    root = os.path.join(tmp, "paper")
    models = paper.build("cpu", torch.float32, tiny=args.tiny,
                         transformers_per_attention=args.transformers_per_attention)
    vocab = write_tokenizer(os.path.join(root, "tokenizer"), max_length=512)
    text = dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32) if args.tiny else {}
    text_config = ClapTextConfig(vocab_size=vocab, layer_norm_eps=1e-5, projection_dim=models["embed_dim"], **text)
    ClapTextModelWithProjection(text_config).save_pretrained(os.path.join(root, "text_encoder"))
    for name in ("unet", "controlnet", "vae", "vocoder"):
        models[name].save_pretrained(os.path.join(root, name))
    DDIMScheduler(**models["scheduler_config"]).save_pretrained(os.path.join(root, "scheduler"))
    del models
    env = sine_envelope(10.24)
    for compiled in (False, True):
        label = "compile=True" if compiled else "eager"
        engine = ControlNetEngine(weights=root, device=dev, steps=args.steps, guidance_scale=args.guidance,
                                  compile=compiled)
        t0 = time.perf_counter()
        first = engine.render(env, "rain on a tin roof", 0, sr)
        sync(dev)
        rows.append(row(f"engine paper size, {label}: first render (load{' + compile' if compiled else ''})",
                        time.perf_counter() - t0, "s"))
        runs = timed(lambda: engine.render(env, "rain on a tin roof", 0, sr), dev, 5 if compiled else 3)
        rows.append(row(f"engine paper size, {label}: 10.24 s at {args.steps} steps, 48 kHz out", runs, "s", GOAL_S))
        if not compiled:
            reference = first
        else:
            diff = float(np.abs(first.samples - reference.samples).max() / max(1e-6, np.abs(reference.samples).max()))
            rows.append(row("engine paper size: compiled vs eager, max abs difference / peak", diff, ""))
        del engine
        torch.cuda.empty_cache() if dev.startswith("cuda") else None
        print(f"engine {label} done at {time.perf_counter() - start:.0f} s", flush=True)
        if time.perf_counter() - start > args.budget:
            break
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--tiny", action="store_true", help="a few channels per layer (try the code on a CPU)")
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--guidance", type=float, default=3.5)
    ap.add_argument("--mode", default="reduce-overhead",
                    help="torch.compile mode: reduce-overhead, max-autotune, default, or none to skip")
    ap.add_argument("--transformers-per-attention", type=int, default=1,
                    help="2 = the release's ControlNet with an extra self-attention layer per level")
    ap.add_argument("--budget", type=float, default=270.0, help="seconds; later parts are skipped past it")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--out-name", default="gpu_bench.json", help="file name under $OUT (default gpu_bench.json)")
    ap.add_argument("--engine-check", action="store_true",
                    help="run the ControlNetEngine itself (tiny weights for correctness, then paper size)")
    args = ap.parse_args()

    start = time.perf_counter()
    dev = args.device
    cuda = dev.startswith("cuda")
    if cuda:
        if not torch.cuda.is_available():
            print("no CUDA device; use --device cpu --tiny", file=sys.stderr)
            return 2
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    dtype = torch.float16 if cuda else torch.float32
    card = torch.cuda.get_device_name() if cuda else "cpu"
    if args.engine_check:
        rows = engine_check(args, dev, start)
        return report(rows, args, card, dtype, start)

    models = paper.build(dev, dtype, tiny=args.tiny, transformers_per_attention=args.transformers_per_attention)
    x = paper.inputs(models, dev, dtype)
    rows = [row("UNet parameters", paper.count(models["unet"]) / 1e6, "M"),
            row("ControlNet parameters", paper.count(models["controlnet"]) / 1e6, "M")]
    print(f"device {card}, dtype {dtype}, steps {args.steps}, guidance {args.guidance}, "
          f"built in {time.perf_counter() - start:.1f} s", flush=True)

    def eager_step():
        return sampler.predict_noise(models["unet"], models["controlnet"], x["noise"], torch.tensor(500, device=dev),
                                     x["emb"], x["cond"], args.guidance)

    with torch.inference_mode():
        eager_step()
        rows.append(row("eager: one guided step (ControlNet + UNet, batch 2)",
                        timed(eager_step, dev, max(3, args.runs)), "s"))
        paper.render(models, x, args.steps, args.guidance)  # warm-up (cuDNN autotuning)
        eager = timed(lambda: paper.render(models, x, args.steps, args.guidance), dev, max(2, args.runs // 2))
        rows.append(row(f"eager: 10.24 s render, {args.steps} steps + decode", eager, "s", GOAL_S))
        wave_eager = paper.render(models, x, args.steps, args.guidance)
        decode_only = timed(lambda: sampler.decode(models["vae"], models["vocoder"], x["noise"]), dev, 3)
        rows.append(row("eager: VAE decode + HiFi-GAN", decode_only, "s"))
    print(f"eager done at {time.perf_counter() - start:.0f} s", flush=True)

    if args.mode != "none" and time.perf_counter() - start < args.budget:
        unet, controlnet = models["unet"], models["controlnet"]

        def guided(xx, t, emb, cond, guidance):
            return sampler.predict_noise(unet, controlnet, xx, t, emb, cond, guidance)

        compiled = torch.compile(guided, mode=None if args.mode == "default" else args.mode, dynamic=False)
        t0 = time.perf_counter()
        with torch.inference_mode():
            for _ in range(3):  # compile, then record the CUDA graphs
                paper.render(models, x, args.steps, args.guidance, predict=compiled)
            sync(dev)
            warm = time.perf_counter() - t0
            rows.append(row(f"compile ({args.mode}) + 3 warm-up renders", warm, "s"))
            print(f"compiled in {warm:.0f} s", flush=True)

            def one_step():
                return compiled(x["noise"], torch.tensor(500, device=dev), x["emb"], x["cond"], args.guidance)

            one_step()
            rows.append(row(f"compiled ({args.mode}): one guided step", timed(one_step, dev, max(3, args.runs)), "s"))
            fast = timed(lambda: paper.render(models, x, args.steps, args.guidance, predict=compiled), dev, args.runs)
            rows.append(row(f"compiled ({args.mode}): 10.24 s render, {args.steps} steps + decode", fast, "s", GOAL_S))
            wave_fast = paper.render(models, x, args.steps, args.guidance, predict=compiled)
            diff = (wave_fast - wave_eager).abs().max().item() / max(1e-6, wave_eager.abs().max().item())
            rows.append(row("compiled vs eager waveform, max abs difference / peak", diff, ""))
    elif args.mode != "none":
        print("compile skipped: over the time budget", flush=True)

    if cuda:
        rows.append(row("peak GPU memory", torch.cuda.max_memory_allocated() / 2**30, "GiB"))
    return report(rows, args, card, dtype, start)


def report(rows: list[dict], args, card: str, dtype, start: float) -> int:
    total = time.perf_counter() - start
    print(f"\n{'benchmark':<62} {'median':>10} {'min':>10}  unit  target")
    for r in rows:
        tgt = "" if r.get("target") is None else f"<= {r['target']}"
        mn = f"{r['min']:.4f}" if "min" in r else ""
        print(f"{r['name']:<62} {r['value']:>10.4f} {mn:>10}  {r['unit']:<4}  {tgt}")
    print(f"\ntotal wall time {total:.0f} s on {card}")
    result = {"device": card, "dtype": str(dtype), "tiny": args.tiny, "steps": args.steps,
              "guidance": args.guidance, "mode": args.mode, "torch": torch.__version__,
              "transformers_per_attention": args.transformers_per_attention, "wall_s": total, "rows": rows}
    targets = [args.json] + ([os.path.join(os.environ["OUT"], args.out_name)] if os.environ.get("OUT") else [])
    for path in filter(None, targets):
        with open(path, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
