"""`foley-studio train MODEL ...`: a subcommand group, one trainer per model.

Wiring (foley_studio/cli.py and commands.py):

    from foley_studio.training.cli import add_train_parser, run_train
    add_train_parser(sub, [common])      # in build_parser()
    cmd_train = run_train                # in commands.py (main() calls cmd_<command>)

A new trainer (e.g. `controlnet`) adds one line to TRAINERS: its parser builder
(models_subparsers, parents) and its runner (args) -> exit status, as "module:function"
strings so nothing heavy is imported while the parser is built.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from typing import Any

from foley_studio.argtypes import fraction, positive_int, seed

TRAINERS: dict[str, tuple[str, str]] = {
    "video2rms": ("foley_studio.training.cli:add_video2rms_parser", "foley_studio.training.cli:run_video2rms"),
    "controlnet": ("foley_studio.training.controlnet_cli:add_controlnet_parser",
                   "foley_studio.training.controlnet_cli:run_controlnet"),
}


def _resolve(target: str) -> Any:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def add_train_parser(subparsers: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]):
    """Add `train` with one sub-subcommand per trainer; returns the trainers' subparsers."""
    train = subparsers.add_parser("train", parents=parents, help="train a model on your own media")
    models = train.add_subparsers(dest="train_model", metavar="MODEL", required=True)
    for add, _ in TRAINERS.values():
        _resolve(add)(models, parents)
    return models


# what each trainer imports when it runs; checked first so that an install without the
# neural extra (or the packaged app, which leaves torch out) gets one line, not a traceback
NEEDS: dict[str, tuple[str, ...]] = {
    "video2rms": ("torch", "safetensors"),
    "controlnet": ("torch", "diffusers", "transformers", "safetensors"),
}


def run_train(args: argparse.Namespace) -> int:
    from foley_studio.core.errors import EngineError
    from foley_studio.engines.weights import NEURAL_INSTALL_HINT, missing_packages

    missing = missing_packages(NEEDS.get(args.train_model, ()))
    if missing:
        raise EngineError(f"training {args.train_model} needs {', '.join(missing)}, which this installation "
                          f"lacks ({NEURAL_INSTALL_HINT})")
    _, run = TRAINERS[args.train_model]
    return _resolve(run)(args)


def add_video2rms_parser(models: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    from foley_studio.training import VIDEO2RMS_DEFAULT_EPOCHS as DEFAULT_EPOCHS

    p = models.add_parser(
        "video2rms", parents=parents,
        help="train the `learned` Video2RMS engine on clips with their own sound",
        description="Self-supervised: each clip's own audio loudness is the target. Prints ACC, "
        "ACC+-2/5/8 and E-L1 on held-out clips after every epoch; writes CKPT (safetensors) and "
        "CKPT's .optim.safetensors (to --resume from) after every epoch.",
    )
    p.add_argument("clip_dir", metavar="DIR", help="folder of video clips with production sound (searched recursively)")
    p.add_argument("-o", "--output", default="video2rms.safetensors", metavar="CKPT",
                   help="checkpoint to write (default: ./video2rms.safetensors)")
    p.add_argument("--epochs", type=positive_int, default=DEFAULT_EPOCHS,
                   help=f"total epochs, counting those of --resume (default {DEFAULT_EPOCHS})")
    p.add_argument("--val-fraction", type=fraction, default=0.2, help="share of clips held out (default 0.2)")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--resume", metavar="CKPT", help="continue from this checkpoint (and its .optim.safetensors)")
    p.add_argument("--device", choices=("auto", "cuda", "mps", "cpu"), default="auto")
    p.add_argument("--cache-dir", help="where per-clip features are cached (default: ~/.cache/foley-studio)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing CKPT that is not being resumed")
    p.add_argument("--json", action="store_true", help="print the final metrics as JSON on stdout")


def _epoch_line(row: dict[str, Any]) -> str:
    return (f"epoch {row['epoch']}: loss {row['train_loss']:.3f}  {row['split']} loss {row.get('loss', float('nan')):.3f}"
            f"  ACC {row.get('acc', 0):.3f}  ACC±2 {row.get('acc_2', 0):.3f}  ACC±5 {row.get('acc_5', 0):.3f}"
            f"  ACC±8 {row.get('acc_8', 0):.3f}  E-L1 {row.get('e_l1', 0):.4f}")


def run_video2rms(args: argparse.Namespace) -> int:
    import os

    from foley_studio.core.errors import OutputError
    from foley_studio.progress import progress_bar
    from foley_studio.training.video2rms import train

    quiet = bool(getattr(args, "quiet", False))
    out = args.output
    same = args.resume is not None and os.path.abspath(args.resume) == os.path.abspath(out)
    if os.path.exists(out) and not same and not args.overwrite:
        raise OutputError("exists (pass --overwrite to replace it, or --resume it)", out)

    def warn(message: str) -> None:
        print(f"foley-studio: warning: {message}", file=sys.stderr)

    def on_epoch(row: dict[str, Any]) -> None:
        if not quiet:
            print(_epoch_line(row), file=sys.stderr)

    with progress_bar("train video2rms", quiet) as progress:
        metrics = train(args.clip_dir, out, epochs=args.epochs, val_fraction=args.val_fraction, seed=args.seed,
                        progress=progress, resume=args.resume, device=args.device, cache_dir=args.cache_dir,
                        warn=warn, on_epoch=on_epoch)
    if args.json:
        print(json.dumps(metrics, indent=2))
    elif not quiet:
        print(f"wrote {out} ({metrics['n_train']} training clips, {metrics['n_val']} validation clips, "
              f"{metrics['epochs']} epochs, device {metrics['device']})", file=sys.stderr)
    return 0
