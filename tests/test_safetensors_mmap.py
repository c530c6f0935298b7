"""core/safetensors_mmap.py reads what the safetensors package writes, lazily, and refuses junk."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from safetensors.numpy import save_file

from foley_studio.core.errors import FoleyError
from foley_studio.core.safetensors_mmap import load_mmap, read_header

DTYPES = [np.float32, np.float16, np.float64, np.int64, np.int32, np.uint8, np.bool_]


@st.composite
def tensor_dicts(draw):
    names = draw(st.lists(st.text("abcdefgh._0123", min_size=1, max_size=12), min_size=1, max_size=5,
                          unique=True))
    out = {}
    for name in names:
        dtype = draw(st.sampled_from(DTYPES))
        shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=6))
        out[name] = draw(hnp.arrays(dtype, shape))
    return out


@settings(max_examples=40, deadline=None)
@given(tensors=tensor_dicts())
def test_round_trip_matches_what_safetensors_wrote(tmp_path_factory, tensors):
    path = tmp_path_factory.mktemp("st") / "t.safetensors"
    save_file(tensors, str(path), metadata={"format": "test"})
    loaded = load_mmap(path)
    assert set(loaded) == set(tensors)
    for name, value in tensors.items():
        assert loaded[name].dtype == value.dtype and loaded[name].shape == value.shape
        np.testing.assert_array_equal(loaded[name], value)
    assert read_header(path)[1] == {"format": "test"}


def test_arrays_are_read_only_views_of_the_file(tmp_path):
    path = tmp_path / "w.safetensors"
    save_file({"w": np.arange(12, dtype=np.float32).reshape(3, 4)}, str(path))
    w = load_mmap(path)["w"]
    assert not w.flags.writeable and not w.flags.owndata  # backed by the map, not a copy
    with pytest.raises(ValueError):
        w[0, 0] = 1.0


def _file(header: str, data_bytes: int = 0) -> bytes:
    raw = header.encode()
    return len(raw).to_bytes(8, "little") + raw + b"\0" * data_bytes


@pytest.mark.parametrize("content, problem", [
    (b"", "too short"),
    (b"\x05\x00\x00\x00\x00\x00\x00\x00{}", "no valid header"),
    ((10).to_bytes(8, "little") + b"\xff" * 10, "not JSON"),
    ((2).to_bytes(8, "little") + b"[]", "not a table"),
    (_file('{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}'), "do not fit"),
    (_file('{"a":{"dtype":"BF16","shape":[1],"data_offsets":[0,2]}}', 2), "unsupported"),
    (_file('{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,8]}}', 16), "do not fit"),
    (_file('{"a":{"dtype":"F32","shape":"x","data_offsets":[0,4]}}', 4), "malformed"),
])
def test_broken_files_give_one_line_naming_the_file(tmp_path, content, problem):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(FoleyError) as info:
        load_mmap(path)
    message = str(info.value)
    assert problem in message and str(path) in message and "\n" not in message


def test_truncated_real_file_is_refused(tmp_path):
    path = tmp_path / "t.safetensors"
    save_file({"w": np.ones(1000, np.float32)}, str(path))
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(FoleyError, match="truncated"):
        load_mmap(path)
