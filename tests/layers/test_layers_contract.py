"""The layer contract over every layer of nnfunc.layers: gradients vs finite differences,
jit/vmap and output shapes, params named by path, shape inference, the name and children
of containers, and input validation (a table of bad constructions and bad inputs)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nnfunc as nf
from nnfunc import layers as L
from _layers_setup import KEY, float_input, ids_input


CASES = {
    "dense": (lambda: L.dense(3), (4,), 5, False, float_input),
    "dense_nobias": (lambda: L.dense(3, use_bias=False), (2, 4), 3, False, float_input),
    "conv2d_same": (lambda: L.conv2d(3, 3), (6, 6, 2), 2, False, float_input),
    "conv2d_valid_strided_dilated": (
        lambda: L.conv2d(2, (3, 2), stride=2, padding="VALID", dilation=(1, 2)),
        (7, 8, 2), 2, False, float_input),
    "conv2d_int_padding": (lambda: L.conv2d(2, 3, padding=1, stride=(2, 1)), (5, 5, 3), 2,
                           False, float_input),
    "max_pool": (lambda: L.max_pool(2), (6, 6, 2), 2, False, float_input),
    "max_pool_padded": (lambda: L.max_pool(3, 2, padding=1), (5, 5, 2), 2, False,
                        float_input),
    "avg_pool": (lambda: L.avg_pool(2), (6, 6, 2), 2, False, float_input),
    "avg_pool_same_exclude_pad": (lambda: L.avg_pool(3, 2, padding="SAME",
                                                     count_include_pad=False),
                                  (5, 5, 2), 2, False, float_input),
    "flatten": (lambda: L.flatten(), (3, 2, 2), 3, False, float_input),
    "dropout_train": (lambda: L.dropout(0.3), (8,), 4, True, float_input),
    "batch_norm_train_nc": (lambda: L.batch_norm(), (3,), 6, True, float_input),
    "batch_norm_train_nhwc": (lambda: L.batch_norm(momentum=0.2), (3, 3, 2), 2, True,
                              float_input),
    "batch_norm_eval": (lambda: L.batch_norm(), (3,), 4, False, float_input),
    "layer_norm": (lambda: L.layer_norm(), (2, 5), 3, False, float_input),
    "embedding": (lambda: L.embedding(10, 3), (4,), 2, False, ids_input),
    "activation": (lambda: L.activation(nf.activations.tanh), (4,), 3, False, float_input),
    "serial": (lambda: L.serial(L.dense(5), L.activation(nf.activations.tanh), L.dense(2)),
               (3,), 4, False, float_input),
    "serial_train": (lambda: L.serial(L.dense(5), L.batch_norm(), L.dropout(0.5), L.dense(2)),
                     (3,), 6, True, float_input),
    "parallel_concat": (lambda: L.parallel(L.dense(2), L.dense(3)), (4,), 3, False,
                        float_input),
    "parallel_add": (lambda: L.parallel(L.dense(2), L.dense(2), merge="add"), (4,), 3, False,
                     float_input),
    "residual": (lambda: L.residual(L.dense(4), L.activation(nf.activations.tanh)), (4,), 3,
                 False, float_input),
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
    x = np.asarray(x, dtype) if make_x is float_input else x
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


@pytest.mark.parametrize("build", [
    lambda: L.dropout(np.float32(0.5)),
    lambda: L.batch_norm(momentum=np.float32(0.5), eps=np.float64(1e-5)),
    lambda: nf.models.mlp([3, 4, 2], dropout=np.float32(0.25)),
])
def test_numpy_scalar_arguments_are_accepted(build):
    """They used to be refused with 'must be in [0, 1), got np.float32(0.5)'."""
    build()
