"""Tests of nnfunc.data.transforms: standardize, min-max, linear/log scaling, clip,
one-hot and bad inputs."""
import math

import numpy as np
import pytest

from nnfunc import data


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
