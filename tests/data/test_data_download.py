"""Tests of nnfunc.data.download: digests, the cache directory, downloads from local
mirrors (success, mismatch, interruption, fallback, offline) and bad arguments."""
import hashlib
import os
import pathlib

import pytest

from nnfunc import data
from _data_setup import closed_port, serve_blob, server  # noqa: F401 (server: a fixture)


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


@pytest.mark.parametrize("progress", [False, True])
def test_download_success(server, tmp_path, progress):
    base, served, _ = server
    name, payload, sha = serve_blob(served)
    dest = tmp_path / "cache" / "sub"
    path = data.download_file(name, [base + "/ok/"], dest, sha256=sha, progress=progress)
    assert path == dest / name and path.read_bytes() == payload
    assert os.listdir(dest) == [name]


def test_download_with_md5_only(server, tmp_path):
    base, served, _ = server
    name, payload, _ = serve_blob(served)
    path = data.download_file(name, [base + "/ok"], tmp_path / "c",
                              md5=hashlib.md5(payload).hexdigest(), progress=False)
    assert path.read_bytes() == payload


def test_download_checksum_mismatch_leaves_nothing(server, tmp_path):
    base, served, _ = server
    name, _, sha = serve_blob(served)
    dest = tmp_path / "cache"
    with pytest.raises(data.ChecksumError, match="sha256 mismatch") as info:
        data.download_file(name, [base + "/bad/"], dest, sha256=sha, progress=False)
    assert str(dest / name) in str(info.value)
    assert os.listdir(dest) == []


def test_download_interrupted_transfer_leaves_nothing(server, tmp_path):
    base, served, _ = server
    name, _, sha = serve_blob(served)
    dest = tmp_path / "cache"
    with pytest.raises(data.DownloadError, match="could not download blob.bin") as info:
        data.download_file(name, [base + "/short/"], dest, sha256=sha, progress=False)
    assert "/short/blob.bin" in str(info.value) and "incomplete transfer" in str(info.value)
    assert os.listdir(dest) == []


def test_download_falls_back_to_the_next_mirror(server, tmp_path):
    base, served, hits = server
    name, payload, sha = serve_blob(served)
    mirrors = [base + "/missing/", base + "/short/", base + "/bad/", base + "/ok/"]
    path = data.download_file(name, mirrors, tmp_path / "c", sha256=sha, progress=False)
    assert path.read_bytes() == payload
    assert hits == [f"/{m}/{name}" for m in ("missing", "short", "bad", "ok")]
    assert os.listdir(tmp_path / "c") == [name]


def test_download_offline_says_where_to_put_the_file(tmp_path):
    dest = tmp_path / "cache"
    with pytest.raises(data.DownloadError) as info:
        data.download_file("x.gz", [f"http://127.0.0.1:{closed_port()}/"], dest,
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


def test_download_into_unwritable_directory(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"")
    with pytest.raises(data.DownloadError, match="cannot create"):
        data.download_file("x", ["http://127.0.0.1:1/"], blocker / "sub", sha256="0" * 64)


def test_download_accepts_one_mirror_as_a_string(server, tmp_path):
    """A str used to be iterated as one mirror per character."""
    base, served, _ = server
    name, payload, sha = serve_blob(served)
    path = data.download_file(name, base + "/ok", tmp_path / "c", sha256=sha, progress=False)
    assert path.read_bytes() == payload


@pytest.mark.parametrize("kw, match", [
    ({"sha256": "abc"}, "sha256 must be 64 hexadecimal digits, got 'abc'"),
    ({"sha256": "g" * 64}, "sha256 must be 64 hexadecimal digits"),
    ({"md5": "0" * 64}, "md5 must be 32 hexadecimal digits"),
])
def test_download_rejects_malformed_digests_before_downloading(server, tmp_path, kw, match):
    base, served, hits = server
    name, _, _ = serve_blob(served)
    before = len(hits) if hasattr(hits, "__len__") else None
    with pytest.raises(ValueError, match=match):
        data.download_file(name, [base + "/ok"], tmp_path / "c", progress=False, **kw)
    if before is not None:
        assert len(hits) == before
    assert not (tmp_path / "c").exists() or not os.listdir(tmp_path / "c")
