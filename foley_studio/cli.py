"""`foley-studio`: the headless commands. Never imports Qt; heavy modules load per command.

Bad input exits with status 2 and one line naming the file and the problem.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from foley_studio.argtypes import positive_int, seed

EXIT_BAD_INPUT = 2
AUDIO_PROMPT_HELP = ("timbre from a reference sound instead of the text prompt (engines that support it, "
                     "such as controlnet with the CLAP audio branch)")


def _roi(text: str) -> tuple[int, int, int, int]:
    try:
        parts = tuple(int(p) for p in text.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 4:
        raise argparse.ArgumentTypeError(f"expected X,Y,W,H in pixels, got '{text}'")
    return parts  # type: ignore[return-value]


def _track(text: str) -> tuple[str, str]:
    name, sep, prompt = text.partition("=")
    if not sep or not name.strip() or not prompt.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=PROMPT, got '{text}'")
    return name.strip(), prompt.strip()


def build_parser() -> argparse.ArgumentParser:
    from foley_studio import __version__

    def flags(default):
        # accepted before or after the command; subcommands get SUPPRESS so they never
        # reset a flag given before the command (a fresh parser each: argparse shares actions)
        parser = argparse.ArgumentParser(add_help=False)
        parser.add_argument("-q", "--quiet", action="store_true", default=default, help="no progress bars")
        parser.add_argument("--debug", action="store_true", default=default, help="show tracebacks of internal errors")
        return parser

    common = flags(argparse.SUPPRESS)
    p = argparse.ArgumentParser(
        prog="foley-studio",
        description="Foley from the picture: loudness envelope from video, sound that follows it.",
        parents=[flags(False)],
    )
    p.add_argument("--version", action="version", version=f"foley-studio {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    g = sub.add_parser("generate", parents=[common], help="envelope from a video, render tracks, export everything")
    g.add_argument("video")
    g.add_argument("--prompt", help="text prompt for the first track (its timbre)")
    g.add_argument("--track", action="append", type=_track, default=[], metavar="NAME=PROMPT", help="another track (repeatable)")
    g.add_argument("--seed", type=seed, default=0)
    g.add_argument("--out", help="output folder (default: ./<video name>-foley)")
    g.add_argument("--engine", default=None, help="RMS2Sound engine id (default: palette)")
    g.add_argument("--video-engine", default=None, help="Video2RMS engine id (default: motion)")
    g.add_argument("--roi", type=_roi, help="region of interest X,Y,W,H in video pixels")
    g.add_argument("--audio-prompt", metavar="FILE", help=AUDIO_PROMPT_HELP + " for every track")
    _export_args(g)
    g.add_argument("--json", action="store_true", help="print a JSON summary on stdout")

    r = sub.add_parser("rms", parents=[common], help="predict the envelope of a video as CSV")
    r.add_argument("video")
    r.add_argument("--engine", default="motion")
    r.add_argument("--weights", help="weights folder or file for engines that need them")
    r.add_argument("--roi", type=_roi, help="region of interest X,Y,W,H in video pixels")
    r.add_argument("-o", "--output", required=True, help="envelope CSV to write")

    a = sub.add_parser("analyze", parents=[common], help="the paper's RMS envelope of a recording, as CSV")
    a.add_argument("audio", help="audio file, or a video with an audio track")
    a.add_argument("--raw", action="store_true", help="skip the paper's zero-phase smoothing")
    a.add_argument("-o", "--output", required=True)

    rn = sub.add_parser("render", parents=[common], help="render audio that follows an envelope CSV")
    rn.add_argument("--envelope", required=True, help="envelope CSV (time,rms at 125 rows/s)")
    rn.add_argument("--prompt", help="text prompt (its timbre); required unless --audio-prompt is given")
    rn.add_argument("--audio-prompt", metavar="FILE", help=AUDIO_PROMPT_HELP)
    rn.add_argument("--seed", type=seed, default=0)
    rn.add_argument("--sample-rate", type=positive_int, default=48_000)
    rn.add_argument("--bit-depth", type=int, choices=(16, 24, 32), default=24)
    rn.add_argument("--engine", default="palette")
    rn.add_argument("--weights", help="weights folder for engines that need them (controlnet)")
    rn.add_argument("-o", "--output", required=True)

    rp = sub.add_parser("render-project", parents=[common], help="render and export a saved project")
    rp.add_argument("project")
    rp.add_argument("--out", help="output folder (default: beside the project)")
    _export_args(rp)
    rp.add_argument("--json", action="store_true")

    e = sub.add_parser("engines", parents=[common], help="list engines and whether they can run here")
    e.add_argument("--json", action="store_true")

    from foley_studio.ui.cli_hook import add_gui_parser  # Qt loads only when `gui` runs

    add_gui_parser(sub, [common])

    from foley_studio.training.cli import add_train_parser  # argparse only; torch loads when training runs

    add_train_parser(sub, [common])

    from foley_studio.convert_weights import add_convert_parser  # torch loads only when it runs

    add_convert_parser(sub, [common])

    b = sub.add_parser("bench", parents=[common], help="run the speed benchmarks and print a table")
    b.add_argument("--json", dest="json_file", metavar="FILE", help="also write the results as JSON")
    b.add_argument("--only", action="append", default=[], help="run only benchmarks whose module matches")
    return p


def _export_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sample-rate", type=positive_int, default=48_000, help="export sample rate (default 48000)")
    p.add_argument("--bit-depth", type=int, choices=(16, 24, 32), default=24, help="WAV bit depth (32 = float)")
    p.add_argument("--keep-original-audio", action="store_true", help="keep the clip's audio as a 2nd MP4 track")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from foley_studio.core.errors import FoleyError

    try:
        from foley_studio import commands

        return getattr(commands, "cmd_" + args.command.replace("-", "_"))(args) or 0
    except FoleyError as exc:
        print(f"foley-studio: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("foley-studio: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: say so in one line, details with --debug
        if getattr(args, "debug", False) or os.environ.get("FOLEY_STUDIO_DEBUG"):
            raise
        print(f"foley-studio: internal error: {type(exc).__name__}: {exc} (rerun with --debug)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
