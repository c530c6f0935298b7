"""Read a .safetensors file as memory-mapped numpy arrays, without the safetensors package.

Why not `safetensors.numpy.load_file`: it imports a native module and copies every tensor
into fresh arrays while holding the GIL (76-270 ms for the 90 MB prompt encoder on two
cores), which stalled the editor's UI thread during the first render. A memory map costs
a header parse; pages are read lazily, mostly by kernel faults that do not hold the GIL,
and only the rows actually used (a few token embeddings out of 30k) are ever touched.

The format: 8 bytes little-endian header length N, N bytes of JSON
{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}, then the data;
offsets are relative to the end of the header. Nothing here executes code from the file.
"""

from __future__ import annotations

import json
import mmap
import os
import struct
from typing import Any

import numpy as np

from foley_studio.core.errors import FoleyError

MAX_HEADER = 100 << 20  # real headers are kilobytes; larger means "not safetensors"
DTYPES = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16,
    "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8,
    "U64": np.uint64, "U32": np.uint32, "U16": np.uint16, "U8": np.uint8, "BOOL": np.bool_,
}


class SafetensorsError(FoleyError):
    """A file that is not a well-formed safetensors file (or one numpy cannot represent)."""


def read_header(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, str], int]:
    """(tensor table, metadata, offset of the data) of a safetensors file."""
    path = os.fspath(path)
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise SafetensorsError("not a safetensors file (too short)", path)
            (n,) = struct.unpack("<Q", head)
            if n < 2 or n > min(size - 8, MAX_HEADER):
                raise SafetensorsError("not a safetensors file (no valid header)", path)
            table = json.loads(f.read(n).decode("utf-8"))
    except OSError as exc:
        raise SafetensorsError(f"cannot read ({exc.strerror or exc})", path) from None
    except (UnicodeDecodeError, ValueError, RecursionError):  # ValueError: JSON, 5000-digit ints
        raise SafetensorsError("not a safetensors file (header is not JSON)", path) from None
    if not isinstance(table, dict):
        raise SafetensorsError("not a safetensors file (header is not a table)", path)
    metadata = table.pop("__metadata__", None) or {}
    # safetensors metadata is text to text; anything else is a crafted header
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise SafetensorsError("not a safetensors file (__metadata__ is not a table of text)", path)
    return table, metadata, 8 + n


def load_mmap(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Every tensor of the file as a read-only array backed by one shared memory map."""
    path = os.fspath(path)
    table, _, base = read_header(path)
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
    arrays: dict[str, np.ndarray] = {}
    for name, info in table.items():
        try:
            dtype = np.dtype(DTYPES[info["dtype"]])
            shape = tuple(int(d) for d in info["shape"])
            begin, end = (int(x) for x in info["data_offsets"])
        except KeyError as exc:
            raise SafetensorsError(f"tensor {name!r}: unsupported or missing {exc}", path) from None
        except (TypeError, ValueError):
            raise SafetensorsError(f"tensor {name!r}: malformed header entry", path) from None
        count = int(np.prod(shape, dtype=np.int64))
        if begin < 0 or end < begin or base + end > size or end - begin != count * dtype.itemsize:
            raise SafetensorsError(f"tensor {name!r}: data offsets do not fit the file (truncated?)", path)
        # the arrays keep the map alive; it closes when the last of them is collected
        arrays[name] = np.frombuffer(mapped, dtype=dtype, count=count, offset=base + begin).reshape(shape)
    return arrays
