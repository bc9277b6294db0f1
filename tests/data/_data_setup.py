"""Shared helpers of the tests of nnfunc.data (``from _data_setup import ...``): a local
HTTP server fixture that serves files (whole, corrupted or cut short), and the MNIST test
files of the shared data folder."""
import gzip
import hashlib
import http.server
import pathlib
import shutil
import socket
import threading

import numpy as np
import pytest

from conftest import MNIST_DIR

MNIST_TEST_FILES = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
MNIST_TRAIN_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")
needs_mnist = pytest.mark.skipif(
    not all((MNIST_DIR / f).is_file() for f in MNIST_TEST_FILES),
    reason=f"MNIST test files not found in {MNIST_DIR}")
needs_mnist_train = pytest.mark.skipif(
    not all((MNIST_DIR / f).is_file() for f in MNIST_TRAIN_FILES),
    reason=f"MNIST training files not found in {MNIST_DIR}")


class Handler(http.server.BaseHTTPRequestHandler):
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
    handler = type("H", (Handler,), {"root": str(served), "hits": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", served, handler.hits
    finally:
        httpd.shutdown()
        httpd.server_close()


def serve_blob(served, name="blob.bin", size=200_000):
    payload = np.random.default_rng(1).integers(0, 256, size, dtype=np.uint8).tobytes()
    (served / name).write_bytes(payload)
    return name, payload, hashlib.sha256(payload).hexdigest()


def mnist_test_copy(tmp_path, labels_raw):
    """tmp_path holding the official t10k images and a labels file with the given bytes."""
    shutil.copy(MNIST_DIR / MNIST_TEST_FILES[0], tmp_path / MNIST_TEST_FILES[0])
    labels = tmp_path / MNIST_TEST_FILES[1]
    labels.write_bytes(labels_raw)
    return labels


def official_test_labels():
    return gzip.decompress((MNIST_DIR / MNIST_TEST_FILES[1]).read_bytes())


def closed_port():
    """A local port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
