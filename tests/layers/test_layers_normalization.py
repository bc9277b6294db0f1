"""Tests of batch_norm and layer_norm against torch (embedding rides along in the
layer_norm oracle test)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nnfunc import layers as L
from _layers_setup import KEY, float_input, ids_input, to_nchw, to_nhwc


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
        ref = tbn(torch.from_numpy(to_nchw(x) if image else x)).detach().numpy()
        np.testing.assert_allclose(y, to_nhwc(ref) if image else ref, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(state["mean"], tbn.running_mean.numpy(), rtol=1e-12)
        np.testing.assert_allclose(state["var"], tbn.running_var.numpy(), rtol=1e-12)
    tbn.eval()
    x = rng.standard_normal((3, *shape))
    y, state_eval = apply(params, state, jnp.asarray(x), train=False)
    ref = tbn(torch.from_numpy(to_nchw(x) if image else x)).detach().numpy()
    np.testing.assert_allclose(y, to_nhwc(ref) if image else ref, rtol=1e-10, atol=1e-10)
    for k in ("mean", "var"):
        np.testing.assert_array_equal(state_eval[k], state[k])


def test_batch_norm_running_stats_carry_no_gradient():
    layer = L.batch_norm()
    params, state = layer.init(KEY, (2,))
    x = jnp.asarray(float_input((5, 2)), jnp.float32)
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
    ids = ids_input((3, 5), high=7)
    y, _ = emb.apply(params, state, jnp.asarray(ids))
    ref = torch.nn.functional.embedding(torch.from_numpy(ids),
                                        torch.from_numpy(np.array(params["w"])))
    np.testing.assert_array_equal(y, ref.numpy())
