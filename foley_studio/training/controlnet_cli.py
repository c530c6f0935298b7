"""`foley-studio train controlnet AUDIO_DIR --base DIR`: the parser and runner (import-light:
torch loads when the run starts)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from foley_studio.argtypes import fraction, positive_int, seed

DEFAULT_OUTPUT = "audioldm-controlnet-trained"


def _float(kind: str, low: float, high: float | None = None):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got '{text}'") from None
        if not value > low or (high is not None and not value < high):
            bound = f"in ({low}, {high})" if high is not None else f"above {low}"
            raise argparse.ArgumentTypeError(f"{kind} must be {bound}, got {value}")
        return value
    return parse


def add_controlnet_parser(models: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    p = models.add_parser(
        "controlnet", parents=parents,
        help="train the `controlnet` engine's RMS-ControlNet on a folder of sounds",
        description="Each sound teaches its own loudness: the RMS of the sound is the control, its caption "
        "(a sidecar .txt file, else the file name) the prompt. The AudioLDM model in --base stays frozen. "
        "OUT_DIR becomes a complete weights folder for the controlnet engine (--weights OUT_DIR); its "
        "controlnet/ (safetensors) and training_state.safetensors are rewritten every --save-every steps.",
    )
    p.add_argument("audio_dir", metavar="AUDIO_DIR", help="folder of WAV/FLAC/OGG sounds (searched recursively)")
    p.add_argument("--base", required=True, metavar="DIR",
                   help="AudioLDM weights folder (unet/, vae/, vocoder/, text_encoder/, tokenizer/, scheduler/; "
                   "a controlnet/ there is fine-tuned, else one is made from the UNet's encoder)")
    p.add_argument("-o", "--output", default=DEFAULT_OUTPUT, metavar="OUT_DIR",
                   help=f"weights folder to write (default: ./{DEFAULT_OUTPUT})")
    p.add_argument("--steps", type=positive_int, default=10_000,
                   help="total optimiser steps, counting those of --resume (default 10000)")
    p.add_argument("--batch-size", type=positive_int, default=4, help="windows per step (default 4)")
    p.add_argument("--lr", type=_float("learning rate", 0.0), default=1e-5, help="Adam learning rate (default 1e-5)")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--resume", action="store_true", help="continue the run in OUT_DIR")
    p.add_argument("--device", choices=("auto", "cuda", "mps", "cpu"), default="auto")
    p.add_argument("--seconds", type=_float("window length", 0.0), default=10.24,
                   help="window length in seconds (default 10.24, what the engine renders)")
    p.add_argument("--save-every", type=positive_int, default=500, help="checkpoint interval in steps (default 500)")
    p.add_argument("--caption-dropout", type=fraction, default=0.1,
                   help="share of captions replaced by the empty prompt, for guidance (default 0.1)")
    p.add_argument("--cache-dir", help="where per-file latents are cached (default: ~/.cache/foley-studio)")
    p.add_argument("--overwrite", action="store_true", help="replace a trained ControlNet in OUT_DIR")
    p.add_argument("--json", action="store_true", help="print the final metrics as JSON on stdout")


def run_controlnet(args: argparse.Namespace) -> int:
    from foley_studio.progress import progress_bar
    from foley_studio.training.controlnet import train

    quiet = bool(getattr(args, "quiet", False))

    def warn(message: str) -> None:
        print(f"foley-studio: warning: {message}", file=sys.stderr)

    with progress_bar("train controlnet", quiet) as progress:
        metrics: dict[str, Any] = train(
            args.audio_dir, args.base, args.output, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
            seed=args.seed, resume=args.resume, device=args.device, progress=progress, seconds=args.seconds,
            save_every=args.save_every, caption_dropout=args.caption_dropout, cache_dir=args.cache_dir,
            overwrite=args.overwrite, warn=warn)
    if args.json:
        print(json.dumps({k: v for k, v in metrics.items() if k != "losses"}, indent=2))
    elif not quiet:
        loss = "n/a" if metrics["loss"] is None else f"{metrics['loss']:.4f}"
        print(f"wrote {metrics['output']} (step {metrics['step']}, loss {loss}, {metrics['n_files']} sounds, "
              f"{metrics['n_windows']} windows, device {metrics['device']}); it is a weights folder for the "
              f"controlnet engine", file=sys.stderr)
    return 0
