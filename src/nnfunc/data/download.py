"""Cache directory, checksums and verified downloads.

A download streams into a hidden temporary file next to its destination, checks the
byte count announced by the server and the SHA-256 (and/or MD5) digest, and only then
renames the file into place; on any failure the temporary file is removed, so the cache
never holds a partial or unverified file. Mirrors are tried in order.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Optional, Sequence, Union

__all__ = ["ChecksumError", "DownloadError", "cache_dir", "file_digest", "verify_file",
           "download_file"]

PathLike = Union[str, "os.PathLike[str]"]
_CHUNK = 1 << 16


class ChecksumError(ValueError):
    """A file's digest differs from the published one."""


class DownloadError(OSError):
    """No mirror delivered a complete, verified copy of a file."""


def cache_dir(name: Optional[str] = None) -> Path:
    """The nnfunc data cache: ``$NNFUNC_DATA`` if set, else ``~/.cache/nnfunc``.

    ``path = $NNFUNC_DATA / name`` (or ``~/.cache/nnfunc / name``); nothing is created.

    Args:
      name: an optional sub-directory (e.g. a dataset name).

    Returns:
      The directory as a ``pathlib.Path``.

    Example:
      >>> from nnfunc.data import cache_dir
      >>> cache_dir("mnist").name, cache_dir("mnist").parent == cache_dir()
      ('mnist', True)
    """
    env = os.environ.get("NNFUNC_DATA")
    root = Path(env).expanduser() if env else Path.home() / ".cache" / "nnfunc"
    return root / name if name else root


def file_digest(path: PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file's bytes, read in chunks.

    ``digest = H(bytes(path))`` with ``H`` any ``hashlib`` algorithm.

    Args:
      path: the file.
      algorithm: a ``hashlib`` name such as ``"sha256"`` or ``"md5"``.

    Returns:
      The lowercase hex digest.

    Example:
      >>> import tempfile, os
      >>> from nnfunc.data import file_digest
      >>> p = os.path.join(tempfile.mkdtemp(), "f")
      >>> _ = open(p, "wb").write(b"abc")
      >>> file_digest(p)[:16]
      'ba7816bf8f01cfea'
    """
    return _file_digests(path, (algorithm,))[algorithm]


def _file_digests(path: PathLike, algorithms: Sequence[str]) -> dict:
    """``{algorithm: hex digest}`` of a file, read once for all the algorithms."""
    hashes = {a: hashlib.new(a) for a in algorithms}
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            for h in hashes.values():
                h.update(chunk)
    return {a: h.hexdigest() for a, h in hashes.items()}


def _check_digest_format(sha256: Optional[str], md5: Optional[str]) -> None:
    """Malformed expected digests fail before any download, not after it."""
    for algo, want, length in (("sha256", sha256, 64), ("md5", md5, 32)):
        if want is None:
            continue
        if not (isinstance(want, str) and len(want) == length
                and all(c in "0123456789abcdefABCDEF" for c in want)):
            raise ValueError(f"{algo} must be {length} hexadecimal digits, got {want!r}")


def _check(name: str, digests: dict, sha256: Optional[str], md5: Optional[str]) -> None:
    for algo, want in (("sha256", sha256), ("md5", md5)):
        if want is not None and digests[algo] != want.lower():
            raise ChecksumError(f"{name}: {algo} mismatch: expected {want.lower()}, "
                                f"got {digests[algo]}")


def verify_file(path: PathLike, *, sha256: Optional[str] = None,
                md5: Optional[str] = None) -> None:
    """Check a file against published digests; passes silently when they match.

    ``ok = (sha256(file) == sha256) and (md5(file) == md5)``, skipping a digest given as None.

    Args:
      path: the file.
      sha256: expected hex SHA-256, or None.
      md5: expected hex MD5, or None.

    Returns:
      None.

    Raises:
      ChecksumError: naming the file and both digests, when one differs.
      ValueError: when neither digest is given.

    Example:
      >>> import tempfile, os
      >>> from nnfunc.data import verify_file, ChecksumError
      >>> p = os.path.join(tempfile.mkdtemp(), "f")
      >>> _ = open(p, "wb").write(b"abc")
      >>> verify_file(p, md5="900150983cd24fb0d6963f7d28e17f72")
      >>> try:
      ...     verify_file(p, md5="0" * 32)
      ... except ChecksumError:
      ...     print("mismatch")
      mismatch
    """
    if sha256 is None and md5 is None:
        raise ValueError("verify_file needs sha256 or md5, got neither")
    digests = _file_digests(path, [a for a, w in (("sha256", sha256), ("md5", md5))
                                   if w is not None])
    _check(str(path), digests, sha256, md5)


def _fetch(url: str, tmp_path: str, *, progress: bool, timeout: float, desc: str) -> dict:
    """Stream url into tmp_path; return the sha256/md5 digests of what was written."""
    hashes = {"sha256": hashlib.sha256(), "md5": hashlib.md5()}
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        length = resp.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        bar = None
        if progress:
            try:
                from tqdm.auto import tqdm  # optional: only the progress bar needs it
                bar = tqdm(total=total, unit="B", unit_scale=True, desc=desc, leave=False)
            except ImportError:
                bar = None
        got = 0
        try:
            with open(tmp_path, "wb") as out:
                while True:
                    chunk = resp.read(_CHUNK)
                    if not chunk:
                        break
                    out.write(chunk)
                    for h in hashes.values():
                        h.update(chunk)
                    got += len(chunk)
                    if bar is not None:
                        bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()
    # http.client may end a short body silently; a short transfer must not pass as done.
    if total is not None and got != total:
        raise DownloadError(f"incomplete transfer from {url}: got {got} of {total} bytes")
    return {a: h.hexdigest() for a, h in hashes.items()}


def download_file(filename: str, mirrors: Sequence[str], directory: PathLike, *,
                  sha256: Optional[str] = None, md5: Optional[str] = None,
                  progress: bool = True, timeout: float = 60.0) -> Path:
    """Download ``filename`` from the first mirror that delivers a verified copy.

    For each mirror ``m``: fetch ``m/filename`` into a temporary file in ``directory``,
    check the byte count and digests, then rename it to ``directory/filename``.

    Args:
      filename: the file's name on the mirrors and in ``directory``.
      mirrors: base URLs, tried in order (a trailing slash is optional); one URL given
        as a string is a one-element list.
      directory: where the file goes; created if missing.
      sha256: expected hex SHA-256 of the file, or None.
      md5: expected hex MD5, or None (at least one digest is required).
      progress: show a tqdm progress bar (when tqdm is installed).
      timeout: socket timeout in seconds per request.

    Returns:
      The path of the verified file.

    Raises:
      ChecksumError: every mirror served bytes with the wrong digest.
      DownloadError: no mirror delivered the file (network error, HTTP error, short
        transfer); the message lists each attempt and says where to place the file by hand.
      ValueError: no mirrors or no digest given, or a digest that is not hexadecimal of
        the right length (64 digits for sha256, 32 for md5), before any download.

    Example:
      >>> from nnfunc.data import download_file
      >>> try:
      ...     download_file("x.gz", [], "/tmp", sha256="0" * 64)
      ... except ValueError as e:
      ...     print(e)
      mirrors must list at least one base URL, got []
    """
    if isinstance(mirrors, (str, os.PathLike)):
        mirrors = [mirrors]                 # one base URL, not a sequence of characters
    mirrors = list(mirrors)
    _check_digest_format(sha256, md5)
    if not mirrors:
        raise ValueError(f"mirrors must list at least one base URL, got {mirrors}")
    if sha256 is None and md5 is None:
        raise ValueError("download_file needs sha256 or md5 to verify the file, got neither")
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DownloadError(f"cannot create {directory} for {filename} ({err}); choose a "
                            f"writable directory or place the file there by hand") from err
    dest = directory / filename
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + filename
        try:
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{filename}.", suffix=".part")
        except OSError as err:
            raise DownloadError(f"cannot write {filename} into {directory} ({err}); choose a "
                                f"writable directory or place the file there by hand") from err
        os.close(fd)
        try:
            digests = _fetch(url, tmp, progress=progress, timeout=timeout, desc=filename)
            _check(url, digests, sha256, md5)
            os.replace(tmp, dest)
            return dest
        except ChecksumError as err:
            failures.append((url, err))
        except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as err:
            # ValueError: malformed URL; HTTPException: e.g. IncompleteRead, bad status line.
            failures.append((url, err))
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    lines = "\n".join(f"  {url}: {err}" for url, err in failures)
    hint = (f"Download {filename} yourself and place it at {dest} "
            f"(expected sha256 {sha256 or '-'}, md5 {md5 or '-'}).")
    if all(isinstance(err, ChecksumError) for _, err in failures):
        raise ChecksumError(f"every mirror served a corrupt {filename}:\n{lines}\n{hint}")
    raise DownloadError(f"could not download {filename}:\n{lines}\n{hint}")
