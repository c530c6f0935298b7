"""foley_studio.core.media: probe numbers, frames, audio, mux, fingerprint, bad input."""

from __future__ import annotations

import math
import os

import av
import numpy as np
import pytest

from foley_studio.core import media
from foley_studio.core.audio import Audio
from foley_studio.core.errors import MediaError, OutputError
from tests.mediagen import (
    moving_square,
    tone,
    write_audio_only,
    write_garbage,
    write_huge_frame_stub,
    write_mp3_with_cover,
    write_truncated,
    write_video,
)

VFR_TIMES = [0.0, 0.1, 0.15, 0.4, 0.45, 0.5, 0.9, 1.0]


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Tiny clips shared by the module (writing each takes ~0.1 s)."""
    d = tmp_path_factory.mktemp("clips")
    stereo = np.stack([tone(1.0, amp=0.5)[0], tone(1.0, amp=0.5)[0]])
    return {
        "av": write_video(d / "av.mp4", fps=30, duration=1.0, audio=stereo),
        "silent": write_video(d / "silent.mp4", moving_square(), fps=25, duration=1.2),
        "vfr": write_video(d / "vfr.mp4", vfr_times=VFR_TIMES),
        "long": write_video(d / "long.mp4", moving_square(), fps=30, duration=2.0,
                            audio=tone(2.0, amp=0.3), faststart=True),
        "audio_only": write_audio_only(d / "tone.m4a"),
        "dir": d,
    }


def packets(path, kind="video"):
    """Payloads of the first stream of a kind, in file order."""
    with av.open(os.fspath(path)) as c:
        stream = getattr(c.streams, kind)[0]
        return [bytes(p) for p in c.demux(stream) if p.size]


# --- probe ------------------------------------------------------------------------------


def test_probe_cfr_clip_with_audio(clips):
    info = media.probe(clips["av"])
    assert info.path == os.fspath(clips["av"])
    assert info.duration == pytest.approx(1.0, abs=1e-6)
    assert info.fps == pytest.approx(30.0)
    assert (info.width, info.height) == (160, 90)
    assert info.n_frames == 30
    assert info.rotation == 0 and info.start_time == 0.0
    assert info.has_video and info.has_audio
    assert info.audio_sr == 48_000 and info.audio_channels == 2
    assert info.video_codec == "h264"
    assert not info.truncated


def test_probe_counts_frames_to_the_frame(clips):
    info = media.probe(clips["silent"])
    assert info.n_frames == 30
    assert info.duration == pytest.approx(30 / 25, abs=1e-6)
    assert info.fps == pytest.approx(25.0)
    assert not info.has_audio and info.audio_sr is None and info.audio_channels is None


def test_probe_audio_only_file(clips):
    info = media.probe(clips["audio_only"])
    assert not info.has_video and info.has_audio
    assert info.audio_channels == 2 and info.audio_sr == 44_100
    assert info.duration == pytest.approx(1.0, abs=0.03)


# --- frames -----------------------------------------------------------------------------


def test_vfr_frame_times_come_from_pts(clips):
    info = media.probe(clips["vfr"])
    assert info.n_frames == len(VFR_TIMES)
    assert info.duration > VFR_TIMES[-1]
    times = [f.t for f in media.iter_frames(clips["vfr"], info=info)]
    np.testing.assert_allclose(times, VFR_TIMES, atol=1e-6)


@pytest.mark.parametrize(
    "width, gray, shape",
    [
        (None, True, (90, 160)),
        (None, False, (90, 160, 3)),
        (64, True, (36, 64)),
        (64, False, (36, 64, 3)),
        (63, True, (34, 62)),  # sides are kept even
    ],
)
def test_frame_sizes_and_channels(clips, width, gray, shape):
    frames = list(media.iter_frames(clips["silent"], width=width, gray=gray))
    assert len(frames) == 30
    assert all(f.image.shape == shape and f.image.dtype == np.uint8 for f in frames)
    np.testing.assert_allclose([f.t for f in frames], np.arange(30) / 25, atol=1e-6)


def test_start_and_end_select_a_half_open_range(clips):
    times = [f.t for f in media.iter_frames(clips["long"], width=32, start=0.5, end=0.8)]
    np.testing.assert_allclose(times, np.arange(15, 24) / 30, atol=1e-6)
    tail = [f.t for f in media.iter_frames(clips["long"], width=32, start=1.9)]
    np.testing.assert_allclose(tail, [57 / 30, 58 / 30, 59 / 30], atol=1e-6)


@pytest.mark.parametrize("threads", [1, 2])
def test_decoder_threads_are_set_and_change_no_pixel(clips, monkeypatch, threads):
    from foley_studio.core import media_decode

    streams = []

    def spy(container):
        stream = media_decode.video_stream.__wrapped__(container)
        streams.append(stream)
        return stream

    spy.__wrapped__ = media_decode.video_stream
    monkeypatch.setattr(media_decode, "video_stream", spy)
    chosen = list(media.iter_frames(clips["long"], width=64, gray=False))
    told = list(media.iter_frames(clips["long"], width=64, gray=False, threads=threads))
    assert streams[0].codec_context.thread_count != 1  # 0: FFmpeg chose (cores + 1)
    assert streams[1].codec_context.thread_count == threads
    assert [f.t for f in told] == [f.t for f in chosen] and len(told) == 60
    for a, b in zip(chosen, told):
        np.testing.assert_array_equal(a.image, b.image)


def test_downscaled_grey_follows_the_picture(clips):
    # the square moves right until 0.5 s: its centroid must move, then stop
    def centroid_x(image):
        ys, xs = np.nonzero(image > 200)
        return xs.mean()

    xs = [centroid_x(f.image) for f in media.iter_frames(clips["long"], width=80)]
    assert xs[14] - xs[0] > 15
    assert abs(xs[-1] - xs[20]) < 0.5


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotated_clip_is_decoded_upright(tmp_path, rotation):
    # The upright picture has a bright block in its top-left corner. Store it turned
    # back by `rotation` and tag the display matrix, as a phone does.
    upright = np.full((90, 160, 3), 40, np.uint8)
    upright[:30, :40] = 230
    stored = np.ascontiguousarray(np.rot90(upright, -(rotation // 90)))
    path = write_video(tmp_path / "rot.mp4", np.stack([stored] * 3), fps=30, rotation=rotation)

    info = media.probe(path)
    assert info.rotation == rotation
    assert (info.width, info.height) == (160, 90)
    frame = next(iter(media.iter_frames(path, width=80)))
    assert frame.image.shape == (44, 80)  # 80 * 90 / 160 = 45, kept even
    h, w = frame.image.shape
    assert frame.image[: h // 4, : w // 8].mean() > 180  # block is top-left
    assert frame.image[h // 2:, w // 2:].mean() < 80


# --- audio ------------------------------------------------------------------------------


def test_decode_audio_mixes_to_mono_at_native_rate(clips):
    audio = media.decode_audio(clips["av"])
    assert audio.sr == 48_000 and audio.samples.ndim == 1
    assert len(audio) == pytest.approx(48_000, abs=1)
    rms = float(np.sqrt(np.mean(audio.samples[4800:-4800] ** 2)))
    assert rms == pytest.approx(0.5 / math.sqrt(2), rel=0.03)


def test_decode_audio_averages_channels(tmp_path):
    left = tone(1.0, amp=0.4)[0]
    path = write_video(tmp_path / "antiphase.mp4", audio=np.stack([left, -left]))
    audio = media.decode_audio(path)
    assert float(np.sqrt(np.mean(audio.samples ** 2))) < 0.01


def test_decode_audio_resamples(clips):
    audio = media.decode_audio(clips["av"], sr=16_000)
    assert audio.sr == 16_000
    assert len(audio) == pytest.approx(16_000, abs=2)


def test_decode_audio_starts_with_the_picture(clips):
    # AAC encoder priming must not shift the track: the sine is at full level at once
    audio = media.decode_audio(clips["long"])
    assert np.abs(audio.samples[:480]).max() > 0.2


def test_clip_wraps_probe_frames_and_audio(clips):
    clip = media.open_clip(clips["silent"])
    assert clip.info == media.probe(clips["silent"])
    assert clip.audio() is None
    assert sum(1 for _ in clip.frames(width=32)) == 30
    with_audio = media.open_clip(clips["av"])
    assert with_audio.audio(sr=16_000).sr == 16_000


# --- mux --------------------------------------------------------------------------------


def test_mux_copies_video_and_adds_the_new_audio(clips, tmp_path):
    sound = Audio(tone(2.0, sr=44_100, freq=220, amp=0.3)[0], 44_100)
    out = tmp_path / "out.mp4"
    media.mux(clips["long"], sound, out)

    assert packets(out) == packets(clips["long"])  # bit-identical video packets
    info = media.probe(out)
    assert info.duration == pytest.approx(2.0, abs=1e-6)
    assert info.has_audio and info.audio_channels == 1 and info.audio_sr == 44_100
    with av.open(os.fspath(out)) as c:
        assert len(c.streams.audio) == 1
    decoded = media.decode_audio(out)
    assert decoded.duration == pytest.approx(2.0, abs=0.01)
    want = float(np.sqrt(np.mean(sound.samples ** 2)))
    got = float(np.sqrt(np.mean(decoded.samples ** 2)))
    assert got == pytest.approx(want, rel=0.05)
    assert os.listdir(tmp_path) == ["out.mp4"]  # no temp file left behind


def test_mux_can_keep_the_original_audio_as_a_second_track(clips, tmp_path):
    out = tmp_path / "both.mp4"
    media.mux(clips["long"], Audio(np.zeros(96_000, np.float32), 48_000), out,
              keep_original_audio=True)
    with av.open(os.fspath(out)) as c:
        tracks = c.streams.audio
        assert len(tracks) == 2
        assert tracks[0].disposition & av.stream.Disposition.default
        assert not tracks[1].disposition & av.stream.Disposition.default
    assert packets(out, "audio")[0] != packets(clips["long"], "audio")[0]
    assert packets(out) == packets(clips["long"])


def test_mux_keeps_the_display_rotation(tmp_path):
    rotated = write_video(tmp_path / "rot.mp4", rotation=90)
    out = tmp_path / "rot_out.mp4"
    media.mux(rotated, Audio(tone(1.0)[0], 48_000), out)
    assert media.probe(out).rotation == 90


def test_mux_resamples_rates_aac_cannot_carry(clips, tmp_path):
    out = tmp_path / "odd_rate.mp4"
    media.mux(clips["long"], Audio(tone(2.0, sr=30_000)[0], 30_000), out)
    assert media.probe(out).audio_sr == 48_000


def test_mux_failure_leaves_nothing_behind(clips, tmp_path):
    bad = write_garbage(tmp_path / "bad.mp4")
    target = tmp_path / "target.mp4"
    with pytest.raises(MediaError):
        media.mux(bad, Audio.silence(100, 48_000), target)
    with pytest.raises(MediaError, match="no video stream"):
        media.mux(clips["audio_only"], Audio.silence(100, 48_000), target)
    assert sorted(os.listdir(tmp_path)) == ["bad.mp4"]
    with pytest.raises(OutputError):
        media.mux(clips["long"], Audio.silence(100, 48_000), tmp_path / "nowhere" / "x.mp4")


# --- fingerprint ------------------------------------------------------------------------


def test_fingerprint_is_stable_and_content_sensitive(clips, tmp_path):
    a = media.fingerprint(clips["long"])
    assert a.startswith("sha256:") and len(a) == len("sha256:") + 64
    assert media.fingerprint(clips["long"]) == a
    small = tmp_path / "small.bin"
    small.write_bytes(b"abc")
    other = tmp_path / "other.bin"
    other.write_bytes(b"abd")
    assert media.fingerprint(small) != media.fingerprint(other)
    big = tmp_path / "big.bin"
    big.write_bytes(bytes(3 << 20))
    before = media.fingerprint(big)
    with open(big, "r+b") as f:
        f.seek((3 << 20) - 10)
        f.write(b"x")
    assert media.fingerprint(big) != before  # the tail counts too


# --- bad input --------------------------------------------------------------------------


def _bad_inputs(clips, tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n")
    # no faststart: the index is at the end, so a cut file has none
    cut_index = write_truncated(clips["silent"], tmp_path / "cut_index.mp4", keep=0.7)
    return {
        "file not found": (tmp_path / "missing.mp4", "not found"),
        "directory": (tmp_path, "directory"),
        "empty": (empty, "empty"),
        "garbage": (write_garbage(tmp_path / "garbage.mp4"), "not a media file"),
        "text": (text, "not a media file"),
        "cut before the index": (cut_index, "cut short"),
        "huge frame": (write_huge_frame_stub(tmp_path / "huge.mp4"), "too large"),
    }


BAD = ["file not found", "directory", "empty", "garbage", "text", "cut before the index",
       "huge frame"]


def assert_clean(err: MediaError, path) -> None:
    text = str(err)
    assert os.fspath(path) in text
    assert "\n" not in text
    for noise in ("Traceback", "Errno", "av.error", "avcodec_", "File \""):
        assert noise not in text, text
    assert err.__cause__ is None or isinstance(err.__cause__, MediaError)


@pytest.mark.parametrize("case", BAD)
@pytest.mark.parametrize(
    "call",
    [
        media.probe,
        media.open_clip,
        lambda p: list(media.iter_frames(p)),
        media.decode_audio,
    ],
    ids=["probe", "open_clip", "iter_frames", "decode_audio"],
)
def test_bad_input_raises_one_line_media_error(clips, tmp_path, case, call):
    path, words = _bad_inputs(clips, tmp_path)[case]
    if call is media.decode_audio and case == "huge frame":
        words = "no audio stream"  # decoding audio never looks at the picture
    with pytest.raises(MediaError, match=words) as caught:
        call(path)
    assert_clean(caught.value, path)


def test_iter_frames_reports_bad_input_before_iteration(tmp_path):
    with pytest.raises(MediaError, match="not found"):
        media.iter_frames(tmp_path / "missing.mp4")  # no next() needed


def test_missing_streams(clips):
    with pytest.raises(MediaError, match="no video stream") as caught:
        media.open_clip(clips["audio_only"])
    assert_clean(caught.value, clips["audio_only"])
    with pytest.raises(MediaError, match="no audio stream"):
        media.decode_audio(clips["silent"])
    with pytest.raises(MediaError, match="no video stream"):
        list(media.iter_frames(clips["audio_only"]))


def test_cover_art_is_not_a_video(tmp_path):
    path = write_mp3_with_cover(tmp_path / "song.mp3")
    info = media.probe(path)
    assert not info.has_video and info.has_audio
    with pytest.raises(MediaError, match="no video stream"):
        media.open_clip(path)
    assert media.decode_audio(path).duration == pytest.approx(1.0, abs=0.05)


def test_fingerprint_bad_paths(tmp_path):
    for path, words in [(tmp_path / "missing.mp4", "not found"), (tmp_path, "directory")]:
        with pytest.raises(MediaError, match=words) as caught:
            media.fingerprint(path)
        assert_clean(caught.value, path)


def test_absurd_pixel_count_is_refused_before_decoding():
    # writing a real 40 MP clip is slow; the check itself is what probe runs first
    with pytest.raises(MediaError, match="too large"):
        media._check_frame_size(7000, 6000, "big.mp4")
    media._check_frame_size(3840, 2160, "uhd.mp4")


def test_truncated_clip_stops_at_the_last_good_frame(clips, tmp_path):
    # faststart puts the index first, so a cut file still opens: like a partial download
    cut = write_truncated(clips["long"], tmp_path / "cut.mp4", keep=0.6)
    info = media.probe(cut)
    assert info.truncated
    assert 0 < info.n_frames < 60 and info.duration < 2.0
    frames = list(media.iter_frames(cut, width=32, info=info))
    times = [f.t for f in frames]
    assert len(frames) >= info.n_frames - 3
    assert times == sorted(times) and times[-1] < info.duration
    audio = media.decode_audio(cut)  # a cut track keeps its start: usable
    assert 0 < audio.duration < 2.0


def test_cut_with_almost_nothing_left_raises(clips, tmp_path):
    cut = write_truncated(clips["long"], tmp_path / "stub.mp4", keep=0.05)
    with pytest.raises(MediaError) as caught:
        list(media.iter_frames(cut))
    assert_clean(caught.value, cut)


def test_public_names_stay_importable_from_core_media():
    # media.py was split into media_io/_probe/_decode/_mux; callers import from media only
    from foley_studio.core.media import (  # noqa: F401
        AAC_RATES, MAX_PIXELS, MAX_SIDE, Clip, Frame, MediaInfo, decode_audio, fingerprint,
        iter_frames, mux, open_clip, probe,
    )

    assert media.probe is probe and media.Clip is Clip
