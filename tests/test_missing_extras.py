"""An installation without the neural or gui extras (or the packaged app, which leaves torch
out) answers the commands that need them with one line naming the missing package."""

import importlib.util

import pytest

from foley_studio import cli
from foley_studio.engines.video2rms.learned.engine import LearnedEngine


@pytest.fixture
def without(monkeypatch):
    def hide(*names):
        real = importlib.util.find_spec

        def find_spec(name, *args, **kwargs):
            return None if name.split(".")[0] in names else real(name, *args, **kwargs)

        monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    return hide


def one_line_error(capsys, argv) -> str:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    return err


def test_training_without_torch_says_what_to_install(without, capsys, tmp_path):
    without("torch")
    err = one_line_error(capsys, ["train", "video2rms", str(tmp_path)])
    assert "torch" in err and "foley-studio[neural]" in err


def test_training_the_controlnet_without_diffusers_names_it(without, capsys, tmp_path):
    without("diffusers")
    err = one_line_error(capsys, ["train", "controlnet", str(tmp_path), "--base", str(tmp_path)])
    assert "diffusers" in err and "torch" not in err


def test_learned_engine_names_the_missing_package_before_the_weights(without, tmp_path):
    without("torch")
    ok, why = LearnedEngine(weights=str(tmp_path / "video2rms.safetensors")).available()
    assert not ok and "'torch'" in why and "foley-studio[neural]" in why


def test_the_editor_without_qt_says_what_to_install(without, capsys, tmp_path):
    without("PySide6")
    err = one_line_error(capsys, ["gui"])
    assert "PySide6" in err and "foley-studio[gui]" in err
