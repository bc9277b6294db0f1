"""Tests for nnfunc.data: IDX files, checksums, downloads, MNIST, synthetic digits,
normalisation and batching."""
import ast
import gzip
import hashlib
import http.server
import math
import os
import pathlib
import shutil
import socket
import struct
import threading

import numpy as np
import pytest

from nnfunc import data
from conftest import MNIST_DIR

DATA_PKG = pathlib.Path(data.__file__).parent
MNIST_TEST_FILES = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
MNIST_TRAIN_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")
needs_mnist = pytest.mark.skipif(
    not all((MNIST_DIR / f).is_file() for f in MNIST_TEST_FILES),
    reason=f"MNIST test files not found in {MNIST_DIR}")
needs_mnist_train = pytest.mark.skipif(
    not all((MNIST_DIR / f).is_file() for f in MNIST_TRAIN_FILES),
    reason=f"MNIST training files not found in {MNIST_DIR}")


# ----------------------------------------------------------------------------- IDX

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


# ------------------------------------------------------------------------ checksums

def test_file_digest_and_verify(tmp_path):
    p = tmp_path / "blob"
    payload = os.urandom(300_000)
    p.write_bytes(payload)
    sha, md5 = hashlib.sha256(payload).hexdigest(), hashlib.md5(payload).hexdigest()
    assert data.file_digest(p) == sha
    assert data.file_digest(p, "md5") == md5
    data.verify_file(p, sha256=sha)
    data.verify_file(p, sha256=sha.upper(), md5=md5)
    with pytest.raises(data.ChecksumError, match="sha256 mismatch"):
        data.verify_file(p, sha256="0" * 64)
    with pytest.raises(data.ChecksumError, match="md5 mismatch"):
        data.verify_file(p, sha256=sha, md5="0" * 32)
    with pytest.raises(ValueError, match="needs sha256 or md5"):
        data.verify_file(p)


def test_cache_dir_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("NNFUNC_DATA", str(tmp_path))
    assert data.cache_dir("mnist") == tmp_path / "mnist"
    monkeypatch.delenv("NNFUNC_DATA")
    assert data.cache_dir() == pathlib.Path.home() / ".cache" / "nnfunc"


def _hexes(d, n):
    return all(len(v) == n and int(v, 16) >= 0 for v in d.values())


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "kmnist"])
def test_registry_is_complete(name):
    info = data.DATASETS[name]
    files = {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"}
    assert set(info.sha256) == files
    assert _hexes(info.sha256, 64)
    assert len(set(info.sha256.values())) == 4
    assert len(info.class_names) == 10 and info.mirrors
    payload = info.payload_md5 or {}
    assert set(payload) <= files and _hexes(payload, 32)
    assert len(set(payload.values())) == len(payload)
    if name == "mnist":  # the published MD5s of the decompressed IDX files
        assert set(payload) == files


@needs_mnist
def test_registry_matches_the_real_mnist_test_files():
    sums = dict(reversed(line.split()) for line in
                (MNIST_DIR / "SHA256SUMS").read_text().splitlines() if line.strip())
    for f in MNIST_TEST_FILES:
        assert data.DATASETS["mnist"].sha256[f] == sums[f]
        assert data.file_digest(MNIST_DIR / f) == sums[f]
        md5 = hashlib.md5(gzip.decompress((MNIST_DIR / f).read_bytes())).hexdigest()
        assert data.DATASETS["mnist"].payload_md5[f] == md5


# ------------------------------------------------------------------------ downloads

class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves files from `root` under three prefixes: /ok/ as is, /bad/ with one byte
    flipped, /short/ announcing more bytes than it sends before hanging up."""
    root = None
    hits = None

    def do_GET(self):
        mode, _, name = self.path.strip("/").partition("/")
        path = pathlib.Path(self.root) / name
        type(self).hits.append(self.path)
        if mode not in ("ok", "bad", "short") or not path.is_file():
            self.send_error(404)
            return
        body = path.read_bytes()
        if mode == "bad":
            body = body[:-1] + bytes([body[-1] ^ 0xFF])
        self.send_response(200)
        self.send_header("Content-Length", str(len(body) + (4096 if mode == "short" else 0)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2] if mode == "short" else body)
        if mode == "short":
            self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path, monkeypatch):
    """A local HTTP server in a thread; yields (base_url, served_dir)."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    served = tmp_path / "served"
    served.mkdir()
    handler = type("H", (_Handler,), {"root": str(served), "hits": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", served, handler.hits
    finally:
        httpd.shutdown()
        httpd.server_close()


def _serve_blob(served, name="blob.bin", size=200_000):
    payload = np.random.default_rng(1).integers(0, 256, size, dtype=np.uint8).tobytes()
    (served / name).write_bytes(payload)
    return name, payload, hashlib.sha256(payload).hexdigest()


@pytest.mark.parametrize("progress", [False, True])
def test_download_success(server, tmp_path, progress):
    base, served, _ = server
    name, payload, sha = _serve_blob(served)
    dest = tmp_path / "cache" / "sub"
    path = data.download_file(name, [base + "/ok/"], dest, sha256=sha, progress=progress)
    assert path == dest / name and path.read_bytes() == payload
    assert os.listdir(dest) == [name]


def test_download_with_md5_only(server, tmp_path):
    base, served, _ = server
    name, payload, _ = _serve_blob(served)
    path = data.download_file(name, [base + "/ok"], tmp_path / "c",
                              md5=hashlib.md5(payload).hexdigest(), progress=False)
    assert path.read_bytes() == payload


def test_download_checksum_mismatch_leaves_nothing(server, tmp_path):
    base, served, _ = server
    name, _, sha = _serve_blob(served)
    dest = tmp_path / "cache"
    with pytest.raises(data.ChecksumError, match="sha256 mismatch") as info:
        data.download_file(name, [base + "/bad/"], dest, sha256=sha, progress=False)
    assert str(dest / name) in str(info.value)
    assert os.listdir(dest) == []


def test_download_interrupted_transfer_leaves_nothing(server, tmp_path):
    base, served, _ = server
    name, _, sha = _serve_blob(served)
    dest = tmp_path / "cache"
    with pytest.raises(data.DownloadError, match="could not download blob.bin") as info:
        data.download_file(name, [base + "/short/"], dest, sha256=sha, progress=False)
    assert "/short/blob.bin" in str(info.value) and "incomplete transfer" in str(info.value)
    assert os.listdir(dest) == []


def test_download_falls_back_to_the_next_mirror(server, tmp_path):
    base, served, hits = server
    name, payload, sha = _serve_blob(served)
    mirrors = [base + "/missing/", base + "/short/", base + "/bad/", base + "/ok/"]
    path = data.download_file(name, mirrors, tmp_path / "c", sha256=sha, progress=False)
    assert path.read_bytes() == payload
    assert hits == [f"/{m}/{name}" for m in ("missing", "short", "bad", "ok")]
    assert os.listdir(tmp_path / "c") == [name]


def _closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_download_offline_says_where_to_put_the_file(tmp_path):
    dest = tmp_path / "cache"
    with pytest.raises(data.DownloadError) as info:
        data.download_file("x.gz", [f"http://127.0.0.1:{_closed_port()}/"], dest,
                           sha256="0" * 64, progress=False, timeout=5)
    msg = str(info.value)
    assert "x.gz" in msg and f"place it at {dest / 'x.gz'}" in msg
    assert os.listdir(dest) == []


@pytest.mark.parametrize("kwargs, match", [
    (dict(mirrors=[], sha256="0" * 64), "mirrors must list at least one"),
    (dict(mirrors=["http://127.0.0.1:1/"]), "needs sha256 or md5"),
])
def test_download_bad_arguments(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        data.download_file("x", directory=tmp_path, **kwargs)


# ---------------------------------------------------------------------------- MNIST

@needs_mnist
def test_real_mnist_test_set_loads():
    x, y = data.mnist("test", root=MNIST_DIR, download=False)
    assert x.shape == (10000, 28, 28) and x.dtype == np.uint8
    assert y.shape == (10000,) and y.dtype == np.int32
    # Published class counts of the MNIST test set.
    assert np.bincount(y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert y[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert x.min() == 0 and x.max() == 255
    xf, yf = data.mnist("test", root=MNIST_DIR, download=False, normalize=True, flatten=True)
    assert xf.shape == (10000, 784) and xf.dtype == np.float32
    np.testing.assert_allclose(xf, x.reshape(10000, 784) / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(yf, y)
    # the parent of the dataset folder works too
    xp, yp = data.mnist("test", root=MNIST_DIR.parent, download=False)
    np.testing.assert_array_equal(xp, x)


@needs_mnist
def test_mnist_downloads_and_verifies_from_a_local_mirror(server, tmp_path, monkeypatch):
    base, served, hits = server
    for f in MNIST_TEST_FILES:
        shutil.copy(MNIST_DIR / f, served / f)
    # default root from $NNFUNC_DATA, mirrors from the environment variable
    monkeypatch.setenv("NNFUNC_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("NNFUNC_MNIST_MIRRORS", f"{base}/missing/, {base}/ok/")
    x, y = data.mnist("test", progress=False)
    assert x.shape == (10000, 28, 28) and y.shape == (10000,)
    assert sorted(os.listdir(tmp_path / "cache" / "mnist")) == sorted(MNIST_TEST_FILES)
    n_hits = len(hits)
    data.mnist("test", progress=False)  # cached now: no new requests
    assert len(hits) == n_hits
    # a corrupt mirror via the mirrors= argument: nothing lands in the cache
    other = tmp_path / "other"
    with pytest.raises(data.ChecksumError):
        data.mnist("test", root=other, mirrors=[base + "/bad/"], progress=False)
    assert os.listdir(other) == []


def test_mnist_offline_names_files_and_directory(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        data.fashion_mnist("train", root=tmp_path, download=False)
    msg = str(info.value)
    for f in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", str(tmp_path)):
        assert f in msg


def test_offline_error_lists_the_mirrors_in_use(tmp_path, monkeypatch):
    """The error names the mirrors the loader would use (mirrors=, else the environment
    variable), not the defaults it would not use."""
    custom = ["file:///nonexistent/mirror-a/", "file:///nonexistent/mirror-b/"]
    defaults = data.DATASETS["mnist"].mirrors
    with pytest.raises(FileNotFoundError) as info:
        data.mnist("test", root=tmp_path, download=False, mirrors=custom)
    msg = str(info.value)
    assert all(m in msg for m in custom) and not any(m in msg for m in defaults)
    monkeypatch.setenv("NNFUNC_MNIST_MIRRORS", "file:///nonexistent/from-env/")
    with pytest.raises(FileNotFoundError, match="from file:///nonexistent/from-env/"):
        data.mnist("test", root=tmp_path, download=False)
    # with downloads on, each unreachable mirror in use is named in the DownloadError
    with pytest.raises(data.DownloadError) as info:
        data.mnist("test", root=tmp_path, mirrors=custom, progress=False)
    msg = str(info.value)
    assert all(m + "t10k-images-idx3-ubyte.gz" in msg for m in custom)
    assert not any(m in msg for m in defaults)
    assert os.listdir(tmp_path) == []


def test_mnist_failed_download_names_files_and_directory(tmp_path):
    with pytest.raises(data.DownloadError) as info:
        data.kmnist("test", root=tmp_path, mirrors=[f"http://127.0.0.1:{_closed_port()}/"],
                    progress=False)
    assert str(tmp_path / "t10k-images-idx3-ubyte.gz") in str(info.value)
    assert os.listdir(tmp_path) == []


@needs_mnist
def test_mnist_rejects_a_tampered_cached_file(tmp_path):
    for f in MNIST_TEST_FILES:
        shutil.copy(MNIST_DIR / f, tmp_path / f)
    labels = tmp_path / MNIST_TEST_FILES[1]
    raw = gzip.decompress(labels.read_bytes())
    labels.write_bytes(gzip.compress(raw[:-1] + bytes([(raw[-1] + 1) % 10])))
    with pytest.raises(data.ChecksumError, match="delete it"):
        data.mnist("test", root=tmp_path, download=False)
    # with verification off, the structural checks still run and the data loads
    x, y = data.mnist("test", root=tmp_path, download=False, verify=False)
    assert x.shape == (10000, 28, 28) and y.shape == (10000,)


@needs_mnist_train
def test_real_mnist_train_set_loads():
    """The shared training files are re-compressed (their archive SHA-256 is not the
    official one); they load because their decompressed IDX bytes are the official ones."""
    x, y = data.mnist("train", root=MNIST_DIR, download=False)
    assert x.shape == (60000, 28, 28) and x.dtype == np.uint8
    assert y.shape == (60000,) and y.dtype == np.int32
    assert set(np.unique(y).tolist()) == set(range(10))
    # Published class counts and first labels of the MNIST training set.
    assert np.bincount(y).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265,
                                       5851, 5949]
    assert y[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]


def _mnist_test_copy(tmp_path, labels_raw):
    """tmp_path holding the official t10k images and a labels file with the given bytes."""
    shutil.copy(MNIST_DIR / MNIST_TEST_FILES[0], tmp_path / MNIST_TEST_FILES[0])
    labels = tmp_path / MNIST_TEST_FILES[1]
    labels.write_bytes(labels_raw)
    return labels


def _official_test_labels():
    return gzip.decompress((MNIST_DIR / MNIST_TEST_FILES[1]).read_bytes())


@needs_mnist
@pytest.mark.parametrize("wrap", ["recompressed", "uncompressed"])
def test_mnist_accepts_the_official_payload_in_another_wrapper(tmp_path, wrap):
    raw = _official_test_labels()
    blob = gzip.compress(raw, compresslevel=1, mtime=12345) if wrap == "recompressed" else raw
    labels = _mnist_test_copy(tmp_path, blob)
    assert data.file_digest(labels) != data.DATASETS["mnist"].sha256[MNIST_TEST_FILES[1]]
    _, y = data.mnist("test", root=tmp_path, download=False)
    _, y_ref = data.mnist("test", root=MNIST_DIR, download=False)
    np.testing.assert_array_equal(y, y_ref)


@needs_mnist
def test_mnist_rejects_a_modified_payload_naming_the_file(tmp_path):
    raw = bytearray(_official_test_labels())
    raw[5000] = (raw[5000] + 1) % 10  # still a valid label, so only the digest can tell
    labels = _mnist_test_copy(tmp_path, gzip.compress(bytes(raw), mtime=0))
    with pytest.raises(data.ChecksumError) as info:
        data.mnist("test", root=tmp_path, download=False)
    msg = str(info.value)
    want = data.DATASETS["mnist"].payload_md5[MNIST_TEST_FILES[1]]
    assert str(labels) in msg and "archive sha256 mismatch" in msg
    assert data.DATASETS["mnist"].sha256[MNIST_TEST_FILES[1]] in msg
    assert f"md5 mismatch: expected {want}, got {hashlib.md5(raw).hexdigest()}" in msg


@needs_mnist
@pytest.mark.parametrize("damage", ["truncated", "garbled", "bad crc"])
def test_mnist_rejects_a_corrupt_gzip_with_checksum_error(tmp_path, damage):
    blob = gzip.compress(_official_test_labels(), mtime=0)
    if damage == "truncated":
        blob = blob[: len(blob) // 2]
    elif damage == "garbled":
        blob = blob[:12] + b"\xff" * 40 + blob[52:]
    else:  # the payload inflates in full, but the CRC-32 trailer is wrong
        blob = blob[:-8] + bytes([blob[-8] ^ 0xFF]) + blob[-7:]
    labels = _mnist_test_copy(tmp_path, blob)
    with pytest.raises(data.ChecksumError, match="gzip stream") as info:
        data.mnist("test", root=tmp_path, download=False)
    assert str(labels) in str(info.value) and "archive sha256 mismatch" in str(info.value)


@needs_mnist
def test_mnist_payload_check_is_memoised_per_file_state(tmp_path, monkeypatch):
    from nnfunc.data import datasets

    labels = _mnist_test_copy(tmp_path, gzip.compress(_official_test_labels(), mtime=7))
    calls = []
    real = datasets._payload_md5
    monkeypatch.setattr(datasets, "_payload_md5", lambda p: calls.append(p) or real(p))
    data.mnist("test", root=tmp_path, download=False)
    assert calls == [labels]  # only the labels failed the archive check
    data.mnist("test", root=tmp_path, download=False)
    assert calls == [labels]  # unchanged since: not hashed again
    st = labels.stat()
    os.utime(labels, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    data.mnist("test", root=tmp_path, download=False)
    assert calls == [labels, labels]  # touched: checked again
    # rewritten with other content: rejected, not served from the memo
    raw = bytearray(_official_test_labels())
    raw[-1] = (raw[-1] + 1) % 10
    labels.write_bytes(gzip.compress(bytes(raw), mtime=7))
    with pytest.raises(data.ChecksumError, match="md5 mismatch"):
        data.mnist("test", root=tmp_path, download=False)


def test_archive_only_datasets_keep_the_archive_error(tmp_path):
    """Without payload digests (Fashion-MNIST here), only the archive digest counts."""
    data.write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros((3, 28, 28), np.uint8))
    data.write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(3, np.uint8))
    with pytest.raises(data.ChecksumError, match="sha256 mismatch") as info:
        data.fashion_mnist("test", root=tmp_path, download=False)
    assert "payload" not in str(info.value) and "delete it" in str(info.value)
    assert str(tmp_path / "t10k-images-idx3-ubyte.gz") in str(info.value)


@pytest.mark.parametrize("kwargs, match", [
    (dict(split="validation"), "split must be 'train' or 'test'"),
])
def test_mnist_bad_split(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        data.mnist(root=tmp_path, download=False, **kwargs)


def test_load_dataset_checks_structure(tmp_path):
    """Files that are valid IDX but not MNIST-shaped are rejected, naming the file."""
    data.write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros((3, 28, 27), np.uint8))
    data.write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(3, np.uint8))
    with pytest.raises(data.IDXError, match="t10k-images-idx3-ubyte.gz"):
        data.mnist("test", root=tmp_path, download=False, verify=False)
    data.write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros((3, 28, 28), np.uint8))
    data.write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.array([0, 1, 12], np.uint8))
    with pytest.raises(data.IDXError, match="label 12 out of range"):
        data.mnist("test", root=tmp_path, download=False, verify=False)


# ------------------------------------------------------------------------ synthetic

def test_synthetic_shapes_determinism_and_prefix():
    x, y = data.synthetic_mnist(1500, seed=3)
    assert x.shape == (1500, 28, 28) and x.dtype == np.uint8
    assert y.shape == (1500,) and y.dtype == np.int32
    assert set(np.unique(y).tolist()) == set(range(10))
    x2, y2 = data.synthetic_mnist(1500, seed=3)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    xp, yp = data.synthetic_mnist(1100, seed=3)  # crosses the internal chunk boundary
    np.testing.assert_array_equal(xp, x[:1100])
    np.testing.assert_array_equal(yp, y[:1100])
    x3, _ = data.synthetic_mnist(1500, seed=4)
    assert (x3 != x).mean() > 0.2
    xf, yf = data.synthetic_mnist(1500, seed=3, normalize=True, flatten=True)
    assert xf.dtype == np.float32 and xf.shape == (1500, 784)
    np.testing.assert_allclose(xf, x.reshape(1500, 784) / 255.0, rtol=1e-6)
    assert data.synthetic_mnist(0, seed=0)[0].shape == (0, 28, 28)


def test_synthetic_looks_like_mnist():
    x, _ = data.synthetic_mnist(2000, seed=0, noise=0.0)
    ink = x.astype(np.float32) / 255
    # dark background, bright strokes covering roughly MNIST's 10-25 % of pixels
    assert 0.08 < (ink > 0.5).mean() < 0.3
    border = np.concatenate([ink[:, :2].ravel(), ink[:, -2:].ravel(),
                             ink[:, :, :2].ravel(), ink[:, :, -2:].ravel()])
    assert border.mean() < 0.02
    assert x.max() >= 200


@pytest.mark.parametrize("kwargs, match", [
    (dict(n=-1), "n must be >= 0"),
    (dict(n=2.5), "n must be an integer"),
    (dict(n=4, seed=-1), "seed must be >= 0"),
    (dict(n=4, noise=-0.1), "noise must be >= 0"),
    (dict(n=4, jitter=float("nan")), "jitter must be >= 0"),
])
def test_synthetic_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        data.synthetic_mnist(**kwargs)


def _train_softmax_model(x, y, hidden, *, epochs, seed=0):
    """Plain jax + numpy: an MLP (or softmax regression when hidden is None) with Adam."""
    import jax
    import jax.numpy as jnp

    key = jax.random.PRNGKey(seed)
    sizes = [x.shape[1]] + ([hidden] if hidden else []) + [10]
    params = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        key, k = jax.random.split(key)
        params.append((jax.random.normal(k, (a, b)) * jnp.sqrt(2.0 / a), jnp.zeros(b)))

    def forward(ps, xb):
        for w, b in ps[:-1]:
            xb = jax.nn.relu(xb @ w + b)
        w, b = ps[-1]
        return xb @ w + b

    def loss(ps, xb, yb):
        logp = jax.nn.log_softmax(forward(ps, xb))
        return -jnp.mean(jnp.take_along_axis(logp, yb[:, None], axis=1))

    @jax.jit
    def step(ps, m, v, t, xb, yb):
        g = jax.grad(loss)(ps, xb, yb)
        m = jax.tree.map(lambda m, g: 0.9 * m + 0.1 * g, m, g)
        v = jax.tree.map(lambda v, g: 0.999 * v + 0.001 * g * g, v, g)
        upd = lambda p, m, v: p - 2e-3 * (m / (1 - 0.9 ** t)) / (  # noqa: E731
            jnp.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
        return jax.tree.map(upd, ps, m, v), m, v

    m = jax.tree.map(jnp.zeros_like, params)
    v = m
    t = 0
    for epoch in range(epochs):
        for xb, yb in data.batches(x, y, batch_size=128, shuffle=True, seed=epoch,
                                   drop_last=True):
            t += 1
            params, m, v = step(params, m, v, jnp.float32(t), xb, yb)
    return jax.jit(lambda xb: forward(params, xb).argmax(-1))


@pytest.fixture(scope="module")
def synthetic_split():
    x, y = data.synthetic_mnist(8000, seed=0, normalize=True, flatten=True)
    xt, yt = data.synthetic_mnist(2000, seed=1, normalize=True, flatten=True)
    return x, y, xt, yt


def test_synthetic_is_learnable(synthetic_split):
    x, y, xt, yt = synthetic_split
    predict = _train_softmax_model(x, y, hidden=128, epochs=5)
    acc = float((np.asarray(predict(xt)) == yt).mean())
    assert acc > 0.9, acc


def test_synthetic_is_not_trivial(synthetic_split):
    x, y, xt, yt = synthetic_split
    # nearest class mean (template matching) is far from perfect ...
    means = np.stack([x[y == c].mean(0) for c in range(10)])
    d = (xt ** 2).sum(1)[:, None] - 2 * xt @ means.T + (means ** 2).sum(1)[None]
    ncm = float((d.argmin(1) == yt).mean())
    assert 0.5 < ncm < 0.95, ncm
    # ... and so is a linear model trained like the MLP
    predict = _train_softmax_model(x, y, hidden=None, epochs=5)
    linear = float((np.asarray(predict(xt)) == yt).mean())
    assert 0.6 < linear < 0.97, linear


# ----------------------------------------------------------------------- transforms

def test_standardize_per_feature_and_global():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, (500, 4)).astype(np.float32)
    x[:, 2] = 7.0  # a constant feature must not produce NaN
    s = data.fit_standardize(x)
    z = data.standardize(x, s)
    np.testing.assert_allclose(z[:, [0, 1, 3]].mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(z[:, [0, 1, 3]].std(0), 1, atol=1e-5)
    np.testing.assert_array_equal(z[:, 2], 0)
    # test data use the training statistics, computed independently here
    xt = rng.normal(0.0, 1.0, (10, 4))
    ref = (xt - x.mean(0)) / np.where(x.std(0) > 0, x.std(0), 1)
    np.testing.assert_allclose(data.standardize(xt, s), ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(data.unstandardize(z, s), x, rtol=1e-5, atol=1e-5)
    g = data.fit_standardize(np.arange(10, dtype=np.uint8), axis=None)
    assert g.mean.shape == (1,)
    # global statistics (axis=None) fit any number of features
    images = rng.normal(size=(5, 3, 3, 2))
    gi = data.fit_standardize(images, axis=None)
    assert data.standardize(np.ones((2, 3, 3, 2)), gi).shape == (2, 3, 3, 2)
    per_channel = data.fit_standardize(images, axis=(0, 1, 2))
    assert data.standardize(np.ones((4, 3, 3, 2)), per_channel).shape == (4, 3, 3, 2)
    np.testing.assert_allclose(float(g.mean[0]), 4.5)
    np.testing.assert_allclose(float(g.std[0]), np.std(np.arange(10)), rtol=1e-6)


@pytest.mark.parametrize("feature_range", [(-1.0, 1.0), (0.0, 1.0), (2.0, 5.0)])
def test_min_max_scale(feature_range):
    a, b = feature_range
    rng = np.random.default_rng(1)
    x = rng.uniform(-10, 30, (200, 3))
    x[:, 1] = 4.0
    s = data.fit_min_max(x)
    y = data.min_max_scale(x, s, feature_range=feature_range)
    np.testing.assert_allclose(y[:, [0, 2]].min(0), a)
    np.testing.assert_allclose(y[:, [0, 2]].max(0), b)
    np.testing.assert_allclose(y[:, 1], (a + b) / 2)
    ref = a + (x[:, 0] - x[:, 0].min()) / (x[:, 0].max() - x[:, 0].min()) * (b - a)
    np.testing.assert_allclose(y[:, 0], ref)
    outside = np.array([[100.0, 4.0, -100.0]])
    assert data.min_max_scale(outside, s, feature_range=feature_range)[0, 0] > b
    clipped = data.min_max_scale(outside, s, feature_range=feature_range, clip=True)
    np.testing.assert_allclose(clipped[0, [0, 2]], [b, a])


def test_linear_log_clip():
    px = np.array([0, 51, 255], dtype=np.uint8)
    y = data.linear_scale(px)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, px / 127.5 - 1, rtol=1e-6)
    np.testing.assert_allclose(data.linear_scale(px, out_range=(0, 1)), px / 255, rtol=1e-6)
    np.testing.assert_allclose(data.linear_scale(np.array([1.0, 3.0]), in_range=(1, 3),
                                                 out_range=(10, 20)), [10, 20])
    x = np.array([0.0, 1e-9, 5.0, 1e6])
    np.testing.assert_allclose(data.log_scale(x), [math.log1p(v) for v in x], rtol=1e-12)
    np.testing.assert_allclose(data.log_scale(x, offset=2.0), np.log(x + 2))
    assert data.log_scale(x).dtype == np.float64
    np.testing.assert_array_equal(data.clip(np.array([-3, 0, 3]), low=-1, high=1), [-1, 0, 1])
    np.testing.assert_array_equal(data.clip(np.array([-3, 0, 3]), high=1), [-3, 0, 1])


def test_one_hot():
    labels = np.array([[3, 0], [9, 3]])
    oh = data.one_hot(labels, 10)
    assert oh.shape == (2, 2, 10) and oh.dtype == np.float32
    np.testing.assert_array_equal(oh, np.eye(10, dtype=np.float32)[labels])
    assert data.one_hot(np.array([0, 2]), dtype=np.int32).tolist() == [[1, 0, 0], [0, 0, 1]]
    torch = pytest.importorskip("torch")
    ref = torch.nn.functional.one_hot(torch.tensor([1, 4, 0]), 5).numpy()
    np.testing.assert_array_equal(data.one_hot(np.array([1, 4, 0]), 5), ref)


@pytest.mark.parametrize("fn, match", [
    (lambda: data.one_hot(np.array([0, 10]), 10), r"labels must be in \[0, 10\)"),
    (lambda: data.one_hot(np.array([-1, 0]), 3), "labels must be in"),
    (lambda: data.one_hot(np.array([0.5]), 3), "labels must be integers"),
    (lambda: data.one_hot(np.array([0]), 0), "num_classes must be a positive integer"),
    (lambda: data.min_max_scale(np.ones(3), data.fit_min_max(np.arange(3.0)),
                                feature_range=(1, -1)), "feature_range must be"),
    (lambda: data.linear_scale(np.ones(2), in_range=(5, 5)), "in_range must be"),
    (lambda: data.log_scale(np.array([-2.0, 1.0])), "x \\+ offset > 0"),
    (lambda: data.clip(np.ones(2)), "clip needs low or high"),
    (lambda: data.clip(np.ones(2), low=2, high=1), "low must be <= high"),
    (lambda: data.fit_standardize(np.ones(2), eps=-1), "eps must be >= 0"),
    # issue 16: statistics that used to be NaN or to broadcast silently
    (lambda: data.fit_standardize(np.array([[1.0], [np.nan]])), "1 NaN or infinite"),
    (lambda: data.fit_min_max(np.array([[1.0], [np.inf]])), "1 NaN or infinite"),
    (lambda: data.standardize(np.ones((3, 4)), data.fit_standardize(np.ones((5, 1)))),
     r"statistics of shape \(1, 1\).*x of shape \(3, 4\)"),
    (lambda: data.unstandardize(np.ones((3, 2)), data.fit_standardize(np.ones((5, 3)))),
     "do not fit"),
    (lambda: data.standardize(np.ones(3), data.fit_standardize(np.ones((5, 1)), axis=None)),
     "do not fit"),
])
def test_transforms_bad_inputs(fn, match):
    with pytest.raises(ValueError, match=match):
        fn()


# ------------------------------------------------------------------------- batching

@pytest.mark.parametrize("n, bs, drop_last", [(10, 3, False), (10, 3, True), (9, 3, True),
                                              (2, 5, False), (2, 5, True), (0, 4, False)])
@pytest.mark.parametrize("shuffle", [False, True])
def test_batches_cover_every_sample_once(n, bs, drop_last, shuffle):
    x = np.arange(n * 2).reshape(n, 2)
    y = np.arange(n)
    out = list(data.batches(x, y, batch_size=bs, shuffle=shuffle, seed=7 if shuffle else None,
                            drop_last=drop_last))
    assert len(out) == data.num_batches(n, bs, drop_last=drop_last)
    for xb, yb in out:
        np.testing.assert_array_equal(xb[:, 0], 2 * yb)   # rows stay paired
        assert len(yb) == bs or (not drop_last and yb is out[-1][1])
    seen = np.concatenate([yb for _, yb in out]) if out else np.array([], int)
    expected_count = (n // bs) * bs if drop_last else n
    assert len(seen) == expected_count and len(set(seen.tolist())) == expected_count
    if not shuffle:
        np.testing.assert_array_equal(seen, np.arange(expected_count))


def test_batches_seeding():
    import jax

    x = np.arange(100)
    order = lambda seed: np.concatenate(  # noqa: E731
        [b for (b,) in data.batches(x, batch_size=16, shuffle=True, seed=seed)])
    np.testing.assert_array_equal(order(0), order(0))
    assert not np.array_equal(order(0), order(1))
    assert sorted(order(1).tolist()) == list(range(100))
    key = jax.random.PRNGKey(42)
    np.testing.assert_array_equal(order(key), order(np.asarray(key)))
    np.testing.assert_array_equal(order(np.random.default_rng(5)),
                                  order(np.random.default_rng(5)))


@pytest.mark.parametrize("fn, match", [
    (lambda: data.batches(np.arange(4), batch_size=2, shuffle=True), "seed is required"),
    (lambda: data.batches(np.arange(4), np.arange(5), batch_size=2), "share their leading"),
    (lambda: data.batches(np.arange(4), batch_size=0), "batch_size must be a positive"),
    (lambda: data.batches(batch_size=2), "need at least one array"),
    (lambda: data.batches(np.arange(4), batch_size=2, shuffle=True, seed=-3), "seed must be"),
    (lambda: data.batches(np.arange(4), batch_size=2, shuffle=True, seed=1.5), "seed must be"),
    (lambda: data.train_val_split(np.arange(4), val_fraction=1.0), "val_fraction must be"),
    (lambda: data.train_val_split(np.arange(4), stratify=np.arange(3)), "stratify must have"),
    (lambda: data.train_val_split(np.arange(4), stratify=np.arange(4), shuffle=False),
     "stratify requires shuffle"),
])
def test_batching_bad_inputs(fn, match):
    with pytest.raises(ValueError, match=match):
        fn()


def test_train_val_split():
    x = np.arange(1000).reshape(500, 2)
    y = np.arange(500) % 10
    (xt, yt), (xv, yv) = data.train_val_split(x, y, val_fraction=0.2, seed=0)
    assert xt.shape == (400, 2) and xv.shape == (100, 2)
    ids_t, ids_v = xt[:, 0] // 2, xv[:, 0] // 2
    assert set(ids_t.tolist()).isdisjoint(ids_v.tolist())
    assert sorted(ids_t.tolist() + ids_v.tolist()) == list(range(500))
    np.testing.assert_array_equal(yt, ids_t % 10)          # pairs stay aligned
    (xt2, _), _ = data.train_val_split(x, y, val_fraction=0.2, seed=0)
    np.testing.assert_array_equal(xt, xt2)
    (xt3, _), _ = data.train_val_split(x, y, val_fraction=0.2, seed=1)
    assert not np.array_equal(xt, xt3)
    _, (xv4,) = data.train_val_split(x, val_fraction=0.2, shuffle=False)
    np.testing.assert_array_equal(xv4, x[400:])
    # stratified: exactly 20 % of each class
    labels = np.repeat(np.arange(4), [50, 100, 150, 200])
    (lt,), (lv,) = data.train_val_split(labels, val_fraction=0.2, seed=0, stratify=labels)
    assert np.bincount(lv).tolist() == [10, 20, 30, 40]
    assert np.bincount(lt).tolist() == [40, 80, 120, 160]
    assert not np.all(np.diff(lv) >= 0)  # classes are mixed, not sorted


# ---------------------------------------------------------------------- boundaries

def test_data_package_imports_only_numpy_stdlib_and_itself():
    import sys

    allowed = set(sys.stdlib_module_names) | {"numpy", "tqdm", "nnfunc", "__future__"}
    for path in DATA_PKG.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top in allowed, f"{path.name} imports {name}"
                if top == "nnfunc":
                    assert name.startswith("nnfunc.data"), f"{path.name} imports {name}"


def test_public_names_have_docstrings():
    for name in data.__all__:
        obj = getattr(data, name)
        if callable(obj) and not isinstance(obj, dict):
            assert obj.__doc__ and ">>>" in obj.__doc__ or isinstance(obj, type), name


def test_download_into_unwritable_directory(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"")
    with pytest.raises(data.DownloadError, match="cannot create"):
        data.download_file("x", ["http://127.0.0.1:1/"], blocker / "sub", sha256="0" * 64)


def test_download_accepts_one_mirror_as_a_string(server, tmp_path):
    """A str used to be iterated as one mirror per character."""
    base, served, _ = server
    name, payload, sha = _serve_blob(served)
    path = data.download_file(name, base + "/ok", tmp_path / "c", sha256=sha, progress=False)
    assert path.read_bytes() == payload


@pytest.mark.parametrize("kw, match", [
    ({"sha256": "abc"}, "sha256 must be 64 hexadecimal digits, got 'abc'"),
    ({"sha256": "g" * 64}, "sha256 must be 64 hexadecimal digits"),
    ({"md5": "0" * 64}, "md5 must be 32 hexadecimal digits"),
])
def test_download_rejects_malformed_digests_before_downloading(server, tmp_path, kw, match):
    base, served, hits = server
    name, _, _ = _serve_blob(served)
    before = len(hits) if hasattr(hits, "__len__") else None
    with pytest.raises(ValueError, match=match):
        data.download_file(name, [base + "/ok"], tmp_path / "c", progress=False, **kw)
    if before is not None:
        assert len(hits) == before
    assert not (tmp_path / "c").exists() or not os.listdir(tmp_path / "c")
