import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from foley_studio.core.envelope import Envelope
from foley_studio.core.envelope_csv import read_csv, write_csv
from foley_studio.core.errors import EnvelopeFileError, OutputError


@settings(max_examples=40, deadline=None)
@given(arrays(np.float32, st.integers(1, 300), elements=st.floats(0, 1, width=32)))
def test_write_then_read_is_bit_exact(tmp_path_factory, values):
    path = tmp_path_factory.mktemp("csv") / "env.csv"
    env = Envelope(values)
    write_csv(path, env)
    back = read_csv(path)
    assert back.rate == 125 and back.values.view(np.uint32).tolist() == env.values.view(np.uint32).tolist()


def test_format(tmp_path):
    path = tmp_path / "e.csv"
    write_csv(path, Envelope(np.array([0.0, 0.5, 0.123456789], np.float32)))
    lines = path.read_text().splitlines()
    assert lines[0] == "time,rms"
    assert lines[1] == "0.000000,0"
    assert lines[2] == "0.008000,0.5"
    assert lines[3].startswith("0.016000,0.1234567")
    assert os.listdir(tmp_path) == ["e.csv"]  # no temp file left behind


def test_write_refuses_other_rates_and_reports_unwritable_folders(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="125"):
        write_csv(tmp_path / "e.csv", Envelope(np.zeros(3, np.float32), rate=100))
    with pytest.raises(OutputError, match="cannot write"):
        write_csv(tmp_path / "missing" / "e.csv", Envelope(np.zeros(3, np.float32)))
    path = tmp_path / "e.csv"
    write_csv(path, Envelope(np.full(2, 0.25, np.float32)))

    def full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(OutputError, match="No space left"):
        write_csv(path, Envelope(np.zeros(3, np.float32)))
    monkeypatch.undo()
    assert read_csv(path).values.tolist() == [0.25, 0.25]  # the old file is untouched
    assert os.listdir(tmp_path) == ["e.csv"]


def test_tolerant_reading(tmp_path):
    path = tmp_path / "e.csv"
    text = "\ufeff Time , RMS \r\n0.000, 0.1\r\n\r\n0.008 ,0.2 \r\n 0.016,\"0.3\"\r\n\r\n"
    path.write_bytes(text.encode("utf-8"))
    np.testing.assert_allclose(read_csv(path).values, [0.1, 0.2, 0.3], rtol=1e-6)
    # frame centres instead of starts, rounded to milliseconds
    path.write_text("time,rms\n0.004,0.1\n0.012,0.2\n0.020,0.3\n")
    assert len(read_csv(path)) == 3
    path.write_text("time,rms\n0,1e-3\n")
    assert read_csv(path).values.tolist() == [np.float32(1e-3)]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", "file is empty"),
        ("\n \n", "file is empty"),
        ("time,rms\n", "no data rows"),
        ("0.0,0.1\n0.008,0.2\n", 'line 1: expected the header "time,rms"'),
        ("time,level\n0,0.1\n", 'line 1: expected the header "time,rms"'),
        ("time,rms\n0,0.1\n0.008,abc\n", "line 3: rms 'abc' is not a number"),
        ("time,rms\n0,0.1\nx,0.2\n", "line 3: time 'x' is not a number"),
        ("time,rms\n0,0.1\n0.008,nan\n", "line 3: rms is NaN"),
        ("time,rms\n0,inf\n", "line 2: rms is infinite"),
        ("time,rms\n0,0.1\n0.008,-0.2\n", "line 3: rms -0.2 is negative"),
        ("time,rms\n0,0.1\n0.008,-12.5\n", "line 3: rms -12.5 is negative"),
        ("time,rms\n0,0.1\n0.008,1.5\n", "line 3: rms 1.5 is above 1"),
        ("time,rms\n0,0.1\n0.008\n", "line 3: expected 2 values (time,rms), got 1"),
        ("time,rms\n0,0.1,7\n", "line 2: expected 2 values (time,rms), got 3"),
        ("time,rms\n0,0.1\n0.01,0.1\n0.02,0.1\n", "line 3: time step is 0.01 s, expected 0.008 s"),
        ("time,rms\n0,0.1\n0.008,0.1\n0.024,0.1\n", "line 4: time step is 0.016 s"),
        ("time,rms\n0,0.1\n0.008,0.1\n0.008,0.1\n", "line 4: time step is 0 s"),
        ("time,rms\n5.0,0.1\n5.008,0.1\n", "line 2: first time is 5 s"),
        ("time,rms\n\n\n0,0.1\n0.5,0.1\n", "line 5: time step"),
    ],
)
def test_malformed_csv_names_the_line(tmp_path, text, expected):
    path = tmp_path / "bad.csv"
    path.write_text(text, newline="")
    with pytest.raises(EnvelopeFileError) as info:
        read_csv(path)
    assert expected in str(info.value)
    assert info.value.path == str(path)


def test_small_drift_that_adds_up_is_caught(tmp_path):
    # each step 0.0089 s is within the per-step tolerance, but after 10 rows it is a frame off
    rows = "\n".join(f"{i * 0.0089:.6f},0.1" for i in range(20))
    path = tmp_path / "drift.csv"
    path.write_text("time,rms\n" + rows + "\n")
    with pytest.raises(EnvelopeFileError, match="drifts"):
        read_csv(path)


def test_missing_file_and_bad_encoding(tmp_path):
    with pytest.raises(EnvelopeFileError, match="file not found"):
        read_csv(tmp_path / "none.csv")
    path = tmp_path / "latin.csv"
    path.write_bytes(b"time,rms\n0,0.1\xff\n")
    with pytest.raises(EnvelopeFileError, match="not UTF-8"):
        read_csv(path)
