"""Tests of nnfunc.data.datasets: the registry, MNIST loaded, downloaded from a local
mirror, verified (archive and payload digests, the memo) and its errors."""
import gzip
import hashlib
import os
import shutil

import numpy as np
import pytest

from nnfunc import data
from conftest import MNIST_DIR
from _data_setup import (MNIST_TEST_FILES, closed_port, mnist_test_copy, needs_mnist,  # noqa: F401
                         needs_mnist_train, official_test_labels, server)


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
        data.kmnist("test", root=tmp_path, mirrors=[f"http://127.0.0.1:{closed_port()}/"],
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


@needs_mnist
@pytest.mark.parametrize("wrap", ["recompressed", "uncompressed"])
def test_mnist_accepts_the_official_payload_in_another_wrapper(tmp_path, wrap):
    raw = official_test_labels()
    blob = gzip.compress(raw, compresslevel=1, mtime=12345) if wrap == "recompressed" else raw
    labels = mnist_test_copy(tmp_path, blob)
    assert data.file_digest(labels) != data.DATASETS["mnist"].sha256[MNIST_TEST_FILES[1]]
    _, y = data.mnist("test", root=tmp_path, download=False)
    _, y_ref = data.mnist("test", root=MNIST_DIR, download=False)
    np.testing.assert_array_equal(y, y_ref)


@needs_mnist
def test_mnist_rejects_a_modified_payload_naming_the_file(tmp_path):
    raw = bytearray(official_test_labels())
    raw[5000] = (raw[5000] + 1) % 10  # still a valid label, so only the digest can tell
    labels = mnist_test_copy(tmp_path, gzip.compress(bytes(raw), mtime=0))
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
    blob = gzip.compress(official_test_labels(), mtime=0)
    if damage == "truncated":
        blob = blob[: len(blob) // 2]
    elif damage == "garbled":
        blob = blob[:12] + b"\xff" * 40 + blob[52:]
    else:  # the payload inflates in full, but the CRC-32 trailer is wrong
        blob = blob[:-8] + bytes([blob[-8] ^ 0xFF]) + blob[-7:]
    labels = mnist_test_copy(tmp_path, blob)
    with pytest.raises(data.ChecksumError, match="gzip stream") as info:
        data.mnist("test", root=tmp_path, download=False)
    assert str(labels) in str(info.value) and "archive sha256 mismatch" in str(info.value)


@needs_mnist
def test_mnist_payload_check_is_memoised_per_file_state(tmp_path):
    """verify_present (what load_dataset runs on each present file) says how it accepted
    a file: by the archive digest, the payload digest, or the memo of an unchanged file."""
    from nnfunc.data import datasets

    info = data.DATASETS["mnist"]
    check = lambda p: datasets.verify_present(             # noqa: E731
        p, info.sha256[p.name], info.payload_md5.get(p.name))
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    labels = mnist_test_copy(fresh, gzip.compress(official_test_labels(), mtime=7))
    images = fresh / MNIST_TEST_FILES[0]
    # only the labels fail the archive check and are hashed as a payload
    assert [check(images), check(labels)] == ["archive", "payload"]
    assert [check(images), check(labels)] == ["memo", "memo"]  # unchanged: not hashed again
    labels = mnist_test_copy(tmp_path, gzip.compress(official_test_labels(), mtime=7))
    data.mnist("test", root=tmp_path, download=False)
    data.mnist("test", root=tmp_path, download=False)
    assert check(labels) == "memo"  # mnist remembered what it verified
    st = labels.stat()
    os.utime(labels, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    data.mnist("test", root=tmp_path, download=False)
    assert check(labels) == "memo"  # touched: mnist checked it again, and remembered it
    os.utime(labels, ns=(st.st_atime_ns, st.st_mtime_ns + 2 * 10**9))
    assert check(labels) == "payload"  # touched: hashed again
    # rewritten with other content: rejected, not served from the memo
    raw = bytearray(official_test_labels())
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
