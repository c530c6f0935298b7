"""Choosing and opening the audio output device (sounddevice / PortAudio).

Which device: the `device` argument; by default the FOLEY_STUDIO_AUDIO environment variable
(a PortAudio device name or index, or "none" to play without sound), else PortAudio's
default output. Any failure to find or open a device is not an error: playback then runs
on the monotonic clock and `status` says why, for the status bar.
"""

from __future__ import annotations

import importlib
import os
import threading

ENV_VAR = "FOLEY_STUDIO_AUDIO"
NO_DEVICE_WORDS = {"none", "off", "no", "0"}
PREFERRED_RATE = 48_000  # the export default; avoids a resampler in the device path
CHANNELS = 2
BLOCKSIZE = 512  # ~11 ms at 48 kHz: the callback's scratch is sized for blocks up to 4096
# "high" asks PortAudio for a safe buffer: on a loaded 2-core machine an underrun is worse
# than 30-40 ms of latency, which the transport clock corrects for anyway
LATENCY = "high"


class _Default:
    def __repr__(self) -> str:
        return "DEFAULT"


DEFAULT = _Default()  # "choose for me" (env var, then PortAudio's default output)


class AudioOutput:
    """A PortAudio output stream, or the reason there is none.

    Usage: `out = AudioOutput(device)`; then `out.start(callback)` once the callback's
    owner knows `out.sample_rate`; `out.close()` stops and joins the device thread.
    """

    def __init__(self, device=DEFAULT, sample_rate: int | None = None,
                 blocksize: int = BLOCKSIZE, latency=LATENCY):
        self.sample_rate = int(sample_rate or PREFERRED_RATE)
        self.channels = CHANNELS
        self.latency = 0.0  # seconds, from the opened stream
        self.device_name: str | None = None
        self.reason = ""
        self._blocksize = blocksize
        self._latency_request = latency
        self._index: int | None = None
        self._stream = None
        self._resolve(device, sample_rate)

    @property
    def has_device(self) -> bool:
        return self._index is not None

    @property
    def stream(self):
        return self._stream

    @property
    def status(self) -> str:
        if self.has_device:
            return f"Audio: {self.device_name} @ {self.sample_rate} Hz"
        why = f" ({self.reason})" if self.reason else ""
        return f"No audio device{why} — playing on a monotonic clock"

    def _resolve(self, device, sample_rate: int | None) -> None:
        if device is DEFAULT:
            chosen = os.environ.get(ENV_VAR, "").strip()
            if chosen.lower() in NO_DEVICE_WORDS:
                self.reason = f"{ENV_VAR}={chosen}"
                return
            device = int(chosen) if chosen.isdigit() else (chosen or None)
        elif device is None:
            self.reason = "audio output disabled"
            return
        try:
            import sounddevice as sd
        except OSError as exc:  # the PortAudio library itself is missing
            self.reason = f"PortAudio unavailable: {_first_line(exc)}"
            return
        try:
            info = sd.query_devices(device, kind="output")
        except (ValueError, sd.PortAudioError) as exc:
            self.reason = "none found" if device is None else _first_line(exc)
            return
        if info["max_output_channels"] < 1:
            self.reason = f"{info['name']} has no outputs"
            return
        self.channels = min(CHANNELS, int(info["max_output_channels"]))
        self.sample_rate = self._pick_rate(sd, info, sample_rate)
        self._index = int(info["index"])
        self.device_name = str(info["name"])

    def _pick_rate(self, sd, info, wanted: int | None) -> int:
        for rate in (wanted or PREFERRED_RATE, PREFERRED_RATE):
            try:
                sd.check_output_settings(device=info["index"], samplerate=rate,
                                         channels=self.channels, dtype="float32")
                return int(rate)
            except (ValueError, sd.PortAudioError):
                continue
        return int(info["default_samplerate"])

    def start(self, callback) -> bool:
        """Open and start the stream; on failure has_device turns False and status says why."""
        if not self.has_device:
            return False
        import sounddevice as sd

        try:
            stream = sd.OutputStream(
                device=self._index, samplerate=self.sample_rate, channels=self.channels,
                dtype="float32", blocksize=self._blocksize, latency=self._latency_request,
                callback=callback,
            )
            stream.start()
        except (ValueError, sd.PortAudioError) as exc:
            self.reason = f"cannot open {self.device_name}: {_first_line(exc)}"
            self._index = None
            return False
        self._stream = stream
        self.latency = float(stream.latency)
        return True

    @property
    def active(self) -> bool:
        return self._stream is not None and bool(self._stream.active)

    def close(self) -> None:
        """Stop the stream; returns after PortAudio's thread has finished its last callback."""
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.abort()  # no need to drain: we are closing
            finally:
                stream.close(ignore_errors=True)


def prefetch_backend() -> threading.Thread:
    """Import sounddevice on a thread while the caller loads Qt (started; join it).

    Its import initialises PortAudio, which probes the sound system for ~0.1 s in C with
    the interpreter lock released: done alongside the Qt imports it costs the start-up
    nothing. AudioOutput's own import then finds the module loaded (or fails again and
    says why, exactly as without this)."""

    def load() -> None:
        if os.environ.get(ENV_VAR, "").strip().lower() in NO_DEVICE_WORDS:
            return  # playback will not touch the sound system
        try:
            importlib.import_module("sounddevice")
        except Exception:  # noqa: BLE001 - PortAudio missing: AudioOutput reports it
            pass

    thread = threading.Thread(target=load, name="foley-audio-prefetch", daemon=True)
    thread.start()
    return thread


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
