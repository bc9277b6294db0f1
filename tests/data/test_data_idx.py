"""Tests of nnfunc.data.idx: IDX files written and read, bytes, corrupt files."""
import gzip
import os
import struct

import numpy as np
import pytest

from nnfunc import data


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "float32", "float64"])
@pytest.mark.parametrize("shape", [(7,), (3, 4), (2, 3, 5), (0, 28, 28), (1, 1, 1, 2)])
@pytest.mark.parametrize("name", ["a-idx.gz", "a-idx"])
def test_idx_round_trip(tmp_path, dtype, shape, name):
    rng = np.random.default_rng(0)
    if np.issubdtype(np.dtype(dtype), np.integer):
        info = np.iinfo(dtype)
        x = rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)
    else:
        x = (rng.standard_normal(shape) * 1e3).astype(dtype)
    path = tmp_path / name
    data.write_idx(path, x)
    is_gz = path.read_bytes()[:2] == b"\x1f\x8b"
    assert is_gz == name.endswith(".gz")
    y = data.read_idx(path)
    assert y.dtype == np.dtype(dtype) and y.shape == shape
    np.testing.assert_array_equal(y, x)
    assert y.dtype.isnative
    assert os.listdir(tmp_path) == [name]  # the atomic write left no temporary file


def test_idx_bytes_match_the_format(tmp_path):
    """Independent reference: the header and body laid out by hand with struct."""
    x = np.array([[1, -2, 3], [40000, 5, -6]], dtype=np.int32)
    expected = bytes([0, 0, 0x0C, 2]) + struct.pack(">II", 2, 3) + struct.pack(">6i", *x.ravel())
    data.write_idx(tmp_path / "x", x)
    assert (tmp_path / "x").read_bytes() == expected
    # gzip is detected from the content, whatever the name says
    (tmp_path / "renamed").write_bytes(gzip.compress(expected))
    np.testing.assert_array_equal(data.read_idx(tmp_path / "renamed"), x)


@pytest.mark.parametrize("compress", [True, False])
def test_idx_compress_flag_overrides_extension(tmp_path, compress):
    data.write_idx(tmp_path / "f.gz", np.arange(4, dtype=np.uint8), compress=compress)
    assert ((tmp_path / "f.gz").read_bytes()[:2] == b"\x1f\x8b") == compress
    np.testing.assert_array_equal(data.read_idx(tmp_path / "f.gz"), np.arange(4))


_GOOD = bytes([0, 0, 0x08, 2]) + struct.pack(">II", 2, 3) + bytes(range(6))


@pytest.mark.parametrize("raw, match", [
    (b"\x00\x00", "truncated IDX header"),
    (bytes([1, 0, 0x08, 1]) + struct.pack(">I", 1) + b"\x00", "bad IDX magic"),
    (bytes([0, 0, 0x07, 1]) + struct.pack(">I", 1) + b"\x00", "unknown IDX dtype code 0x07"),
    (bytes([0, 0, 0x08, 3]) + struct.pack(">I", 2), "truncated IDX header"),
    (_GOOD[:-1], "truncated IDX body"),
    (_GOOD + b"\x00", "trailing bytes"),
    (gzip.compress(_GOOD, mtime=0)[:-6], "corrupt or truncated gzip"),
    (gzip.compress(_GOOD, mtime=0)[:12] + b"\xff" * 20, "corrupt or truncated gzip"),
    # issue 16: sizes whose product overflows int64 used to give a nonsense message
    (bytes([0, 0, 0x08, 3]) + struct.pack(">III", 2**32 - 1, 2**32 - 1, 2**32 - 1),
     r"truncated IDX body: shape \(4294967295, 4294967295, 4294967295\)"),
])
def test_idx_corrupt_files_raise_naming_the_file(tmp_path, raw, match):
    path = tmp_path / "broken-idx-file"
    path.write_bytes(raw)
    with pytest.raises(data.IDXError, match=match) as info:
        data.read_idx(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("bad, match", [
    (np.zeros(3, np.int64), "dtype must be one of"),
    (np.zeros(3, bool), "dtype must be one of"),
    (np.zeros(3, np.complex64), "dtype must be one of"),
    (np.uint8(3), "ndim must be between 1 and 255"),
])
def test_write_idx_rejects_bad_arrays(tmp_path, bad, match):
    with pytest.raises(ValueError, match=match):
        data.write_idx(tmp_path / "x", bad)
    assert os.listdir(tmp_path) == []
