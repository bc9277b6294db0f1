"""Tests for nnfunc.data.augment: random translations, crops, flips, noise and their
composition, checked against independent numpy references (np.pad + slicing, np.roll,
np.flip) found by brute force over the allowed draws."""
import os
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from nnfunc import data
from nnfunc.data import compose, gaussian_noise, random_crop, random_flip, random_translate

KEY = jax.random.key(0)
RNG = np.random.default_rng(0)


def _images(n, h, w, c=None, dtype=np.float32, low=1):
    """Random images with values >= ``low`` (so no shifted copy equals another one and no
    pixel equals the fill 0)."""
    shape = (n, h, w) if c is None else (n, h, w, c)
    return RNG.integers(low, 200, size=shape).astype(dtype)


def _pad_hw(x, py, px, mode="constant", fill=0.0):
    """np.pad of one image (H, W) or (H, W, C) on its two spatial axes."""
    widths = ((py, py), (px, px)) + ((0, 0),) * (x.ndim - 2)
    kwargs = {"constant_values": fill} if mode == "constant" else {}
    return np.pad(x, widths, mode=mode, **kwargs)


def _windows(x, py, px, mode="constant", fill=0.0):
    """Every crop of one image the augmentation may return: {(oy, ox): window}."""
    h, w = x.shape[:2]
    xp = _pad_hw(x, py, px, mode, fill)
    return {(oy, ox): xp[oy:oy + h, ox:ox + w]
            for oy in range(2 * py + 1) for ox in range(2 * px + 1)}


def _match_offsets(x, y, py, px, mode="constant", fill=0.0, unique=True):
    """For each example, the offset (oy, ox) whose crop equals y[n]; asserts there is one
    (and, with ``unique``, only one: random pixel values make the windows distinct)."""
    found = []
    for xn, yn in zip(x, y):
        hits = [o for o, win in _windows(xn, py, px, mode, fill).items()
                if np.array_equal(win, yn)]
        assert len(hits) >= 1, "output is no crop of its input within the range"
        assert len(hits) == 1 or not unique, hits
        found.append(hits[0])
    return np.array(found)


def _roll_shift(x, dy, dx):
    """Reference of a translation by np.roll with the wrapped-around edges zeroed."""
    y = np.roll(x, (dy, dx), axis=(0, 1))
    if dy > 0:
        y[:dy] = 0
    elif dy < 0:
        y[dy:] = 0
    if dx > 0:
        y[:, :dx] = 0
    elif dx < 0:
        y[:, dx:] = 0
    return y


def _chi2_uniform(values, k):
    counts = np.bincount(values, minlength=k)
    assert counts.size == k
    return stats.chisquare(counts).pvalue


# ----------------------------------------------------------------------- translate

def test_translate_outputs_are_roll_shifts_within_range():
    x = _images(64, 9, 11)
    y = np.asarray(random_translate(2)(KEY, x))
    for xn, yn in zip(x, y):
        hits = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                if np.array_equal(_roll_shift(xn, dy, dx), yn)]
        assert len(hits) == 1
    # and with np.pad + slicing: offset o = max_shift - shift
    offsets = _match_offsets(x, y, 2, 2)
    assert offsets.min() >= 0 and offsets.max() <= 4


def test_translate_shifts_are_uniform_and_independent_per_axis():
    n, m = 4000, 3
    x = _images(n, 8, 8)
    y = np.asarray(jax.jit(random_translate(m))(jax.random.key(1), x))
    off = _match_offsets(x, y, m, m)
    k = 2 * m + 1
    assert _chi2_uniform(off[:, 0], k) > 1e-3
    assert _chi2_uniform(off[:, 1], k) > 1e-3
    # the joint distribution is uniform over the 49 pairs (independent axes)
    assert _chi2_uniform(off[:, 0] * k + off[:, 1], k * k) > 1e-3
    # every example is drawn on its own: not all the same shift
    assert len({tuple(o) for o in off}) == k * k


def test_translate_pair_and_zero_shift():
    x = _images(300, 6, 7)
    y = np.asarray(random_translate((0, 1))(KEY, x))
    off = _match_offsets(x, y, 0, 1)
    assert set(off[:, 0]) == {0} and set(off[:, 1]) == {0, 1, 2}
    np.testing.assert_array_equal(np.asarray(random_translate(0)(KEY, x)), x)


def test_translate_fill_value():
    x = _images(50, 5, 5, 2, low=10)
    y = np.asarray(random_translate(1, fill=-3.0)(KEY, x))
    off = _match_offsets(x, y, 1, 1, fill=-3.0)
    assert (off != 1).any()                   # some examples were shifted
    assert (y == -3.0).any()


def test_translate_shift_larger_than_image_is_all_fill():
    x = _images(200, 2, 2)
    y = np.asarray(random_translate(3)(KEY, x))
    off = _match_offsets(x, y, 3, 3, unique=False)
    gone = (np.abs(off - 3) >= 2).any(axis=1)
    assert gone.any() and (y[gone] == 0).all()


# ----------------------------------------------------------------------- crop

@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "symmetric"])
def test_crop_windows_match_numpy_pad(mode):
    x = _images(80, 6, 5, 3)
    p = 2
    y = np.asarray(random_crop(p, padding_mode=mode)(jax.random.key(3), x))
    off = _match_offsets(x, y, p, p, mode)
    assert len({tuple(o) for o in off}) > 10


def test_crop_reflect_padding_is_torch_reflect_not_edge():
    """One row [1, 2, 3] padded by 2: reflect gives 3 2 | 1 2 3 | 2 1, edge 1 1 | ... | 3 3."""
    x = np.array([[[1.0, 2.0, 3.0]]])
    seen = {tuple(np.asarray(random_crop((0, 2), padding_mode="reflect")(
        jax.random.key(s), x))[0, 0]) for s in range(60)}
    assert seen == {(3, 2, 1), (2, 1, 2), (1, 2, 3), (2, 3, 2)}
    seen = {tuple(np.asarray(random_crop((0, 2), padding_mode="edge")(
        jax.random.key(s), x))[0, 0]) for s in range(60)}
    assert seen == {(1, 1, 1), (1, 1, 2), (1, 2, 3), (2, 3, 3), (3, 3, 3)}


def test_crop_offsets_are_uniform():
    x = _images(3000, 7, 7)
    y = np.asarray(jax.jit(random_crop((1, 2), padding_mode="edge"))(jax.random.key(5), x))
    off = _match_offsets(x, y, 1, 2, "edge")
    assert _chi2_uniform(off[:, 0], 3) > 1e-3
    assert _chi2_uniform(off[:, 1], 5) > 1e-3


def test_crop_constant_equals_translate_with_the_same_key():
    x = _images(32, 8, 8, 1)
    for key in (jax.random.key(0), jax.random.key(9)):
        np.testing.assert_array_equal(np.asarray(random_crop(3, fill=2.0)(key, x)),
                                      np.asarray(random_translate(3, fill=2.0)(key, x)))


# ----------------------------------------------------------------------- flip

def test_flip_horizontal_about_half():
    x = _images(2000, 4, 5, 2)
    y = np.asarray(random_flip()(KEY, x))
    same = np.array([np.array_equal(a, b) for a, b in zip(x, y)])
    flipped = np.array([np.array_equal(np.flip(a, axis=1), b) for a, b in zip(x, y)])
    assert (same ^ flipped).all()                     # each one or the other, not both
    assert stats.binomtest(int(flipped.sum()), len(x), 0.5).pvalue > 1e-3


def test_flip_vertical_and_both():
    x = _images(2000, 4, 5)
    y = np.asarray(random_flip(horizontal=True, vertical=True)(jax.random.key(2), x))
    cases = {"none": lambda a: a, "h": lambda a: np.flip(a, 1), "v": lambda a: np.flip(a, 0),
             "hv": lambda a: np.flip(a, (0, 1))}
    which = []
    for a, b in zip(x, y):
        hits = [name for name, f in cases.items() if np.array_equal(f(a), b)]
        assert len(hits) == 1
        which.append(hits[0])
    counts = [which.count(c) for c in cases]
    assert stats.chisquare(counts).pvalue > 1e-3
    yv = np.asarray(random_flip(horizontal=False, vertical=True)(KEY, x))
    for a, b in zip(x, yv):
        assert np.array_equal(a, b) or np.array_equal(np.flip(a, 0), b)


# ----------------------------------------------------------------------- noise

def test_gaussian_noise_moments_and_dtype():
    x = np.full((200, 500), 3.0, np.float32)
    y = np.asarray(gaussian_noise(0.25)(KEY, x)) - 3.0
    assert y.dtype == np.float32
    assert abs(y.mean()) < 4 * 0.25 / np.sqrt(y.size)
    assert abs(y.std() - 0.25) < 0.01 * 0.25
    assert stats.kstest(y.ravel()[:5000] / 0.25, "norm").pvalue > 1e-3
    # independent per example: rows differ
    assert not np.allclose(y[0], y[1])
    np.testing.assert_array_equal(np.asarray(gaussian_noise(0.0)(KEY, x)), x)


def test_gaussian_noise_keeps_bfloat16():
    x = jnp.zeros((4, 3), jnp.bfloat16)
    assert gaussian_noise(1.0)(KEY, x).dtype == jnp.bfloat16


def test_gaussian_noise_rejects_integer_inputs():
    with pytest.raises(ValueError, match="gaussian_noise needs floating-point inputs, "
                                         "got dtype uint8"):
        gaussian_noise(0.1)(KEY, np.zeros((2, 4), np.uint8))


# ----------------------------------------------------------------------- compose

def test_compose_applies_in_order_with_split_keys():
    x = _images(16, 6, 6, 1)
    f, g = random_translate(1), random_flip()
    k1, k2 = jax.random.split(KEY)
    want = g(k2, f(k1, x))
    np.testing.assert_array_equal(np.asarray(compose(f, g)(KEY, x)), np.asarray(want))
    np.testing.assert_array_equal(np.asarray(compose(f)(KEY, x)),
                                  np.asarray(f(jax.random.split(KEY, 1)[0], x)))


def test_compose_with_a_user_function():
    def plus_one(key, x):
        return x + 1
    x = np.zeros((3, 4), np.float32)
    np.testing.assert_array_equal(np.asarray(compose(plus_one, plus_one)(KEY, x)), x + 2)


# ----------------------------------------------------------------------- layouts

ALL = [("translate", lambda: random_translate(2)), ("crop", lambda: random_crop(3)),
       ("crop edge", lambda: random_crop(1, padding_mode="edge")),
       ("flip", lambda: random_flip(vertical=True)),
       ("compose", lambda: compose(random_crop(2), random_flip()))]


@pytest.mark.parametrize("name, make", ALL, ids=[a[0] for a in ALL])
@pytest.mark.parametrize("dtype", [np.float32, np.uint8, np.int32])
def test_shape_and_dtype_kept_in_every_layout(name, make, dtype):
    aug = make()
    x3 = _images(10, 28, 28, dtype=dtype)
    y3 = aug(KEY, x3)
    assert y3.shape == x3.shape and y3.dtype == dtype
    # flattened 784 -> 28x28 (inferred): same numbers as on (N, 28, 28)
    yf = aug(KEY, x3.reshape(10, 784))
    assert yf.shape == (10, 784) and yf.dtype == dtype
    np.testing.assert_array_equal(np.asarray(yf).reshape(10, 28, 28), np.asarray(y3))
    # NHWC with one channel: same numbers again
    y4 = aug(KEY, x3[..., None])
    assert y4.shape == (10, 28, 28, 1) and y4.dtype == dtype
    np.testing.assert_array_equal(np.asarray(y4)[..., 0], np.asarray(y3))


@pytest.mark.parametrize("name, make", ALL, ids=[a[0] for a in ALL])
def test_flattened_colour_images_with_image_shape(name, make):
    x = _images(6, 8, 5, 3)
    aug = make()
    base = np.asarray(aug(KEY, x))
    f = {"translate": lambda: random_translate(2, image_shape=(8, 5, 3)),
         "crop": lambda: random_crop(3, image_shape=(8, 5, 3)),
         "crop edge": lambda: random_crop(1, padding_mode="edge", image_shape=[8, 5, 3]),
         "flip": lambda: random_flip(vertical=True, image_shape=(8, 5, 3)),
         "compose": lambda: compose(random_crop(2, image_shape=(8, 5, 3)),
                                    random_flip(image_shape=(8, 5, 3)))}[name]()
    y = np.asarray(f(KEY, x.reshape(6, -1)))
    assert y.shape == (6, 120)
    np.testing.assert_array_equal(y.reshape(6, 8, 5, 3), base)
    # image_shape (H, W) of one-channel flattened images, non-square
    g = random_crop(1, image_shape=(4, 6))
    x2 = _images(5, 4, 6)
    np.testing.assert_array_equal(np.asarray(g(KEY, x2.reshape(5, 24))).reshape(5, 4, 6),
                                  np.asarray(random_crop(1)(KEY, x2)))


def test_jit_vmap_and_determinism():
    aug = compose(random_crop(2, padding_mode="reflect"), random_flip(),
                  gaussian_noise(0.1))
    x = _images(12, 10, 10, 2)
    a = np.asarray(aug(KEY, x))
    np.testing.assert_array_equal(np.asarray(aug(KEY, x)), a)           # deterministic
    np.testing.assert_allclose(np.asarray(jax.jit(aug)(KEY, x)), a, rtol=1e-6, atol=1e-6)
    assert not np.array_equal(np.asarray(aug(jax.random.key(1), x)), a)
    # vmap over a leading axis of batches (e.g. one batch per device)
    xs = np.stack([x, x[::-1]])
    keys = jax.random.split(KEY, 2)
    ys = jax.jit(jax.vmap(aug))(keys, xs)
    assert ys.shape == xs.shape
    for i in range(2):
        np.testing.assert_allclose(np.asarray(ys[i]), np.asarray(aug(keys[i], xs[i])),
                                   rtol=1e-6, atol=1e-6)


def test_inside_scan_like_fit():
    aug = random_translate(1)
    x = jnp.asarray(_images(8, 5, 5))

    def step(carry, key):
        return carry + aug(key, x).sum(), None

    keys = jax.random.split(KEY, 5)
    total, _ = jax.jit(lambda k: jax.lax.scan(step, 0.0, k))(keys)
    want = sum(float(aug(k, x).sum()) for k in keys)
    assert float(total) == pytest.approx(want)


def test_legacy_keys_and_int_seeds_work():
    x = _images(4, 6, 6)
    aug = random_crop(2)
    np.testing.assert_array_equal(np.asarray(aug(3, x)),
                                  np.asarray(aug(jax.random.key(3), x)))
    assert aug(jax.random.PRNGKey(0), x).shape == x.shape


def test_integer_images_keep_exact_values():
    x = RNG.integers(0, 256, size=(40, 7, 7)).astype(np.uint8)
    y = np.asarray(random_crop(2, padding_mode="reflect")(KEY, x))
    assert y.dtype == np.uint8
    _match_offsets(x.astype(np.int64), y.astype(np.int64), 2, 2, "reflect")
    y = np.asarray(random_translate(1, fill=255)(KEY, x))
    assert y.dtype == np.uint8


# ----------------------------------------------------------------------- errors

BAD = [
    ("max_shift negative", lambda: random_translate(-1),
     "max_shift must be an int >= 0 or a pair (dy, dx) of ints >= 0, got -1"),
    ("max_shift pair negative", lambda: random_translate((1, -2)),
     "max_shift must be an int >= 0 or a pair (dy, dx) of ints >= 0, got (1, -2)"),
    ("max_shift float", lambda: random_translate(1.5), "max_shift must be an int >= 0"),
    ("max_shift triple", lambda: random_translate((1, 1, 1)), "got (1, 1, 1)"),
    ("max_shift bool", lambda: random_translate(True), "got True"),
    ("padding negative", lambda: random_crop(-4),
     "padding must be an int >= 0 or a pair (dy, dx) of ints >= 0, got -4"),
    ("padding string", lambda: random_crop("4"), "padding must be an int >= 0"),
    ("padding_mode", lambda: random_crop(4, padding_mode="wrap"),
     "padding_mode must be one of 'constant', 'edge', 'reflect', 'symmetric', got 'wrap'"),
    ("fill nan", lambda: random_crop(4, fill=float("nan")), "fill must be a finite number"),
    ("fill string", lambda: random_translate(fill="0"), "fill must be a finite number, "
                                                        "got '0'"),
    ("stddev negative", lambda: gaussian_noise(-0.1),
     "stddev must be a finite number >= 0, got -0.1"),
    ("stddev inf", lambda: gaussian_noise(float("inf")), "stddev must be a finite number"),
    ("image_shape rank", lambda: random_crop(image_shape=(784,)),
     "image_shape must be None, (height, width) or (height, width, channels) of positive "
     "ints, got (784,)"),
    ("image_shape zero", lambda: random_flip(image_shape=(28, 0)), "got (28, 0)"),
    ("no flip", lambda: random_flip(horizontal=False),
     "horizontal=False and vertical=False flip nothing"),
    ("compose empty", lambda: compose(), "compose needs at least one augmentation"),
    ("compose non-callable", lambda: compose(random_flip(), 3),
     "compose: argument 1 must be a function (key, x) -> x, got 3"),
    # checked when called (the shape of x is known then, also under jit)
    ("flat not square", lambda: random_crop(2)(KEY, np.zeros((4, 3072))),
     "random_crop: cannot tell the image shape of flattened inputs of shape (4, 3072) "
     "(3072 values per example is not a square number): pass image_shape"),
    ("flat mismatch", lambda: random_translate(image_shape=(28, 28, 3))(KEY, np.zeros((4, 784))),
     "random_translate: image_shape=(28, 28, 3) holds 2352 values per example, but the "
     "flattened inputs of shape (4, 784) have 784"),
    ("image mismatch", lambda: random_flip(image_shape=(28, 28))(KEY, np.zeros((4, 32, 32))),
     "random_flip: image_shape=(28, 28) does not match inputs of shape (4, 32, 32)"),
    ("rank 1", lambda: random_flip()(KEY, np.zeros(5)),
     "random_flip takes a batch of images (N, H, W), (N, H, W, C) or flattened "
     "(N, H*W[*C]), got x of shape (5,)"),
    ("rank 5 under jit", lambda: jax.jit(random_crop(1))(KEY, jnp.zeros((1, 2, 3, 4, 5))),
     "got x of shape (1, 2, 3, 4, 5)"),
    ("fill not in uint8", lambda: random_translate(fill=-1)(KEY, np.zeros((2, 4, 4), np.uint8)),
     "random_translate: fill=-1.0 is not a value of the inputs' dtype uint8"),
    ("fractional fill on ints", lambda: random_crop(fill=0.5)(KEY, np.zeros((2, 4, 4), np.int32)),
     "fill=0.5 is not a value of the inputs' dtype int32"),
]


@pytest.mark.parametrize("what, call, message", BAD, ids=[b[0] for b in BAD])
def test_bad_arguments_raise_value_error(what, call, message):
    with pytest.raises(ValueError) as info:
        call()
    assert message in str(info.value)


def test_flip_flags_must_be_bools():
    with pytest.raises(TypeError, match="vertical must be True or False, got 'no'"):
        random_flip(vertical="no")


# ----------------------------------------------------------------------- boundaries

def test_augment_module_needs_no_jax_until_called():
    """nnfunc.data (as its own package, jax made unimportable) builds augmentations."""
    pkg = pathlib.Path(data.__file__).parent
    code = f"""
import sys, types, importlib.util
sys.modules['jax'] = None                  # any import of jax now raises ImportError
root = types.ModuleType('nnfunc'); root.__path__ = [{str(pkg.parent)!r}]
sys.modules['nnfunc'] = root
import nnfunc.data as d
f = d.compose(d.random_crop(4), d.random_flip(), d.random_translate(1), d.gaussian_noise(0.1))
assert callable(f)
try:
    f(0, [[0.0]])
except ImportError:
    print('lazy')
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "JAX_PLATFORMS": "cpu"}, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "lazy"


def test_public_augmentations_have_runnable_docstrings():
    for name in ("random_translate", "random_crop", "random_flip", "gaussian_noise",
                 "compose"):
        fn = getattr(data, name)
        assert name in data.__all__ and ">>>" in fn.__doc__
        assert fn.__module__ == "nnfunc.data.augment"
