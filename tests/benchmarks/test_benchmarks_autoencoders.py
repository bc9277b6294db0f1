"""benchmarks/autoencoders.py, reduced for CI: 6,000 training and 2,000 test images of the
real MNIST, batch 32, fewer epochs. The thresholds are the full benchmark's targets
loosened to what this budget reaches (measured: linear 1.023 x PCA, deep 0.874 x PCA,
denoising 0.506, sparse mean activation 0.061 with every unit active, codes 0.846 vs
PCA 0.832); the full run's numbers are in benchmarks/results/autoencoders/autoencoders-cpu.md."""
import pathlib
import sys

import numpy as np
import pytest

from conftest import MNIST_DIR

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

pytestmark = pytest.mark.skipif(
    not (MNIST_DIR / "train-images-idx3-ubyte.gz").exists(),
    reason=f"the MNIST training set is not in {MNIST_DIR} (set NNFUNC_SHARED)")


@pytest.fixture(scope="module")
def data():
    import autoencoders as A
    x_train, y_train, x_test, y_test = A.load_mnist(6000)
    return A, x_train, y_train, x_test[:2000], y_test[:2000]


@pytest.fixture(scope="module")
def pca32(data):
    A, x_train, _, x_test, _ = data
    mean, comps = A.pca(x_train, 32)
    return mean, comps, A.pca_mse(x_test, mean, comps)


def test_pca_is_the_eckart_young_optimum(data, pca32):
    A, x_train, _, x_test, _ = data
    mean, comps, mse = pca32
    # rank-32 error = the energy outside the top 32 directions of the centred training set
    s = np.linalg.svd(np.asarray(x_train - mean, np.float64), compute_uv=False)
    train_mse = A.pca_mse(x_train, mean, comps)
    assert train_mse == pytest.approx(np.sum(s[32:] ** 2) / x_train.size, rel=1e-6)
    assert 0.014 < mse < 0.02                     # 0.0168 on the full sets


def test_linear_autoencoder_reaches_pca(data, pca32):
    A, x_train, _, x_test, _ = data
    mse, _ = A.linear_autoencoder(x_train, x_test, epochs=10, batch_size=32)
    assert pca32[2] <= mse * 1.0001 and mse <= 1.05 * pca32[2]


def test_deep_autoencoder_beats_pca_and_its_codes_are_features(data, pca32):
    A, x_train, y_train, x_test, y_test = data
    mse, model, r = A.deep_autoencoder(x_train, x_test, epochs=20, batch_size=32)
    assert mse <= 0.95 * pca32[2]
    acc = A.codes_accuracy(A.encode(model, r.state, x_train), y_train,
                           A.encode(model, r.state, x_test), y_test, epochs=10)
    assert acc >= 0.8


def test_denoising_autoencoder_removes_most_of_the_masking(data):
    A, x_train, _, x_test, _ = data
    rec, masked, _, _ = A.denoising_autoencoder(x_train, x_test, epochs=8, batch_size=32)
    assert rec <= 0.6 * masked


def test_sparse_autoencoder_is_sparse_without_dead_units(data):
    A, x_train, _, x_test, _ = data
    mean_act, active, _ = A.sparse_autoencoder(x_train, x_test, epochs=8, batch_size=32)
    assert 0.04 <= mean_act <= 0.075 and active >= 0.95


def test_conv_autoencoder_learns_images(data, pca32):
    """nf.models.conv_autoencoder on 28x28x1 images (measured: 0.973 x PCA-32 here)."""
    import nnfunc as nf
    A, x_train, _, x_test, _ = data
    model = nf.models.conv_autoencoder((28, 28, 1), channels=(16, 32), code=32)
    images = x_train.reshape(-1, 28, 28, 1)
    r = A.train(model, images, epochs=5, batch_size=32, learning_rate=1e-3)
    rec = A.reconstruct(model, r.state, x_test.reshape(-1, 28, 28, 1))
    assert float(np.mean((rec - x_test.reshape(-1, 28, 28, 1)) ** 2)) <= 1.1 * pca32[2]
