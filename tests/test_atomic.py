"""Atomic output: old or new file, never half of one, and no temporary left behind."""

import os

import pytest

from foley_studio.core.atomic import atomic_output, write_text_atomic


def test_success_replaces_and_keeps_the_extension(tmp_path):
    target = tmp_path / "a.wav"
    target.write_text("old")
    with atomic_output(target) as tmp:
        assert tmp.endswith(".wav") and os.path.dirname(tmp) == str(tmp_path)
        with open(tmp, "w") as f:
            f.write("new")
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav"]


def test_failure_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    target = tmp_path / "a.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_output(target) as tmp:
            with open(tmp, "w") as f:
                f.write("half")
            raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv"]


def test_before_replace_sees_the_old_file(tmp_path):
    target = tmp_path / "p.json"
    target.write_text("v1")
    seen = []
    write_text_atomic(target, "v2", before_replace=lambda p: seen.append(open(p).read()))
    assert seen == ["v1"] and target.read_text() == "v2"
