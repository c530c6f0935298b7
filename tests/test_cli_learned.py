"""The learned engine end to end through the CLI: train on footage, then predict with it."""

import json

from foley_studio.cli import main
from foley_studio.core.envelope_csv import read_csv
from tests.test_learned_data import bouncing_clip, make_folder


def test_train_then_rms_with_the_checkpoint(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    clips = make_folder(tmp_path / "footage", n=4, duration=1.5)
    ckpt = tmp_path / "v2r.safetensors"
    assert main(["-q", "train", "video2rms", clips, "-o", str(ckpt), "--epochs", "2", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert "acc_5" in json.dumps(report)

    clip = bouncing_clip(tmp_path / "new.mp4", seed=9)
    out = tmp_path / "env.csv"
    code = main(["-q", "rms", clip, "--engine", "learned", "--weights", str(ckpt), "-o", str(out)])
    assert code == 0, capsys.readouterr().err
    envelope = read_csv(out)
    assert len(envelope) == round(1.5 * 125)


def test_learned_without_weights_is_one_clear_line(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("FOLEY_STUDIO_WEIGHTS", raising=False)
    clip = bouncing_clip(tmp_path / "c.mp4")
    code = main(["-q", "rms", clip, "--engine", "learned", "-o", str(tmp_path / "e.csv")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "weights" in err[0]
