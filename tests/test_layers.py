"""Tests for nnfunc.layers: gradients vs finite differences, jit/vmap, torch oracles,
dropout statistics, shape inference and input validation."""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nnfunc as nf
from nnfunc import layers as L
from nnfunc.layers import conv as conv_module

KEY = jax.random.key(0)


def _float_input(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _ids_input(shape, seed=0, high=10):
    return np.random.default_rng(seed).integers(0, high, shape)


# name -> (layer factory, input_shape, batch, train, input maker)
CASES = {
    "dense": (lambda: L.dense(3), (4,), 5, False, _float_input),
    "dense_nobias": (lambda: L.dense(3, use_bias=False), (2, 4), 3, False, _float_input),
    "conv2d_same": (lambda: L.conv2d(3, 3), (6, 6, 2), 2, False, _float_input),
    "conv2d_valid_strided_dilated": (
        lambda: L.conv2d(2, (3, 2), stride=2, padding="VALID", dilation=(1, 2)),
        (7, 8, 2), 2, False, _float_input),
    "conv2d_int_padding": (lambda: L.conv2d(2, 3, padding=1, stride=(2, 1)), (5, 5, 3), 2,
                           False, _float_input),
    "max_pool": (lambda: L.max_pool(2), (6, 6, 2), 2, False, _float_input),
    "max_pool_padded": (lambda: L.max_pool(3, 2, padding=1), (5, 5, 2), 2, False,
                        _float_input),
    "avg_pool": (lambda: L.avg_pool(2), (6, 6, 2), 2, False, _float_input),
    "avg_pool_same_exclude_pad": (lambda: L.avg_pool(3, 2, padding="SAME",
                                                     count_include_pad=False),
                                  (5, 5, 2), 2, False, _float_input),
    "flatten": (lambda: L.flatten(), (3, 2, 2), 3, False, _float_input),
    "dropout_train": (lambda: L.dropout(0.3), (8,), 4, True, _float_input),
    "batch_norm_train_nc": (lambda: L.batch_norm(), (3,), 6, True, _float_input),
    "batch_norm_train_nhwc": (lambda: L.batch_norm(momentum=0.2), (3, 3, 2), 2, True,
                              _float_input),
    "batch_norm_eval": (lambda: L.batch_norm(), (3,), 4, False, _float_input),
    "layer_norm": (lambda: L.layer_norm(), (2, 5), 3, False, _float_input),
    "embedding": (lambda: L.embedding(10, 3), (4,), 2, False, _ids_input),
    "activation": (lambda: L.activation(nf.activations.tanh), (4,), 3, False, _float_input),
    "serial": (lambda: L.serial(L.dense(5), L.activation(nf.activations.tanh), L.dense(2)),
               (3,), 4, False, _float_input),
    "serial_train": (lambda: L.serial(L.dense(5), L.batch_norm(), L.dropout(0.5), L.dense(2)),
                     (3,), 6, True, _float_input),
    "parallel_concat": (lambda: L.parallel(L.dense(2), L.dense(3)), (4,), 3, False,
                        _float_input),
    "parallel_add": (lambda: L.parallel(L.dense(2), L.dense(2), merge="add"), (4,), 3, False,
                     _float_input),
    "residual": (lambda: L.residual(L.dense(4), L.activation(nf.activations.tanh)), (4,), 3,
                 False, _float_input),
}


def _perturbed_state(layer_name, state):
    # Non-trivial running statistics so eval-mode batch norm is exercised off its init.
    if "batch_norm" not in layer_name:
        return state
    return {"mean": state["mean"] + 0.3, "var": state["var"] * 1.7}


def _setup(name, dtype=jnp.float32):
    factory, shape, batch, train, make_x = CASES[name]
    layer = factory()
    params, state = layer.init(KEY, shape)
    # numpy leaves: eager jnp ops would compile one small program per shape.
    params = jax.tree_util.tree_map(lambda a: np.asarray(a, dtype), params)
    state = jax.tree_util.tree_map(lambda a: np.asarray(a, dtype), _perturbed_state(name, state))
    x = make_x((batch, *shape))
    x = np.asarray(x, dtype) if make_x is _float_input else x
    key = jax.random.key(1) if train else None
    return layer, params, state, x, train, key


def _directional_fd_check(f, args, argnums, *, n_dirs=3, eps=1e-6, rtol=1e-6, atol=1e-9):
    """Compare jax.grad with central differences along random directions (one compile)."""
    rng = np.random.default_rng(42)
    dirs = [[jax.tree_util.tree_map(lambda a: rng.standard_normal(a.shape).astype(a.dtype),
                                    args[i])
             for i in argnums] for _ in range(n_dirs)]

    @jax.jit
    def both(args, dirs):
        grads = jax.grad(f, argnums=argnums)(*args)
        out = []
        for ds in dirs:
            def shifted(sign):
                new = list(args)
                for i, d in zip(argnums, ds):
                    new[i] = jax.tree_util.tree_map(lambda a, v: a + sign * eps * v, args[i], d)
                return f(*new)
            fd = (shifted(1.0) - shifted(-1.0)) / (2 * eps)
            out.append((fd, sum(nf.tree.vdot(g, d) for g, d in zip(grads, ds))))
        return out

    for fd, analytic in both(tuple(args), dirs):
        assert abs(float(fd) - float(analytic)) <= atol + rtol * abs(float(analytic)), \
            (float(fd), float(analytic))


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradients_match_finite_differences(name, x64):
    layer, params, state, x, train, key = _setup(name, jnp.float64)
    y = jax.eval_shape(lambda: layer.apply(params, state, x, train=train, key=key)[0])
    weights = np.random.default_rng(7).standard_normal(y.shape)

    def loss(p, inp):
        out, _ = layer.apply(p, state, inp, train=train, key=key)
        return jnp.sum(out * weights)

    has_params = bool(jax.tree_util.tree_leaves(params))
    float_input = np.issubdtype(x.dtype, np.floating)
    argnums = tuple(i for i, ok in ((0, has_params), (1, float_input)) if ok)
    _directional_fd_check(loss, (params, x), argnums)


@pytest.mark.parametrize("name", sorted(CASES))
def test_jit_and_vmap_paths_and_output_shape(name):
    layer, params, state, x, train, key = _setup(name)
    apply = jax.jit(lambda p, s, v, k: layer.apply(p, s, v, train=train, key=k))
    y, new_state = apply(params, state, x, key)
    dtype = jnp.int32 if not jnp.issubdtype(x.dtype, jnp.floating) else jnp.float32
    assert L.output_shape(layer, CASES[name][1], dtype=dtype) == y.shape[1:]
    assert jax.tree_util.tree_structure(new_state) == jax.tree_util.tree_structure(state)

    # vmap over an ensemble axis: independent params, states, inputs and keys per member.
    n = 3
    _, shape, _, _, _ = CASES[name]
    # Distinct members without more init calls (each eager init compiles per shape).
    ps, ss = jax.tree_util.tree_map(lambda a: np.stack([a * (1 + 0.5 * i) for i in range(n)]),
                                    (params, state))
    xs = np.stack([x] * n) if not np.issubdtype(x.dtype, np.floating) else \
        np.stack([x * (i + 1) for i in range(n)])
    dkeys = jax.random.split(jax.random.key(4), n)
    ys, _ = jax.vmap(lambda p, s, v, k: layer.apply(p, s, v, train=train,
                                                    key=k if train else None))(ps, ss, xs, dkeys)
    for i in range(n):
        p_i = jax.tree_util.tree_map(lambda a: a[i], ps)
        s_i = jax.tree_util.tree_map(lambda a: a[i], ss)
        y_i, _ = apply(p_i, s_i, xs[i], dkeys[i] if train else None)
        np.testing.assert_allclose(ys[i], y_i, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- torch oracles

def _to_nchw(x_nhwc):
    return np.ascontiguousarray(np.transpose(x_nhwc, (0, 3, 1, 2)))


def _to_nhwc(x_nchw):
    return np.transpose(x_nchw, (0, 2, 3, 1))


def _hwio_to_oihw(w):
    return np.ascontiguousarray(np.transpose(w, (3, 2, 0, 1)))


@pytest.mark.parametrize("kwargs, torch_kwargs", [
    (dict(kernel_size=3, stride=1, padding="SAME"), dict(stride=1, padding="same")),
    (dict(kernel_size=4, stride=1, padding="SAME"), dict(stride=1, padding="same")),
    (dict(kernel_size=3, stride=2, padding="VALID"), dict(stride=2, padding=0)),
    (dict(kernel_size=(3, 2), stride=(2, 1), padding=1, dilation=(2, 1)),
     dict(stride=(2, 1), padding=1, dilation=(2, 1))),
    (dict(kernel_size=5, stride=3, padding=(2, 1)), dict(stride=3, padding=(2, 1))),
])
@pytest.mark.filterwarnings("ignore:Using padding='same'")
def test_conv2d_matches_torch(kwargs, torch_kwargs, x64):
    torch = pytest.importorskip("torch")
    layer = L.conv2d(4, **kwargs)
    kernel = kwargs["kernel_size"]
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    # Params built directly (init is tested elsewhere): HWIO kernel and a bias.
    rng = np.random.default_rng(3)
    params, state = {"w": rng.standard_normal((kh, kw, 3, 4)), "b": rng.standard_normal(4)}, {}
    x = _float_input((2, 9, 8, 3))
    y, _ = layer.apply(params, state, jnp.asarray(x))
    ref = torch.nn.functional.conv2d(torch.from_numpy(_to_nchw(x)),
                                     torch.from_numpy(_hwio_to_oihw(np.asarray(params["w"]))),
                                     torch.from_numpy(np.array(params["b"])), **torch_kwargs)
    np.testing.assert_allclose(y, _to_nhwc(ref.numpy()), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind, window, stride, padding, extra", [
    ("max", 2, None, 0, {}),
    ("max", 3, 2, 1, {}),
    ("max", (3, 2), (1, 2), (1, 0), {}),
    ("avg", 2, None, 0, {}),
    ("avg", 3, 2, 1, {}),
    ("avg", 3, 2, 1, {"count_include_pad": False}),
    ("avg", (2, 3), (2, 1), (1, 1), {"count_include_pad": False}),
])
def test_pooling_matches_torch(kind, window, stride, padding, extra, x64):
    torch = pytest.importorskip("torch")
    factory = L.max_pool if kind == "max" else L.avg_pool
    layer = factory(window, stride, padding, **extra)
    x = _float_input((2, 7, 6, 3))
    y, _ = layer.apply({}, {}, jnp.asarray(x))
    fn = torch.nn.functional.max_pool2d if kind == "max" else torch.nn.functional.avg_pool2d
    ref = fn(torch.from_numpy(_to_nchw(x)), window, stride if stride is not None else window,
             padding, **extra)
    np.testing.assert_allclose(y, _to_nhwc(ref.numpy()), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("image", [False, True], ids=["BatchNorm1d", "BatchNorm2d"])
def test_batch_norm_matches_torch_over_steps(image, x64):
    torch = pytest.importorskip("torch")
    c, momentum = 3, 0.2
    shape = (4, 5, c) if image else (c,)
    layer = L.batch_norm(momentum=momentum, eps=1e-3)
    params, state = layer.init(KEY, shape)
    np.testing.assert_array_equal(state["mean"], np.zeros(c))     # torch's initial stats
    np.testing.assert_array_equal(state["var"], np.ones(c))
    rng = np.random.default_rng(0)
    scale, bias = rng.uniform(0.5, 2, c), rng.standard_normal(c)
    params = {"scale": jnp.asarray(scale), "bias": jnp.asarray(bias)}
    state = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), state)
    tbn = (torch.nn.BatchNorm2d if image else torch.nn.BatchNorm1d)(c, eps=1e-3,
                                                                    momentum=momentum).double()
    with torch.no_grad():
        tbn.weight.copy_(torch.from_numpy(scale))
        tbn.bias.copy_(torch.from_numpy(bias))
    apply = jax.jit(layer.apply, static_argnames="train")
    for step in range(4):
        x = rng.standard_normal((6, *shape)) * (step + 1) + step
        y, state = apply(params, state, jnp.asarray(x), train=True)
        tbn.train()
        ref = tbn(torch.from_numpy(_to_nchw(x) if image else x)).detach().numpy()
        np.testing.assert_allclose(y, _to_nhwc(ref) if image else ref, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(state["mean"], tbn.running_mean.numpy(), rtol=1e-12)
        np.testing.assert_allclose(state["var"], tbn.running_var.numpy(), rtol=1e-12)
    tbn.eval()
    x = rng.standard_normal((3, *shape))
    y, state_eval = apply(params, state, jnp.asarray(x), train=False)
    ref = tbn(torch.from_numpy(_to_nchw(x) if image else x)).detach().numpy()
    np.testing.assert_allclose(y, _to_nhwc(ref) if image else ref, rtol=1e-10, atol=1e-10)
    for k in ("mean", "var"):
        np.testing.assert_array_equal(state_eval[k], state[k])


def test_batch_norm_running_stats_carry_no_gradient():
    layer = L.batch_norm()
    params, state = layer.init(KEY, (2,))
    x = jnp.asarray(_float_input((5, 2)), jnp.float32)
    g = jax.grad(lambda v: jnp.sum(layer.apply(params, state, v, train=True)[1]["mean"]))(x)
    assert bool(jnp.all(g == 0))


def test_layer_norm_and_embedding_match_torch(x64):
    torch = pytest.importorskip("torch")
    ln = L.layer_norm(eps=1e-4)
    state = {}
    rng = np.random.default_rng(1)
    params = {"scale": jnp.asarray(rng.standard_normal(6)),
              "bias": jnp.asarray(rng.standard_normal(6))}
    x = rng.standard_normal((2, 3, 6))
    y, _ = ln.apply(params, state, jnp.asarray(x))
    ref = torch.nn.functional.layer_norm(torch.from_numpy(x), (6,),
                                         torch.from_numpy(np.array(params["scale"])),
                                         torch.from_numpy(np.array(params["bias"])), eps=1e-4)
    np.testing.assert_allclose(y, ref.numpy(), rtol=1e-10, atol=1e-12)

    emb = L.embedding(7, 4)
    params = {"w": rng.standard_normal((7, 4))}
    ids = _ids_input((3, 5), high=7)
    y, _ = emb.apply(params, state, jnp.asarray(ids))
    ref = torch.nn.functional.embedding(torch.from_numpy(ids),
                                        torch.from_numpy(np.array(params["w"])))
    np.testing.assert_array_equal(y, ref.numpy())


def test_dense_matches_torch_linear_and_its_default_init():
    torch = pytest.importorskip("torch")
    layer = L.dense(200)
    params, state = layer.init(KEY, (50,))
    x = _float_input((4, 50)).astype(np.float32)
    with jax.default_matmul_precision("float32"):      # no TF32 on GPUs: compare semantics
        y, _ = layer.apply(params, state, jnp.asarray(x))
    ref = torch.nn.functional.linear(torch.from_numpy(x),
                                     torch.from_numpy(np.asarray(params["w"]).T.copy()),
                                     torch.from_numpy(np.array(params["b"])))
    np.testing.assert_allclose(y, ref.numpy(), rtol=1e-5, atol=1e-5)
    # torch.nn.Linear(50, 200) draws weight and bias from U(-1/sqrt(50), 1/sqrt(50)).
    bound = 1 / math.sqrt(50)
    tl = torch.nn.Linear(50, 200)
    for ours, theirs in ((params["w"], tl.weight), (params["b"], tl.bias)):
        ours, theirs = np.asarray(ours), theirs.detach().numpy()
        assert np.abs(ours).max() <= bound and np.abs(theirs).max() <= bound
        assert abs(ours.std() - theirs.std()) < 0.15 * bound
        assert np.abs(ours).max() > 0.9 * bound


def test_conv2d_default_init_uses_kernel_fan_in():
    params, _ = L.conv2d(64, 3).init(KEY, (8, 8, 16))
    bound = 1 / math.sqrt(3 * 3 * 16)
    for leaf in (params["w"], params["b"]):
        assert float(jnp.abs(leaf).max()) <= bound
        assert float(jnp.abs(leaf).max()) > 0.9 * bound


CONV_CONFIGS = [  # (kernel, stride, padding, dilation)
    ((3, 3), 1, "SAME", 1), ((3, 2), (2, 3), "VALID", 1), ((3, 3), 2, "SAME", (2, 1)),
    ((2, 2), (3, 2), ((1, 0), (3, 2)), (1, 2)), ((1, 1), 1, ((4, 4), (0, 5)), 1),
    ((5, 5), 1, 2, 1), ((3, 3), 1, "VALID", (2, 1)), ((1, 1), 2, "SAME", 1),
]


def _plain_conv(x, w, stride, padding, dilation):
    """JAX's own convolution and derivatives, the reference for conv2d's rule."""
    s = stride if isinstance(stride, tuple) else (stride, stride)
    d = dilation if isinstance(dilation, tuple) else (dilation, dilation)
    pad = ((padding, padding), (padding, padding)) if isinstance(padding, int) else padding
    return jax.lax.conv_general_dilated(x, w, s, pad, rhs_dilation=d,
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"))


@pytest.mark.parametrize("kernel,stride,padding,dilation", CONV_CONFIGS)
def test_conv2d_derivatives_equal_jax_bit_for_bit(kernel, stride, padding, dilation):
    """conv2d's own derivative rule (canonical layouts for XLA:CPU) gives exactly JAX's
    values in reverse mode, forward mode, second order and under vmap. Without padding
    the weight gradient on CPU is one matmul per kernel tap instead (faster there): the
    same values up to the order of the sums."""
    rng = np.random.default_rng(3)
    x = jnp.asarray(rng.normal(size=(3, 12, 13, 2)), jnp.float32)
    layer = L.conv2d(4, kernel, stride=stride, padding=padding, dilation=dilation,
                     use_bias=False)
    params, _ = layer.init(KEY, (12, 13, 2))
    w = params["w"]

    def ours(x, w):
        return jnp.sum(jnp.sin(layer.apply({"w": w}, {}, x)[0]))

    def ref(x, w):
        return jnp.sum(jnp.sin(_plain_conv(x, w, stride, padding, dilation)))

    s = stride if isinstance(stride, tuple) else (stride, stride)
    d = dilation if isinstance(dilation, tuple) else (dilation, dilation)
    pad = L._base.as_padding(padding)
    by_taps = conv_module._weight_grad_by_taps(x, w, s, pad, d)
    assert by_taps == (jax.default_backend() == "cpu" and (
        padding == "VALID" or kernel == (1, 1) and padding == "SAME"))

    def same(a, b):
        for u, v in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
            if by_taps:
                np.testing.assert_allclose(np.asarray(u), np.asarray(v), rtol=2e-5,
                                           atol=2e-5)
                assert not np.array_equal(np.asarray(u), 0 * np.asarray(u))
            else:
                np.testing.assert_array_equal(np.asarray(u), np.asarray(v))

    same(jax.grad(ours, (0, 1))(x, w), jax.grad(ref, (0, 1))(x, w))
    same(jax.jvp(ours, (x, w), (x * 0.5, w))[1], jax.jvp(ref, (x, w), (x * 0.5, w))[1])
    hvp = lambda f: jax.jvp(jax.grad(f, 1), (x, w), (x, w))[1]      # forward-over-reverse
    same(hvp(ours), hvp(ref))
    same(jax.vmap(jax.grad(ours, 1), (0, None))(x[:, None], w),
         jax.vmap(jax.grad(ref, 1), (0, None))(x[:, None], w))
    ws = jnp.stack([w, 2 * w])                      # batched weights, as in nf.train.sweep
    same(jax.vmap(jax.grad(ours, (0, 1)), (None, 0))(x, ws),
         jax.vmap(jax.grad(ref, (0, 1)), (None, 0))(x, ws))


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="XLA:CPU layout check")
def test_conv2d_gradients_in_a_scan_use_canonical_convolutions():
    """Inside a lax.scan (a fused epoch) XLA:CPU keeps each convolution's layout; only
    the canonical one (batch first, features last; HWIO kernel) runs fast (jax #12868),
    so every convolution of conv2d's training step must be canonical. JAX's own
    derivatives are not (this is what made CPU CNN epochs 4x slower than needed)."""
    import re
    layer = L.conv2d(4, 3, stride=2)
    params, _ = layer.init(KEY, (9, 9, 2))
    xs = jnp.ones((3, 5, 9, 9, 2))

    def epoch(params, conv):
        def step(p, x):
            g = jax.grad(lambda p: jnp.sum(conv(x, p) ** 2))(p)
            return jax.tree_util.tree_map(lambda a, b: a - 0.1 * b, p, g), None
        return jax.lax.scan(step, params, xs)[0]

    ours = lambda x, p: layer.apply(p, {}, x)[0]
    plain = lambda x, p: _plain_conv(x, p["w"], 2, "SAME", 1) + p["b"]
    labels = lambda conv: re.findall(r"dim_labels=([\w>-]+)", jax.jit(
        lambda p: epoch(p, conv)).lower(params).compile().as_text())
    assert labels(ours) and set(labels(ours)) == {"b01f_01io->b01f"}
    assert set(labels(plain)) != {"b01f_01io->b01f"}          # the check can fail


# ---------------------------------------------------------------- dropout

@pytest.mark.parametrize("rate", [0.1, 0.5, 0.8])
def test_dropout_statistics_scaling_and_determinism(rate):
    layer = L.dropout(rate)
    x = jnp.asarray(np.random.default_rng(0).uniform(1, 2, (10, 5000)), jnp.float32)
    k = jax.random.key(11)
    y, _ = layer.apply({}, {}, x, train=True, key=k)
    dropped = np.asarray(y == 0)
    assert abs(dropped.mean() - rate) < 0.01
    kept = ~dropped
    expected = np.asarray(x) * np.float32(1 / (1 - rate))
    np.testing.assert_array_equal(np.asarray(y)[kept], expected[kept])
    y_again, _ = layer.apply({}, {}, x, train=True, key=k)
    np.testing.assert_array_equal(y_again, y)
    y_other, _ = layer.apply({}, {}, x, train=True, key=jax.random.key(12))
    assert not np.array_equal(np.asarray(y_other == 0), dropped)
    y_eval, _ = layer.apply({}, {}, x)
    np.testing.assert_array_equal(y_eval, x)


def test_dropout_rate_zero_keeps_everything():
    x = jnp.ones((2, 100))
    y, _ = L.dropout(0.0).apply({}, {}, x, train=True, key=KEY)
    np.testing.assert_array_equal(y, x)


def test_serial_gives_each_dropout_its_own_key():
    net = L.serial(L.dropout(0.5), L.dropout(0.5))
    params, state = net.init(KEY, (4000,))
    x = jnp.ones((1, 4000))
    y, _ = net.apply(params, state, x, train=True, key=KEY)
    # Independent masks keep ~1/4 of units (scaled by 4); a shared mask would keep ~1/2.
    assert abs(float(jnp.mean(y != 0)) - 0.25) < 0.03
    assert set(np.unique(np.asarray(y)).tolist()) <= {0.0, 4.0}


# ---------------------------------------------------------------- structure and names

def test_params_are_named_and_findable_by_path():
    net = L.serial(L.conv2d(2, 3), L.batch_norm(), L.activation(nf.activations.relu),
                   L.flatten(), L.dense(3))
    params, state = net.init(KEY, (5, 5, 1))
    names = [jax.tree_util.keystr(path) for path, _ in
             jax.tree_util.tree_leaves_with_path(params)]
    assert names == ["[0]['b']", "[0]['w']", "[1]['bias']", "[1]['scale']", "[4]['b']",
                     "[4]['w']"]
    biases = jax.tree_util.tree_map_with_path(
        lambda path, leaf: path[-1].key == "b", params)
    assert jax.tree_util.tree_leaves(biases) == [True, False, False, False, True, False]
    assert [type(s) for s in state] == [dict] * 5 and set(state[1]) == {"mean", "var"}
    assert [c.name for c in net.children] == ["conv2d", "batch_norm", "relu", "flatten",
                                              "dense"]


def test_layer_unpacks_into_init_and_apply():
    init, apply = L.dense(2)
    params, state = init(KEY, (3,))
    y, _ = apply(params, state, jnp.ones((1, 3)))
    assert y.shape == (1, 2)


def test_shape_inference_through_a_network():
    net = L.serial(L.conv2d(4, 3, stride=2), L.max_pool(2), L.flatten(), L.dense(7))
    assert L.output_shape(net, (16, 16, 1)) == (7,)
    params, _ = net.init(KEY, (16, 16, 1))
    assert params[3]["w"].shape == (4 * 4 * 4, 7)
    assert L.output_shape(L.embedding(5, 3), (6,), dtype=jnp.int32) == (6, 3)
    assert L.output_shape(L.parallel(L.dense(2), L.dense(5)), (3,)) == (7,)
    assert L.output_shape(L.dense(4), 3) == (4,)          # a bare int is a 1-D shape


def test_init_is_deterministic_in_the_key():
    net = L.serial(L.dense(3), L.dense(2))
    a, _ = net.init(KEY, (4,))
    b, _ = net.init(KEY, (4,))
    c, _ = net.init(jax.random.key(5), (4,))
    assert all(np.array_equal(u, v) for u, v in zip(jax.tree_util.tree_leaves(a),
                                                    jax.tree_util.tree_leaves(b)))
    assert not np.array_equal(a[0]["w"], c[0]["w"])
    assert not np.array_equal(a[0]["w"], a[1]["w"][:, :1].T)  # layers get distinct keys


# ---------------------------------------------------------------- bad inputs

def _init(layer, shape):
    return lambda: layer.init(KEY, shape)


BAD_CONSTRUCTION = [
    ("dropout rate 1", lambda: L.dropout(1.0), "dropout rate must be in [0, 1), got 1.0"),
    ("dropout rate negative", lambda: L.dropout(-0.1), "dropout rate must be in [0, 1)"),
    ("dense features 0", lambda: L.dense(0), "features must be a positive int, got 0"),
    ("conv kernel", lambda: L.conv2d(2, (3, 0)), "kernel_size must be a positive int"),
    ("conv padding", lambda: L.conv2d(2, 3, padding="FULL"), "padding must be 'SAME'"),
    ("pool stride", lambda: L.max_pool(2, -1), "stride must be a positive int"),
    ("bn momentum", lambda: L.batch_norm(momentum=1.5), "momentum must be in [0, 1], got 1.5"),
    ("bn eps", lambda: L.batch_norm(eps=0.0), "eps must be a positive number, got 0.0"),
    ("embedding", lambda: L.embedding(0, 3), "num_embeddings must be a positive int"),
    # issue 16: padding wider than half the window gave -inf (max) or 0 (avg) borders
    ("max_pool padding", lambda: L.max_pool(2, padding=2), "at most half the window"),
    ("avg_pool padding", lambda: L.avg_pool(3, padding=(1, 2)), "at most 1 on axis 1"),
    ("max_pool explicit padding", lambda: L.max_pool(2, padding=((0, 2), (0, 0))),
     "at most half the window"),
    ("activation", lambda: L.activation(3), "activation needs a callable fn"),
    ("serial empty", lambda: L.serial(), "serial needs at least one layer"),
    ("serial non-layer", lambda: L.serial(L.dense(2), "relu"), "serial: argument 1 must be"),
    ("parallel merge", lambda: L.parallel(L.dense(2), merge="max"), "merge must be"),
    ("conv kernel larger than VALID input",
     _init(L.conv2d(2, 5, padding="VALID"), (4, 4, 1)), "does not fit the input"),
    ("conv on flat input", _init(L.conv2d(2, 3), (16,)),
     "conv2d expects input_shape (height, width, channels), got (16,)"),
    ("pool larger than input", _init(L.avg_pool(4), (3, 8, 1)), "does not fit the input"),
    ("serial names the position",
     _init(L.serial(L.dense(4), L.flatten(), L.conv2d(2, 3)), (3,)),
     "serial: layer 2 (conv2d) received input_shape (4,): conv2d expects input_shape "
     "(height, width, channels), got (4,)"),
    ("negative input shape", _init(L.dense(2), (-3,)), "input_shape must be a tuple of "
                                                       "positive ints"),
    ("residual shape change", _init(L.residual(L.dense(3)), (4,)),
     "residual: the body must preserve the shape: expected output (4,), got (3,)"),
    ("parallel add mismatch", _init(L.parallel(L.dense(3), L.dense(4), merge="add"), (2,)),
     "branch 1 outputs shape (4,) but branch 0 outputs (3,)"),
]


@pytest.mark.parametrize("what, call, message", BAD_CONSTRUCTION,
                         ids=[c[0] for c in BAD_CONSTRUCTION])
def test_bad_arguments_raise_value_error(what, call, message):
    with pytest.raises(ValueError) as info:
        call()
    assert message in str(info.value)


def _applied(layer, shape, x, **kwargs):
    params, state = layer.init(KEY, shape)
    return lambda: layer.apply(params, state, x, **kwargs)


BAD_APPLY = [
    ("dense width", _applied(L.dense(2), (3,), jnp.ones((4, 5))),
     "dense expects inputs of shape (batch, ..., 3), got (4, 5)"),
    ("conv rank", _applied(L.conv2d(2, 3), (5, 5, 1), jnp.ones((5, 5, 1))),
     "conv2d expects NHWC inputs"),
    ("conv channels", _applied(L.conv2d(2, 3), (5, 5, 1), jnp.ones((2, 5, 5, 3))),
     "(batch, height, width, 1), got (2, 5, 5, 3)"),
    ("bn channels", _applied(L.batch_norm(), (3,), jnp.ones((4, 2))),
     "batch_norm expects inputs (batch, ..., 3)"),
    ("bn single value", _applied(L.batch_norm(), (3,), jnp.ones((1, 3)), train=True),
     "more than one value per channel"),
    ("dropout without key", _applied(L.dropout(0.5), (3,), jnp.ones((2, 3)), train=True),
     "needs a random key"),
    ("embedding out of range", _applied(L.embedding(4, 2), (3,), jnp.array([[0, 4, 1]])),
     "embedding ids must be in [0, 4)"),
    ("serial names the position", _applied(L.serial(L.dense(3), L.dense(2)), (4,),
                                           jnp.ones((2, 5))),
     "serial: layer 0 (dense): dense expects inputs of shape (batch, ..., 4), got (2, 5)"),
    ("conv NCHW input gets a hint", _applied(L.conv2d(2, 3), (5, 5, 1), jnp.ones((2, 1, 5, 5))),
     "NCHW input? NHWC is x.transpose(0, 2, 3, 1)"),
]


@pytest.mark.parametrize("what, call, message", BAD_APPLY, ids=[c[0] for c in BAD_APPLY])
def test_bad_inputs_raise_before_computation(what, call, message):
    with pytest.raises(ValueError) as info:
        call()
    assert message in str(info.value)


def test_missing_key_raises_under_jit_too():
    net = L.serial(L.dense(3), L.dropout(0.2))
    params, state = net.init(KEY, (2,))
    fn = jax.jit(lambda p, s, v: net.apply(p, s, v, train=True))
    with pytest.raises(ValueError, match="needs a random key"):
        fn(params, state, jnp.ones((2, 2)))


# ---------------------------------------------------------------- diagnostics

def test_activation_stats_reports_dead_relus_per_layer():
    net = L.serial(L.dense(4), L.activation(nf.activations.relu), L.dense(2))
    params, state = net.init(KEY, (3,))
    # Units 0 and 2 get a huge negative bias: dead for every input in the batch.
    params = (dict(params[0], b=params[0]["b"].at[jnp.array([0, 2])].set(-1e3)),) + params[1:]
    x = jnp.asarray(_float_input((16, 3)), jnp.float32)
    stats = L.activation_stats(net, params, state, x)
    assert [s["layer"] for s in stats] == ["0/dense", "1/relu", "2/dense"]
    hidden = np.maximum(np.asarray(x) @ np.asarray(params[0]["w"]) + np.asarray(params[0]["b"]),
                        0)
    relu = stats[1]
    assert relu["dead_fraction"] == pytest.approx(np.all(hidden == 0, axis=0).mean())
    assert relu["dead_fraction"] >= 0.5
    assert relu["zero_fraction"] == pytest.approx((hidden == 0).mean())
    assert relu["mean"] == pytest.approx(hidden.mean(), rel=1e-5)
    assert relu["std"] == pytest.approx(hidden.std(), rel=1e-5)
    assert relu["max"] == pytest.approx(hidden.max(), rel=1e-5)
    assert relu["shape"] == (16, 4)
    assert stats[0]["dead_fraction"] == 0.0


# ---------------------------------------------------------------- layer metadata

def test_rewrapping_a_containers_functions_keeps_name_and_children():
    net = L.serial(L.dense(3), L.activation(jnp.tanh), L.dense(2))
    names = ["dense", "tanh", "dense"]
    jitted = L.Layer(net.init, jax.jit(net.apply))
    assert jitted.name == "serial" and [c.name for c in jitted.children] == names
    replaced = net._replace(apply=jax.jit(net.apply))
    assert replaced.name == "serial" and [c.name for c in replaced.children] == names
    init, apply = net                            # stax-style unpacking still works
    assert L.Layer(init, apply).children == net.children
    params, state = jitted.init(KEY, (4,))
    y, _ = jitted.apply(params, state, jnp.ones((5, 4)))
    assert y.shape == (5, 2)


def test_a_model_built_on_a_serial_does_not_rename_it():
    body = L.serial(L.dense(3), L.dense(2))
    outer = L.Layer(body.init, body.apply, name="mine", children=body.children)
    assert (outer.name, body.name) == ("mine", "serial")
    mlp = nf.models.mlp([4, 8, 2])
    assert mlp.name == "mlp" and [c.name for c in mlp.children] == ["dense", "relu", "dense"]
    assert nf.models.cnn().name == "cnn"
    assert repr(L.serial(L.dense(2), L.flatten())) == "serial(dense(), flatten())"


def test_every_container_reports_its_children():
    a, b = L.dense(2), L.dense(3)
    assert L.parallel(a, b).children == (a, b)
    assert L.residual(a, L.activation(jnp.tanh)).children[0] is a


def test_activation_stats_opens_parallel_and_residual():
    relu = L.activation(nf.activations.relu)
    net = L.serial(L.dense(4), L.parallel(L.dense(2), L.serial(L.dense(3), relu)),
                   L.residual(L.dense(5), relu))
    params, state = net.init(KEY, (3,))
    x = jnp.asarray(_float_input((8, 3)), jnp.float32)
    stats = L.activation_stats(net, params, state, x)
    assert [s["layer"] for s in stats] == ["0/dense", "1/0/dense", "1/1/0/dense",
                                           "1/1/1/relu", "2/0/dense", "2/1/relu"]
    # the residual body's relu output is what the body computes, before the skip
    h = np.asarray(x) @ np.asarray(params[0]["w"]) + np.asarray(params[0]["b"])
    p = np.concatenate([h @ np.asarray(params[1][0]["w"]) + np.asarray(params[1][0]["b"]),
                        np.maximum(h @ np.asarray(params[1][1][0]["w"])
                                   + np.asarray(params[1][1][0]["b"]), 0)], axis=-1)
    body = np.maximum(p @ np.asarray(params[2][0]["w"]) + np.asarray(params[2][0]["b"]), 0)
    assert stats[-1]["mean"] == pytest.approx(body.mean(), rel=1e-5)
    assert stats[-1]["shape"] == (8, 5)


def test_relus_are_recognised_by_their_values_not_their_names():
    from nnfunc.layers.activation import is_relu
    assert is_relu(L.activation(nf.activations.relu))
    assert is_relu(L.activation(jax.nn.relu))
    assert is_relu(L.activation(lambda x: jnp.maximum(x, 0.0)))       # a lambda counts
    assert not is_relu(L.activation(nf.activations.leaky_relu))      # negative slope
    assert not is_relu(L.activation(jnp.tanh))
    assert not is_relu(L.dense(3))


# ---------------------------------------------------------------------------------------
# issue 16: no silent wrong results

def test_embedding_clamps_out_of_range_ids_under_jit_as_documented():
    """Under jit the ids cannot be checked: they used to give a NaN row (fill gather)."""
    emb = L.embedding(5, 3)
    params, state = emb.init(KEY, (2,))
    y = jax.jit(lambda x: emb.apply(params, state, x)[0])(jnp.array([[7, -1]]))
    np.testing.assert_array_equal(y[0], params["w"][jnp.array([4, 0])])


def test_embedding_rejects_float_ids_with_a_fractional_part():
    emb = L.embedding(5, 3)
    params, state = emb.init(KEY, (2,))
    with pytest.raises(TypeError, match=r"fractional part, e.g. \[1.5\]"):
        emb.apply(params, state, jnp.array([[1.5, 2.0]]))
    y, _ = emb.apply(params, state, jnp.array([[1.0, 2.0]]))     # whole numbers: converted
    np.testing.assert_array_equal(y[0], params["w"][jnp.array([1, 2])])


@pytest.mark.parametrize("dtype", [jnp.uint8, jnp.int32, jnp.float16])
def test_conv2d_promotes_input_dtype_like_dense(dtype):
    """A uint8 image used to fail with a raw lax TypeError."""
    conv = L.conv2d(2, 3)
    params, state = conv.init(KEY, (5, 5, 1))
    x = jnp.arange(50).reshape(2, 5, 5, 1) % 7
    y, _ = conv.apply(params, state, x.astype(dtype))
    ref, _ = conv.apply(params, state, x.astype(jnp.float32))
    assert y.dtype == jnp.float32
    np.testing.assert_allclose(y, ref, rtol=1e-3 if dtype == jnp.float16 else 1e-6)


def test_conv2d_warns_on_an_nchw_looking_input_shape():
    with pytest.warns(UserWarning, match=r"looks like NCHW.*\(28, 28, 1\)"):
        L.conv2d(4, 3).init(KEY, (1, 28, 28))
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        L.conv2d(4, 3).init(KEY, (28, 28, 1))
        L.conv2d(4, 3).init(KEY, (3, 3, 8))           # not square beyond the leading axis


@pytest.mark.parametrize("build", [
    lambda: L.dropout(np.float32(0.5)),
    lambda: L.batch_norm(momentum=np.float32(0.5), eps=np.float64(1e-5)),
    lambda: nf.models.mlp([3, 4, 2], dropout=np.float32(0.25)),
])
def test_numpy_scalar_arguments_are_accepted(build):
    """They used to be refused with 'must be in [0, 1), got np.float32(0.5)'."""
    build()


@pytest.mark.parametrize("walk", [False, True], ids=["cpu-cumsum-mask", "gpu-walked-mask"])
@pytest.mark.parametrize("shape,window", [((3, 9, 7, 4), 2), ((2, 12, 12, 3), 3),
                                          ((2, 8, 8, 2), (2, 4))])
def test_max_pool_tiles_path_equals_reduce_window_and_torch_on_ties(shape, window, walk,
                                                                    monkeypatch):
    """stride = window, no padding: the reshape-max path gives reduce_window's values and
    gradients (to the first maximum of each window), also with ties after a ReLU; with a
    NaN in a window, torch's: NaN out, the gradient to the NaN (reduce_window's goes to
    the largest number instead). Both gradient masks: the CPU's (cumsum) and the GPU's
    (walked over the window), each forced here on the CPU."""
    torch = pytest.importorskip("torch", reason="the reference is torch's max_pool2d")
    from jax import lax
    from nnfunc.layers import pooling
    monkeypatch.setattr(pooling, "_mask_by_walk", lambda kh, kw: walk)
    kh, kw = (window, window) if isinstance(window, int) else window
    x = jax.nn.relu(jnp.round(jax.random.normal(jax.random.key(0), shape) * 2) / 2)
    x = x.at[0, 0, 0, 0].set(jnp.nan)            # a NaN window: NaN out, gradient to it
    layer = L.max_pool(window)
    y, vjp = jax.vjp(lambda v: layer.apply({}, {}, v)[0], x)
    dims = (1, kh, kw, 1)
    y_ref, vjp_ref = jax.vjp(lambda v: lax.reduce_window(v, -jnp.inf, lax.max, dims, dims,
                                                         "VALID"), x)
    g = jax.random.normal(jax.random.key(1), y.shape)
    np.testing.assert_array_equal(np.asarray(y), np.asarray(y_ref))
    np.testing.assert_array_equal(np.asarray(vjp(g)[0][1:]), np.asarray(vjp_ref(g)[0][1:]))
    xt = torch.tensor(np.asarray(x).transpose(0, 3, 1, 2), requires_grad=True)
    yt = torch.nn.functional.max_pool2d(xt, (kh, kw))
    yt.backward(torch.tensor(np.asarray(g).transpose(0, 3, 1, 2)))
    np.testing.assert_array_equal(np.asarray(y), yt.detach().numpy().transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(np.asarray(vjp(g)[0]), xt.grad.numpy().transpose(0, 2, 3, 1))


@pytest.mark.parametrize("tile_shape", [(3, 4, 2, 5, 2, 3), (2, 3, 3, 3, 3, 2),
                                        (2, 2, 2, 3, 4, 1), (1, 2, 1, 2, 3, 2)])
def test_max_pool_walked_mask_equals_cumsum_mask(tile_shape):
    """The GPU's first-max mask (a walk over the window) marks the same entry of every
    tile as the CPU's (cumsums): ties from rounding, NaNs in 5 % of the entries."""
    from nnfunc.layers import pooling
    t = jnp.round(jax.random.normal(jax.random.key(0), tile_shape))
    t = jnp.where(jax.random.uniform(jax.random.key(1), tile_shape) < 0.05, jnp.nan, t)
    y = jnp.max(t, axis=(2, 4), keepdims=True)
    cumsum, walked = pooling._first_max_mask(t, y), pooling._first_max_mask_walk(t, y)
    np.testing.assert_array_equal(np.asarray(walked), np.asarray(cumsum))
    assert int(jnp.sum(cumsum)) == t.shape[0] * t.shape[1] * t.shape[3] * t.shape[5]
    assert bool(jnp.any(jnp.sum(t == y, axis=(2, 4)) > 1))      # the table has ties


def test_max_pool_gradient_mask_is_chosen_by_backend_and_window(monkeypatch):
    """Walked on GPUs and TPUs, for windows of at most 16 positions: one unrolled step per
    position, so a 28x28 window's gradient would take minutes to compile."""
    from nnfunc.layers import pooling
    assert pooling._mask_by_walk(2, 2) is (jax.default_backend() != "cpu")
    monkeypatch.setattr(pooling.jax, "default_backend", lambda: "gpu")
    assert pooling._mask_by_walk(2, 2) and pooling._mask_by_walk(4, 4)
    assert pooling._mask_by_walk(2, 8) and not pooling._mask_by_walk(5, 5)
    assert not pooling._mask_by_walk(28, 28)
    grad = lambda win, x: jax.make_jaxpr(jax.grad(       # noqa: E731
        lambda v: L.max_pool(win).apply({}, {}, v)[0].sum()))(x)
    x = jnp.ones((1, 28, 28, 2))
    assert "cumsum" in str(grad(14, x)) and "cumsum" not in str(grad(2, x))
    monkeypatch.setattr(pooling.jax, "default_backend", lambda: "cpu")
    assert not pooling._mask_by_walk(2, 2)
