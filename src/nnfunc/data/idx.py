"""IDX files (the MNIST container format): read and write, raw or gzip-compressed.

An IDX file is a 4-byte magic number ``0x00 0x00 <dtype code> <ndim>``, then ``ndim``
big-endian uint32 dimension sizes, then ``prod(dims)`` big-endian values of that dtype.
Everything here is checked on read: a bad magic number, an unknown dtype code, a header
cut short, a body that is too short or too long, or a damaged gzip stream raises
:class:`IDXError` with the file's path in the message.
"""
from __future__ import annotations

import gzip
import math
import os
import struct
import tempfile
import zlib
from pathlib import Path
from typing import Union

import numpy as np

__all__ = ["IDXError", "read_idx", "write_idx", "IDX_DTYPES"]

PathLike = Union[str, "os.PathLike[str]"]

#: IDX dtype code -> big-endian numpy dtype, as defined by the format.
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dt.newbyteorder("=").str: code for code, dt in IDX_DTYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"


class IDXError(ValueError):
    """A file is not a valid IDX file (bad header, wrong size or damaged compression)."""


def _read_bytes(path: Path) -> bytes:
    with open(path, "rb") as f:
        raw = f.read()
    # Detect compression from the content, not the name: files are often renamed.
    if raw[:2] != _GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:
        raise IDXError(f"{path}: corrupt or truncated gzip stream ({err})") from err


def read_idx(path: PathLike) -> np.ndarray:
    """Read an IDX file (raw or gzip-compressed) into a native-endian numpy array.

    The layout is ``[0, 0, code, ndim] + ndim * uint32_be + prod(dims) * value_be``;
    gzip is detected from the first two bytes (``1f 8b``), not from the file name.

    Args:
      path: the file to read.

    Returns:
      An array of shape ``dims`` with dtype uint8, int8, int16, int32, float32 or
      float64 (native byte order).

    Raises:
      IDXError: if the magic number, dtype code, header or body size is invalid, or the
        gzip stream is damaged; the message names the file.

    Example:
      >>> import tempfile, os, numpy as np
      >>> from nnfunc.data import read_idx, write_idx
      >>> p = os.path.join(tempfile.mkdtemp(), "x-idx2-ubyte.gz")
      >>> write_idx(p, np.arange(6, dtype=np.uint8).reshape(2, 3))
      >>> read_idx(p).tolist()
      [[0, 1, 2], [3, 4, 5]]
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise IDXError(f"{path}: truncated IDX header ({len(data)} bytes, need at least 4)")
    zero0, zero1, code, ndim = data[0], data[1], data[2], data[3]
    if zero0 != 0 or zero1 != 0:
        raise IDXError(f"{path}: bad IDX magic number 0x{data[:4].hex()} "
                       "(the first two bytes must be zero)")
    if code not in IDX_DTYPES:
        allowed = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise IDXError(f"{path}: unknown IDX dtype code 0x{code:02X}; allowed: {allowed}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IDXError(f"{path}: truncated IDX header: {ndim} dimensions need {header} bytes, "
                       f"file has {len(data)}")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = IDX_DTYPES[code]
    expected = math.prod(dims) * dtype.itemsize     # Python ints: no int64 overflow
    got = len(data) - header
    if got < expected:
        raise IDXError(f"{path}: truncated IDX body: shape {tuple(dims)} of {dtype.name} "
                       f"needs {expected} bytes, found {got}")
    if got > expected:
        raise IDXError(f"{path}: {got - expected} unexpected trailing bytes after the IDX body "
                       f"(shape {tuple(dims)} of {dtype.name})")
    arr = np.frombuffer(data, dtype=dtype, count=expected // dtype.itemsize, offset=header)
    return arr.reshape(dims).astype(dtype.newbyteorder("="))


def write_idx(path: PathLike, array: np.ndarray, *, compress: bool | None = None) -> None:
    """Write an array as an IDX file, atomically (temporary file, then rename).

    The header is ``[0, 0, code, ndim]`` followed by the dimensions as big-endian uint32,
    then the values in big-endian C order.

    Args:
      path: the destination file.
      array: an array of dtype uint8, int8, int16, int32, float32 or float64, with
        1 to 255 dimensions, each below 2**32.
      compress: gzip the file; ``None`` (default) compresses when the name ends in ``.gz``.

    Returns:
      None.

    Raises:
      ValueError: for an unsupported dtype, rank or dimension size.

    Example:
      >>> import tempfile, os, numpy as np
      >>> from nnfunc.data import read_idx, write_idx
      >>> p = os.path.join(tempfile.mkdtemp(), "w-idx1-float")
      >>> write_idx(p, np.array([1.5, -2.0], dtype=np.float32))
      >>> read_idx(p).tolist()
      [1.5, -2.0]
    """
    path = Path(path)
    array = np.asarray(array)
    code = _CODES.get(array.dtype.newbyteorder("=").str)
    if code is None:
        allowed = ", ".join(dt.newbyteorder("=").name for dt in IDX_DTYPES.values())
        raise ValueError(f"array dtype must be one of {allowed}, got {array.dtype}")
    if not 1 <= array.ndim <= 255:
        raise ValueError(f"array.ndim must be between 1 and 255, got {array.ndim}")
    if any(d >= 2**32 for d in array.shape):
        raise ValueError(f"array dimensions must be < 2**32, got {array.shape}")
    if compress is None:
        compress = path.name.endswith(".gz")
    payload = (bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
               + np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes())
    if compress:
        # mtime=0 makes the compressed bytes (and so their checksum) reproducible.
        payload = gzip.compress(payload, mtime=0)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
