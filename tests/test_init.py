"""nnfunc.init: distributions (mean/std/bounds), fans, determinism, dtypes, jit/vmap, bad input."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nnfunc as nf
from nnfunc import init

KEY = jax.random.key(0)

# (initializer, shape, expected std, uniform bound or None); ~160k-200k draws each, so the
# sampling error of the std (~0.2 %) and of the mean (~0.25 % of std) is far below 3 %.
DENSE = (400, 500)          # fan_in 400, fan_out 500
CONV = (5, 5, 40, 160)      # HWIO: fan_in 1000, fan_out 4000
CASES = [
    (init.glorot_uniform, DENSE, math.sqrt(2 / 900), math.sqrt(6 / 900)),
    (init.glorot_uniform, CONV, math.sqrt(2 / 5000), math.sqrt(6 / 5000)),
    (init.glorot_normal, DENSE, math.sqrt(2 / 900), None),
    (init.glorot_normal, CONV, math.sqrt(2 / 5000), None),
    (init.he_uniform, DENSE, math.sqrt(2 / 400), math.sqrt(6 / 400)),
    (init.he_uniform, CONV, math.sqrt(2 / 1000), math.sqrt(6 / 1000)),
    (init.he_normal, DENSE, math.sqrt(2 / 400), None),
    (init.he_normal, CONV, math.sqrt(2 / 1000), None),
    (init.lecun_normal, DENSE, math.sqrt(1 / 400), None),
    (init.lecun_normal, CONV, math.sqrt(1 / 1000), None),
    (init.fan_in_uniform, DENSE, 1 / math.sqrt(400) / math.sqrt(3), 1 / math.sqrt(400)),
    (init.fan_in_uniform, CONV, 1 / math.sqrt(1000) / math.sqrt(3), 1 / math.sqrt(1000)),
    (init.normal(0.05), DENSE, 0.05, None),
    (init.normal(2.0), (200_000,), 2.0, None),
]
IDS = [f"{getattr(f, '__name__', 'f')}-{len(s)}d-{i}" for i, (f, s, _, _) in enumerate(CASES)]


def _check_stats(w, std, bound, *, mean=0.0):
    w = np.asarray(w, dtype=np.float64)
    assert abs(w.mean() - mean) < 0.03 * std, (w.mean(), std)
    assert w.std() == pytest.approx(std, rel=0.03)
    if bound is not None:
        # Every draw is inside the bound and the draws reach it (within 3 %).
        assert np.abs(w).max() <= bound * (1 + 2 ** -7)
        assert np.abs(w).max() >= 0.97 * bound


@pytest.mark.parametrize("fn,shape,std,bound", CASES, ids=IDS)
def test_distribution_float32(fn, shape, std, bound):
    w = fn(KEY, shape)
    assert w.shape == shape and w.dtype == jnp.float32
    _check_stats(w, std, bound)


@pytest.mark.parametrize("fn,shape,std,bound", CASES[::3], ids=IDS[::3])
def test_distribution_bfloat16(fn, shape, std, bound):
    w = fn(KEY, shape, jnp.bfloat16)
    assert w.shape == shape and w.dtype == jnp.bfloat16
    _check_stats(w, std, bound)


@pytest.mark.parametrize("fn,shape,std,bound", CASES[1::3], ids=IDS[1::3])
def test_distribution_float64(x64, fn, shape, std, bound):
    w = fn(KEY, shape, jnp.float64)
    assert w.shape == shape and w.dtype == jnp.float64
    _check_stats(w, std, bound)


def test_uniform_is_one_sided():
    scale = 0.3
    w = np.asarray(init.uniform(scale)(KEY, (200_000,)), np.float64)
    assert w.min() >= 0 and w.max() < scale
    assert w.max() > 0.97 * scale
    _check_stats(w, scale / math.sqrt(12), None, mean=scale / 2)
    assert init.uniform()(KEY, (3,)).max() < 1e-2           # default scale 1e-2


def test_normal_default_stddev():
    w = init.normal()(KEY, (100_000,))
    assert float(w.std()) == pytest.approx(1e-2, rel=0.03)


@pytest.mark.parametrize("name,torch_name", [
    ("glorot_uniform", "xavier_uniform_"), ("glorot_normal", "xavier_normal_"),
    ("he_uniform", "kaiming_uniform_"), ("he_normal", "kaiming_normal_")])
def test_std_matches_torch_on_transposed_kernel(name, torch_name):
    """torch kernels are OIHW; ours are HWIO: the same fans must give the same spread."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    t = torch.empty(64, 32, 5, 5, dtype=torch.float64)                   # O, I, H, W
    kwargs = {"nonlinearity": "relu"} if "kaiming" in torch_name else {}
    getattr(torch.nn.init, torch_name)(t, **kwargs)
    ours = getattr(init, name)(KEY, (5, 5, 32, 64))
    assert float(ours.std()) == pytest.approx(float(t.std()), rel=0.03)
    if "uniform" in name:
        assert float(jnp.abs(ours).max()) == pytest.approx(float(t.abs().max()), rel=0.03)


def test_fan_in_uniform_matches_torch_linear_bound():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    lin = torch.nn.Linear(300, 200)     # weight (out, in) ~ U(±1/sqrt(in))
    ours = init.fan_in_uniform(KEY, (300, 200))
    assert float(jnp.abs(ours).max()) == pytest.approx(float(lin.weight.detach().abs().max()), rel=0.03)


@pytest.mark.parametrize("shape,expected", [
    ((784, 10), (784, 10)),
    ((3, 3, 16, 32), (144, 288)),         # conv2d HWIO
    ((7, 4, 8), (28, 56)),                # conv1d WIO
    ((2, 3, 3, 4, 5), (72, 90)),          # conv3d DHWIO
    ((1, 1), (1, 1)),
])
def test_fans(shape, expected):
    assert init.fans(shape) == expected
    assert init.fans(list(shape)) == expected


@pytest.mark.parametrize("shape", [(), (10,), 10])
def test_fans_undefined_for_fewer_than_two_axes(shape):
    with pytest.raises(ValueError, match="at least 2 axes"):
        init.fans(shape)


FAN_BASED = [init.glorot_uniform, init.glorot_normal, init.he_uniform, init.he_normal,
             init.lecun_normal, init.fan_in_uniform]


@pytest.mark.parametrize("fn", FAN_BASED, ids=lambda f: f.__name__)
@pytest.mark.parametrize("shape", [(), (10,)])
def test_fan_based_reject_shapes_without_fans(fn, shape):
    with pytest.raises(ValueError, match=fn.__name__ + r".*shape \(" ):
        fn(KEY, shape)


@pytest.mark.parametrize("fn", [init.he_uniform, init.he_normal, init.lecun_normal,
                                init.fan_in_uniform], ids=lambda f: f.__name__)
def test_zero_fan_in_rejected(fn):
    with pytest.raises(ValueError, match="positive fan_in"):
        fn(KEY, (0, 5))


@pytest.mark.parametrize("fn", FAN_BASED + [init.normal(1.0), init.uniform(1.0)],
                         ids=lambda f: getattr(f, "__name__", "f"))
def test_random_initializers_reject_integer_dtype(fn):
    with pytest.raises(ValueError, match="floating"):
        fn(KEY, (3, 4), jnp.int32)


@pytest.mark.parametrize("factory,arg", [(init.normal, -1.0), (init.uniform, -0.5),
                                         (init.normal, float("nan")), (init.uniform, "a")])
def test_factories_validate_their_argument(factory, arg):
    with pytest.raises(ValueError, match="stddev|scale"):
        factory(arg)


def test_bad_shape_rejected():
    with pytest.raises(ValueError, match="non-negative"):
        init.glorot_uniform(KEY, (3, -1))
    with pytest.raises(ValueError, match="non-negative"):
        init.zeros(KEY, (2.5,))


ALL_RANDOM = FAN_BASED + [init.normal(0.1), init.uniform(0.1)]


@pytest.mark.parametrize("fn", ALL_RANDOM, ids=lambda f: getattr(f, "__name__", "f"))
def test_same_key_same_array_and_jit_vmap(fn):
    shape = (3, 3, 2, 4)
    a, b = fn(KEY, shape), fn(KEY, shape)
    np.testing.assert_array_equal(a, b)
    c = fn(jax.random.key(1), shape)
    assert not np.array_equal(a, c)
    jitted = jax.jit(fn, static_argnums=(1, 2))(KEY, shape, jnp.float32)
    # XLA may fuse the scaling differently under jit: equal up to rounding.
    np.testing.assert_allclose(jitted, a, rtol=1e-6, atol=1e-7)
    keys = jax.random.split(KEY, 3)
    batched = jax.vmap(lambda k: fn(k, shape))(keys)
    assert batched.shape == (3,) + shape
    np.testing.assert_allclose(batched[1], fn(keys[1], shape), rtol=1e-6, atol=1e-7)
    assert not np.array_equal(batched[0], batched[1])


def test_raw_uint32_keys_work():
    raw = jax.random.PRNGKey(3)
    np.testing.assert_array_equal(init.he_normal(raw, (4, 5)), init.he_normal(raw, (4, 5)))


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16, jnp.int32])
def test_zeros_ones_constant(dtype):
    for shape in [(), (4,), (2, 3)]:
        z, o = init.zeros(KEY, shape, dtype), init.ones(KEY, shape, dtype)
        assert z.shape == o.shape == shape and z.dtype == o.dtype == dtype
        assert bool(jnp.all(z == 0)) and bool(jnp.all(o == 1))
        c = init.constant(3)(KEY, shape, dtype)
        assert c.dtype == dtype and bool(jnp.all(c == 3))
    assert init.zeros(KEY, (2,)).dtype == jnp.float32


def test_constant_broadcasts_array_value_and_float64(x64):
    c = init.constant(jnp.array([1.0, 2.0]))(KEY, (3, 2), jnp.float64)
    assert c.dtype == jnp.float64
    np.testing.assert_array_equal(c, np.tile([1.0, 2.0], (3, 1)))


def test_public_namespace_and_aliases():
    for name in ["glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_normal",
                 "fan_in_uniform", "normal", "uniform", "zeros", "ones", "constant", "fans"]:
        assert callable(getattr(nf.init, name))
        assert getattr(nf.init, name).__doc__
    assert init.xavier_uniform is init.glorot_uniform and init.kaiming_normal is init.he_normal
