"""MNIST, Fashion-MNIST and Kuzushiji-MNIST: canonical files, checksums, cache, loading.

Each dataset is four gzip-compressed IDX files with the canonical names
``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``,
``t10k-images-idx3-ubyte.gz`` and ``t10k-labels-idx1-ubyte.gz``. They live in
``root`` (default ``$NNFUNC_DATA/<name>``, else ``~/.cache/nnfunc/<name>``), are verified
against the published SHA-256 digests and, when missing, downloaded from the public
mirrors. Mirrors can be overridden with ``mirrors=`` or a comma-separated environment
variable (``NNFUNC_MNIST_MIRRORS``, ``NNFUNC_FASHION_MNIST_MIRRORS``,
``NNFUNC_KMNIST_MIRRORS``).

A present file whose archive digest differs (a re-compressed copy, say) is still accepted
when the dataset publishes the MD5 of the decompressed IDX bytes and that matches; the
payload is hashed only when the archive digest fails, and a file that passed is not
hashed again in the same process while its size and modification time are unchanged.
Downloads are always checked against the archive digest.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import threading
import zlib
from pathlib import Path
from typing import Dict, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np

from nnfunc.data.download import ChecksumError, cache_dir, download_file, file_digest
from nnfunc.data.idx import IDXError, read_idx

__all__ = ["DatasetInfo", "DATASETS", "load_dataset", "mnist", "fashion_mnist", "kmnist"]

PathLike = Union[str, "os.PathLike[str]"]

_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def _sums(text: str) -> Dict[str, str]:
    """Parse ``sha256sum`` output ("<digest>  <file>" per line) into {file: digest}."""
    return {name: digest for digest, name in (line.split() for line in text.strip().splitlines())}


class DatasetInfo(NamedTuple):
    """Where an MNIST-format dataset comes from and how to check it.

    ``sha256`` maps each canonical ``.gz`` name to the SHA-256 of the official archive;
    ``payload_md5`` (optional) maps some or all of them to the MD5 of the decompressed IDX
    bytes, which lets a file with the official content in a different gzip wrapper pass
    verification. A file without a payload digest is checked by its archive digest only.
    """
    name: str
    mirrors: Tuple[str, ...]
    env_var: str
    sha256: Dict[str, str]
    num_train: int
    num_test: int
    class_names: Tuple[str, ...]
    payload_md5: Optional[Dict[str, str]] = None


# SHA-256 digests of the official archives, as listed by TensorFlow Datasets; for MNIST,
# also the MD5 of the decompressed IDX files, as widely published (torchvision, LeCun's
# page). Fashion-MNIST and KMNIST have no payload digests here: they could not be checked
# against local copies, so those datasets are verified by their archive digests only.
DATASETS: Dict[str, DatasetInfo] = {
    "mnist": DatasetInfo(
        name="mnist",
        mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/",
                 "https://storage.googleapis.com/cvdf-datasets/mnist/"),
        env_var="NNFUNC_MNIST_MIRRORS",
        sha256=_sums("""
        440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609  train-images-idx3-ubyte.gz
        3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c  train-labels-idx1-ubyte.gz
        8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6  t10k-images-idx3-ubyte.gz
        f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6  t10k-labels-idx1-ubyte.gz
        """),
        num_train=60000, num_test=10000,
        class_names=tuple(str(d) for d in range(10)),
        payload_md5=_sums("""
        6bbc9ace898e44ae57da46a324031adb  train-images-idx3-ubyte.gz
        a25bea736e30d166cdddb491f175f624  train-labels-idx1-ubyte.gz
        2646ac647ad5339dbf082846283269ea  t10k-images-idx3-ubyte.gz
        27ae3e4e09519cfbb04c329615203637  t10k-labels-idx1-ubyte.gz
        """),
    ),
    "fashion_mnist": DatasetInfo(
        name="fashion_mnist",
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                 "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/"
                 "data/fashion/"),
        env_var="NNFUNC_FASHION_MNIST_MIRRORS",
        sha256=_sums("""
        3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84  train-images-idx3-ubyte.gz
        a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845  train-labels-idx1-ubyte.gz
        346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073  t10k-images-idx3-ubyte.gz
        67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5  t10k-labels-idx1-ubyte.gz
        """),
        num_train=60000, num_test=10000,
        class_names=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                     "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    ),
    "kmnist": DatasetInfo(
        name="kmnist",
        mirrors=("http://codh.rois.ac.jp/kmnist/dataset/kmnist/",),
        env_var="NNFUNC_KMNIST_MIRRORS",
        sha256=_sums("""
        51467d22d8cc72929e2a028a0428f2086b092bb31cfb79c69cc0a90ce135fde4  train-images-idx3-ubyte.gz
        e38f9ebcd0f3ebcdec7fc8eabdcdaef93bb0df8ea12bee65224341c8183d8e17  train-labels-idx1-ubyte.gz
        edd7a857845ad6bb1d0ba43fe7e794d164fe2dce499a1694695a792adfac43c5  t10k-images-idx3-ubyte.gz
        20bb9a0ef54c7db3efc55a92eef5582c109615df22683c380526788f98e42a1c  t10k-labels-idx1-ubyte.gz
        """),
        num_train=60000, num_test=10000,
        class_names=("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
    ),
}


def _mirrors(info: DatasetInfo, mirrors: Optional[Sequence[str]]) -> Tuple[str, ...]:
    if mirrors is not None:
        if isinstance(mirrors, str):
            mirrors = [mirrors]
        return tuple(mirrors)
    env = os.environ.get(info.env_var, "").strip()
    if env:
        return tuple(m.strip() for m in env.split(",") if m.strip())
    return info.mirrors


# Files that passed verification, keyed by what would change if the file were replaced
# or rewritten, plus the digests they were checked against.
_VERIFIED: set = set()
_VERIFIED_LOCK = threading.Lock()


def _stat_key(path: Path) -> tuple:
    st = os.stat(path)
    return (os.path.abspath(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns,
            st.st_ctime_ns)


def _payload_md5(path: Path) -> str:
    """MD5 of a file's IDX bytes: gunzipped in a stream when the file starts with the gzip
    magic (as in :func:`read_idx`), the raw bytes otherwise."""
    h = hashlib.md5()
    with open(path, "rb") as raw:
        is_gzip = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        stream = gzip.GzipFile(fileobj=raw, mode="rb") if is_gzip else raw
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_present(path: Path, sha256: str, payload_md5: Optional[str]) -> str:
    """Accept ``path`` if its archive SHA-256 matches, else if its decompressed bytes match
    ``payload_md5`` (when given); otherwise raise ChecksumError naming the file.

    A file that passed is remembered by its state (path, inode, size, times) and the
    digests, and not hashed again until it changes. Internal API of this module (what
    :func:`load_dataset` runs on each file already present).

    Returns:
      How the file was accepted: ``'memo'`` (passed before, unchanged since),
      ``'archive'`` (its SHA-256) or ``'payload'`` (its decompressed MD5).
    """
    key = _stat_key(path) + (sha256.lower(), (payload_md5 or "").lower())
    if key in _VERIFIED:
        return "memo"
    got_sha = file_digest(path, "sha256")
    archive = f"sha256 mismatch: expected {sha256.lower()}, got {got_sha}"
    how = "archive"
    if got_sha != sha256.lower():
        how = "payload"
        if payload_md5 is None:
            raise ChecksumError(f"{path}: {archive}")
        archive = "archive " + archive
        try:
            got_md5 = _payload_md5(path)
        except (OSError, EOFError, zlib.error) as err:  # BadGzipFile is an OSError
            raise ChecksumError(
                f"{path}: {archive}; and the payload check failed: corrupt or truncated "
                f"gzip stream ({err}), expected decompressed md5 {payload_md5.lower()}"
            ) from None
        if got_md5 != payload_md5.lower():
            raise ChecksumError(f"{path}: {archive}; and payload (decompressed) md5 "
                                f"mismatch: expected {payload_md5.lower()}, got {got_md5}")
    # Remember the pass only if the file did not change while it was being read.
    if _stat_key(path) == key[:-2]:
        with _VERIFIED_LOCK:
            _VERIFIED.add(key)
    return how


def load_dataset(name: str, split: str = "train", root: Optional[PathLike] = None,
                 download: bool = True, *, normalize: bool = False, flatten: bool = False,
                 mirrors: Optional[Sequence[str]] = None, verify: bool = True,
                 progress: bool = True) -> Tuple[np.ndarray, np.ndarray]:
    """Load one split of an MNIST-format dataset from ``DATASETS`` (see :func:`mnist`).

    ``images = read_idx(<split>-images)`` ``(N, 28, 28) uint8``, ``labels`` ``(N,) int32``;
    with ``normalize=True``, ``images = images / 255`` as float32 in ``[0, 1]``.

    Args:
      name: a key of ``DATASETS``: ``"mnist"``, ``"fashion_mnist"`` or ``"kmnist"``.
      split: ``"train"`` or ``"test"``.
      root: directory holding the files (downloads go here); default ``cache_dir(name)``.
        A parent directory whose ``<name>/`` sub-directory holds the files also works.
      download: fetch missing files from the mirrors; if False, a missing file raises
        ``FileNotFoundError`` saying which files to place where.
      normalize: return float32 images scaled to ``[0, 1]`` instead of uint8.
      flatten: return images as ``(N, 784)``.
      mirrors: base URLs overriding the defaults and the dataset's environment variable.
      verify: check each file before reading it: its archive SHA-256, or, when that
        differs and the dataset lists one, the MD5 of its decompressed IDX bytes.
      progress: show a download progress bar.

    Returns:
      ``(images, labels)``.

    Raises:
      ValueError: unknown ``name`` or ``split``.
      FileNotFoundError: files missing and ``download=False``.
      ChecksumError: a present file matches neither the published archive digest nor
        (where listed) the payload digest.
      DownloadError: no mirror delivered a file.
      IDXError: a file is not a valid MNIST-format IDX file.

    Example:
      >>> from nnfunc.data import load_dataset
      >>> try:
      ...     load_dataset("cifar10")
      ... except ValueError as e:
      ...     print(e)
      name must be one of ['fashion_mnist', 'kmnist', 'mnist'], got 'cifar10'
    """
    if name not in DATASETS:
        raise ValueError(f"name must be one of {sorted(DATASETS)}, got {name!r}")
    if split not in _FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    info = DATASETS[name]
    files = _FILES[split]
    if root is None:
        root = cache_dir(name)
    else:
        root = Path(root)
        # Also accept a cache-style parent holding one sub-directory per dataset.
        if (not all((root / f).is_file() for f in files)
                and all((root / name / f).is_file() for f in files)):
            root = root / name
    missing = [f for f in files if not (root / f).is_file()]
    mirrors = _mirrors(info, mirrors)
    if missing and not download:
        urls = ", ".join(mirrors)
        raise FileNotFoundError(
            f"{name} {split} split: missing {', '.join(missing)} in {root}. "
            f"Place the official files there (from {urls}), set NNFUNC_DATA, "
            f"or pass download=True.")
    for f in missing:
        download_file(f, mirrors, root, sha256=info.sha256[f], progress=progress)
    if verify:
        for f in files:
            if f in missing:
                continue  # download_file has just verified it
            try:
                verify_present(root / f, info.sha256[f], (info.payload_md5 or {}).get(f))
            except ChecksumError as err:
                raise ChecksumError(f"{err}. The cached file is not the official {name} "
                                    f"file; delete it to download it again.") from None
    images, labels = read_idx(root / files[0]), read_idx(root / files[1])
    expected_n = info.num_train if split == "train" else info.num_test
    if images.dtype != np.uint8 or images.shape[1:] != (28, 28):
        raise IDXError(f"{root / files[0]}: expected uint8 images of shape (N, 28, 28), "
                       f"got {images.dtype} {images.shape}")
    if labels.dtype != np.uint8 or labels.shape != (images.shape[0],):
        raise IDXError(f"{root / files[1]}: expected {images.shape[0]} uint8 labels, "
                       f"got {labels.dtype} {labels.shape}")
    if verify and images.shape[0] != expected_n:
        raise IDXError(f"{root / files[0]}: expected {expected_n} images, got {images.shape[0]}")
    if labels.size and labels.max() >= len(info.class_names):
        raise IDXError(f"{root / files[1]}: label {labels.max()} out of range "
                       f"0..{len(info.class_names) - 1}")
    if normalize:
        images = images.astype(np.float32) / np.float32(255.0)
    if flatten:
        images = images.reshape(images.shape[0], -1)
    return images, labels.astype(np.int32)


def mnist(split: str = "train", root: Optional[PathLike] = None, download: bool = True, *,
          normalize: bool = False, flatten: bool = False,
          mirrors: Optional[Sequence[str]] = None, verify: bool = True,
          progress: bool = True) -> Tuple[np.ndarray, np.ndarray]:
    """The MNIST handwritten digits (60,000 train / 10,000 test images, 28x28 uint8).

    ``images`` is ``(N, 28, 28) uint8`` (or ``/ 255`` as float32 with ``normalize=True``);
    ``labels`` is ``(N,) int32`` in ``0..9``. Files are cached in ``root`` (default
    ``$NNFUNC_DATA/mnist`` or ``~/.cache/nnfunc/mnist``) and verified by SHA-256;
    mirrors can be overridden with ``mirrors=`` or ``NNFUNC_MNIST_MIRRORS``.

    Note:
      A present file whose archive SHA-256 differs from the official one, such as a
      re-compressed copy, is accepted when its decompressed IDX bytes have the published
      MD5 (``DATASETS["mnist"].payload_md5``); any other content raises
      :class:`ChecksumError` naming the file and both digests. The payload is hashed only
      when the archive digest fails, and a passed file is not re-hashed in the same process
      while its size and modification time are unchanged. Downloads are checked against
      the archive digest.

    Args:
      split: ``"train"`` or ``"test"``.
      root: directory holding the four canonical ``.gz`` files (or its parent, when the
        files are in its ``<name>/`` sub-directory).
      download: fetch missing files; if False, a clear error says what to place where.
      normalize: float32 images in ``[0, 1]`` instead of uint8.
      flatten: images as ``(N, 784)``.
      mirrors: base URLs to download from, overriding the defaults.
      verify: check each file's archive SHA-256, or else its decompressed MD5, before
        reading.
      progress: show a download progress bar.

    Returns:
      ``(images, labels)``.

    Example:
      >>> import tempfile
      >>> from nnfunc.data import mnist
      >>> try:
      ...     mnist("test", root=tempfile.mkdtemp(), download=False)
      ... except FileNotFoundError as e:
      ...     print("missing t10k-images-idx3-ubyte.gz" in str(e))
      True
    """
    return load_dataset("mnist", split, root, download, normalize=normalize, flatten=flatten,
                        mirrors=mirrors, verify=verify, progress=progress)


def fashion_mnist(split: str = "train", root: Optional[PathLike] = None,
                  download: bool = True, *, normalize: bool = False, flatten: bool = False,
                  mirrors: Optional[Sequence[str]] = None, verify: bool = True,
                  progress: bool = True) -> Tuple[np.ndarray, np.ndarray]:
    """Zalando's Fashion-MNIST (ten clothing classes, MNIST layout and sizes).

    Same conventions as :func:`mnist`: ``(N, 28, 28) uint8`` images (float32 ``/ 255`` with
    ``normalize=True``) and ``(N,) int32`` labels; cache ``$NNFUNC_DATA/fashion_mnist``;
    mirror override ``NNFUNC_FASHION_MNIST_MIRRORS``.

    Args:
      split: ``"train"`` or ``"test"``.
      root: directory holding the four canonical ``.gz`` files (or its parent, when the
        files are in its ``<name>/`` sub-directory).
      download: fetch missing files; if False, a clear error says what to place where.
      normalize: float32 images in ``[0, 1]`` instead of uint8.
      flatten: images as ``(N, 784)``.
      mirrors: base URLs to download from, overriding the defaults.
      verify: check SHA-256 digests before reading.
      progress: show a download progress bar.

    Returns:
      ``(images, labels)``.

    Example:
      >>> from nnfunc.data import DATASETS
      >>> DATASETS["fashion_mnist"].class_names[9]
      'Ankle boot'
    """
    return load_dataset("fashion_mnist", split, root, download, normalize=normalize,
                        flatten=flatten, mirrors=mirrors, verify=verify, progress=progress)


def kmnist(split: str = "train", root: Optional[PathLike] = None, download: bool = True, *,
           normalize: bool = False, flatten: bool = False,
           mirrors: Optional[Sequence[str]] = None, verify: bool = True,
           progress: bool = True) -> Tuple[np.ndarray, np.ndarray]:
    """Kuzushiji-MNIST (ten cursive Japanese characters, MNIST layout and sizes).

    Same conventions as :func:`mnist`: ``(N, 28, 28) uint8`` images (float32 ``/ 255`` with
    ``normalize=True``) and ``(N,) int32`` labels; cache ``$NNFUNC_DATA/kmnist``;
    mirror override ``NNFUNC_KMNIST_MIRRORS``.

    Args:
      split: ``"train"`` or ``"test"``.
      root: directory holding the four canonical ``.gz`` files (or its parent, when the
        files are in its ``<name>/`` sub-directory).
      download: fetch missing files; if False, a clear error says what to place where.
      normalize: float32 images in ``[0, 1]`` instead of uint8.
      flatten: images as ``(N, 784)``.
      mirrors: base URLs to download from, overriding the defaults.
      verify: check SHA-256 digests before reading.
      progress: show a download progress bar.

    Returns:
      ``(images, labels)``.

    Example:
      >>> from nnfunc.data import DATASETS
      >>> len(DATASETS["kmnist"].class_names)
      10
    """
    return load_dataset("kmnist", split, root, download, normalize=normalize,
                        flatten=flatten, mirrors=mirrors, verify=verify, progress=progress)
