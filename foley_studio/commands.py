"""The CLI commands' bodies (argparse namespace in, exit status out)."""

from __future__ import annotations

import json
import os
import sys
import time

from foley_studio.core.errors import FoleyError, OutputError
from foley_studio.progress import progress_bar


def _say(args, text: str) -> None:
    if not args.quiet:
        print(text, file=sys.stderr)


def _export_options(args, **overrides):
    from foley_studio.core.export import ExportOptions

    values = dict(
        sample_rate=args.sample_rate,
        bit_depth=args.bit_depth,
        keep_original_audio=args.keep_original_audio,
        overwrite=args.overwrite,
    )
    values.update(overrides)
    return ExportOptions(**values)


def _writable_file(path: str) -> str:
    """Fail before the long work when an output file cannot be created."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise OutputError("output folder does not exist", folder)
    if not os.access(folder, os.W_OK):
        raise OutputError("output folder is not writable", folder)
    if os.path.isdir(path):
        raise OutputError("output path is a folder", path)
    return path


def _writable_dir(path: str) -> str:
    """Fail before the long work when an output folder cannot be created or written."""
    probe = os.path.abspath(path)
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe):
        raise OutputError("cannot create output folder (a file is in the way)", path)
    if not os.access(probe, os.W_OK | os.X_OK):
        raise OutputError("output folder is not writable", path)
    return path


def cmd_generate(args) -> int:
    from foley_studio import pipeline
    from foley_studio.core import media, project as project_io
    from foley_studio.core.export import export_project
    from foley_studio.engines import registry

    audio_prompt = _audio_prompt(args, args.engine or registry.DEFAULT_RMS2SOUND)
    specs = []
    if args.prompt or (audio_prompt and not args.track):  # a reference sound alone makes one track
        specs.append(pipeline.TrackSpec("Foley", args.prompt or ""))
    specs += [pipeline.TrackSpec(name, prompt) for name, prompt in args.track]
    if not specs:
        raise FoleyError("give at least one --prompt or --track NAME=PROMPT")
    clip = media.open_clip(args.video)
    stem = os.path.splitext(os.path.basename(args.video))[0]
    out_dir = _writable_dir(args.out or f"{stem}-foley")
    project_path = os.path.join(out_dir, f"{stem}.foley.json")
    if os.path.exists(project_path) and not args.overwrite:
        raise OutputError("already exists (use --overwrite or another --out)", project_path)
    timings = {}

    t0 = time.perf_counter()
    with progress_bar("envelope", args.quiet) as bar:
        envelope = pipeline.predict_envelope(clip, args.video_engine or registry.DEFAULT_VIDEO2RMS, args.roi, progress=bar)
    timings["envelope_s"] = time.perf_counter() - t0

    project = pipeline.new_project(
        args.video, envelope, specs, seed=args.seed,
        engine_id=args.engine or registry.DEFAULT_RMS2SOUND,
        duration=clip.info.duration, sample_rate=args.sample_rate,
        fingerprint=clip.fingerprint,  # of the file as probed, not as it may be by now
    )
    if audio_prompt:  # engine parameters are per track; the flag sets every track's
        for track in project.tracks:
            track.engine_params["audio_prompt"] = audio_prompt
    t0 = time.perf_counter()
    with progress_bar("render", args.quiet) as bar:
        renders = pipeline.render_tracks(project, progress=bar)
    timings["render_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    clip.check_unchanged()  # the MP4 copies the picture: it must be the one the envelope is from
    with progress_bar("export", args.quiet) as bar:
        result = export_project(project, renders, out_dir, clip.info.duration, clip.path,
                                _export_options(args), base_name="foley", progress=bar)
    try:
        project_io.save(project, project_path)
    except FoleyError:
        for path in result.paths():  # all or nothing: no outputs without their project
            _remove(path)
        raise
    timings["export_s"] = time.perf_counter() - t0
    summary = {
        "project": project_path,
        "video": result.video,
        "mix": result.mix,
        "stems": list(result.stems.values()),
        "envelopes": list(result.envelopes.values()),
        "duration": clip.info.duration,
        "tracks": [{"name": t.name, "prompt": t.prompt, "seed": t.seed} for t in project.tracks],
        "timings": {k: round(v, 3) for k, v in timings.items()},
    }
    _report(args, summary, f"Wrote {len(result.paths()) + 1} files to {out_dir}/")
    return 0


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def _report(args, summary: dict, headline: str) -> None:
    if getattr(args, "json", False):
        print(json.dumps(summary, indent=2))
        return
    print(headline)
    for key in ("project", "video", "mix"):
        if summary.get(key):
            print(f"  {key:8} {summary[key]}")
    for path in summary.get("stems", []):
        print(f"  stem     {path}")


def cmd_rms(args) -> int:
    from foley_studio import pipeline
    from foley_studio.core import media
    from foley_studio.core.envelope_csv import write_csv

    _writable_file(args.output)
    clip = media.open_clip(args.video)
    params = {"weights": args.weights} if args.weights else {}
    with progress_bar("envelope", args.quiet) as bar:
        envelope = pipeline.predict_envelope(clip, args.engine, args.roi, params, progress=bar)
    write_csv(args.output, envelope)
    _say(args, f"Wrote {len(envelope)} frames ({envelope.duration:.2f} s) to {args.output}")
    return 0


def _read_any_audio(path: str):
    """Audio from a sound file, or from a video's audio track."""
    from foley_studio.core import media
    from foley_studio.core.audio import read_audio
    from foley_studio.core.errors import AudioFileError

    try:
        return read_audio(path)
    except AudioFileError as exc:
        if not os.path.isfile(path) or os.path.getsize(path) == 0:
            raise
        try:
            return media.decode_audio(path)
        except FoleyError:
            raise exc from None


def cmd_analyze(args) -> int:
    from foley_studio.core import rms
    from foley_studio.core.envelope import Envelope
    from foley_studio.core.envelope_csv import write_csv

    _writable_file(args.output)
    audio = _read_any_audio(args.audio)
    values = rms.analyze(audio)
    envelope = Envelope(values if args.raw else rms.smooth(values))
    write_csv(args.output, envelope)
    _say(args, f"Wrote {len(envelope)} frames ({envelope.duration:.2f} s) to {args.output}")
    return 0


def cmd_render(args) -> int:
    from foley_studio import pipeline
    from foley_studio.core.atomic import atomic_output
    from foley_studio.core.audio import write_wav
    from foley_studio.core.envelope_csv import read_csv

    _writable_file(args.output)
    audio_prompt = _audio_prompt(args, args.engine)
    envelope = read_csv(args.envelope)
    if not (args.prompt or "").strip() and not audio_prompt:
        raise FoleyError("the prompt is empty" if args.prompt is not None
                         else "give --prompt TEXT or --audio-prompt FILE")
    params = {"weights": args.weights} if args.weights else {}
    engine = pipeline.create_engine(args.engine, {**params, "audio_prompt": audio_prompt} if audio_prompt else params)
    with progress_bar("render", args.quiet) as bar:
        audio = engine.render(envelope, args.prompt or "", args.seed, args.sample_rate, progress=bar)
    with atomic_output(args.output) as tmp:
        write_wav(tmp, audio, args.bit_depth)
    _say(args, f"Wrote {audio.duration:.2f} s at {audio.sr} Hz to {args.output}")
    return 0


def _audio_prompt(args, engine_id: str) -> str | None:
    """--audio-prompt as an absolute path (engine_params["audio_prompt"]), checked before any long work."""
    path = getattr(args, "audio_prompt", None)
    if not path:
        return None
    from foley_studio.core.errors import AudioFileError, EngineError
    from foley_studio.engines import registry

    info = registry.engine_info(engine_id)
    if not getattr(info, "supports_audio_prompt", False):
        raise EngineError(f"engine '{engine_id}' does not take an audio prompt (--audio-prompt); use --engine "
                          "controlnet with weights that include the CLAP audio branch, or a text --prompt")
    if not os.path.isfile(path):
        raise AudioFileError("audio prompt: file not found", path)
    return os.path.abspath(path)


def cmd_render_project(args) -> int:
    from foley_studio import pipeline
    from foley_studio.core import media, project as project_io
    from foley_studio.core.export import export_project

    project = project_io.load(args.project)
    out_dir = _writable_dir(args.out or os.path.join(os.path.dirname(os.path.abspath(args.project)), "export"))
    video = project.media_path if project.media_path and os.path.exists(project.media_path) else None
    duration = project.duration
    if video is not None:
        duration = media.probe(video).duration
    if duration is None:
        duration = max((t.envelope.duration for t in project.tracks), default=0.0)
    if video is None:
        _say(args, f"note: the project's video ({project.media_path}) is missing; skipping the MP4")
    with progress_bar("render", args.quiet) as bar:
        renders = pipeline.render_tracks(project, progress=bar)
    options = _export_options(args, video=video is not None, sample_rate=args.sample_rate)
    with progress_bar("export", args.quiet) as bar:
        result = export_project(project, renders, out_dir, duration, video, options, progress=bar)
    summary = {"project": args.project, "video": result.video, "mix": result.mix,
               "stems": list(result.stems.values()), "envelopes": list(result.envelopes.values())}
    _report(args, summary, f"Wrote {len(result.paths())} files to {out_dir}/")
    return 0


def cmd_engines(args) -> int:
    from foley_studio.engines import registry

    rows = registry.describe_all()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        state = "ready" if row["available"] else f"unavailable: {row['unavailable_reason']}"
        weights = "needs weights" if row.get("needs_weights") else "no weights"
        print(f"{row['id']:12} {row.get('kind', '?'):10} {row['name']:34} {weights:14} {state}")
    return 0


def cmd_bench(args) -> int:
    from foley_studio.bench import run_benchmarks

    return run_benchmarks(args.only, args.json_file, quiet=args.quiet)


def cmd_gui(args) -> int:
    return args.run(args)


def cmd_train(args) -> int:
    from foley_studio.training.cli import run_train

    return run_train(args)


def cmd_convert_weights(args) -> int:
    from foley_studio.convert_weights import run_convert

    return run_convert(args)
