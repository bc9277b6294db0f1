"""The raw JAX + optax peer: hand-written models and one ``jit``-ed ``lax.scan`` epoch.

It does the same work as ``nf.train.make_epoch``: shuffle on the device with a key, cut the
epoch into full batches (the remainder is dropped), and scan Adam steps over them.
"""
from __future__ import annotations

import functools
import math
from typing import Any, Dict, List

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from common.runner import EpochRunner, repeat_epochs
from common.timing import jax_sync


def _uniform(key, shape, fan_in):
    bound = 1.0 / math.sqrt(fan_in)      # torch's default nn.Linear / nn.Conv2d rule
    return jax.random.uniform(key, shape, jnp.float32, -bound, bound)


def init_mlp(key, sizes) -> List[Dict[str, jax.Array]]:
    """``[{'w', 'b'}, ...]`` for the widths ``sizes``, torch's default initialisation."""
    params = []
    for k, (i, o) in zip(jax.random.split(key, len(sizes) - 1), zip(sizes[:-1], sizes[1:])):
        kw, kb = jax.random.split(k)
        params.append({"w": _uniform(kw, (i, o), i), "b": _uniform(kb, (o,), i)})
    return params


def apply_mlp(params, x):
    """ReLU hidden layers, linear output."""
    for layer in params[:-1]:
        x = jax.nn.relu(x @ layer["w"] + layer["b"])
    return x @ params[-1]["w"] + params[-1]["b"]


def _init_cnn(key) -> Dict[str, Dict[str, jax.Array]]:
    k = jax.random.split(key, 10)
    conv = lambda kw, kb, c_in, c_out: {"w": _uniform(kw, (5, 5, c_in, c_out), 25 * c_in),
                                        "b": _uniform(kb, (c_out,), 25 * c_in)}
    dense = lambda kw, kb, i, o: {"w": _uniform(kw, (i, o), i), "b": _uniform(kb, (o,), i)}
    return {"c1": conv(k[0], k[1], 1, 6), "c2": conv(k[2], k[3], 6, 16),
            "d1": dense(k[4], k[5], 400, 120), "d2": dense(k[6], k[7], 120, 84),
            "d3": dense(k[8], k[9], 84, 10)}


def _conv(x, p, padding):
    y = lax.conv_general_dilated(x, p["w"], (1, 1), padding,
                                 dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return y + p["b"]


def _pool(x):
    return lax.reduce_window(x, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")


def _apply_cnn(params, x):
    x = _pool(jax.nn.relu(_conv(x, params["c1"], ((2, 2), (2, 2)))))
    x = _pool(jax.nn.relu(_conv(x, params["c2"], "VALID")))
    x = x.reshape(x.shape[0], -1)
    x = jax.nn.relu(x @ params["d1"]["w"] + params["d1"]["b"])
    x = jax.nn.relu(x @ params["d2"]["w"] + params["d2"]["b"])
    return x @ params["d3"]["w"] + params["d3"]["b"]


def forward_fn(model: str, mlp_sizes) -> tuple[Any, Any]:
    """``(init(key), apply(params, x))`` of the hand-written ``model`` (``'mlp'``/``'cnn'``)."""
    if model == "mlp":
        return (lambda key: init_mlp(key, mlp_sizes)), apply_mlp
    return _init_cnn, _apply_cnn


def epoch_program(model: str, mlp_sizes, batch_size: int, n_samples: int, *,
                  learning_rate: float = 1e-3):
    """``(init, tx, epoch)``: the model's initialiser, the optax Adam and the jitted epoch
    ``(params, opt_state, key, X, Y) -> (params, opt_state, key, mean loss)``."""
    import optax

    init, apply = forward_fn(model, mlp_sizes)
    tx = optax.adam(learning_rate)
    n_batches = n_samples // batch_size

    def loss_fn(params, x, y):
        logits = apply(params, x)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    def train_step(carry, batch):
        params, opt_state = carry
        loss, grads = jax.value_and_grad(loss_fn)(params, *batch)
        updates, opt_state = tx.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), loss

    @jax.jit
    def epoch(params, opt_state, key, X, Y):
        key, sub = jax.random.split(key)
        perm = jax.random.permutation(sub, X.shape[0])[: n_batches * batch_size]
        xb = X[perm].reshape((n_batches, batch_size) + X.shape[1:])
        yb = Y[perm].reshape(n_batches, batch_size)
        (params, opt_state), losses = lax.scan(train_step, (params, opt_state), (xb, yb))
        return params, opt_state, key, losses.mean()

    return init, tx, epoch


def build(model: str, mlp_sizes, batch_size: int, X: jax.Array, Y: jax.Array,
          device: jax.Device, *, learning_rate: float = 1e-3, seed: int = 0,
          warmup_epochs: int = 1) -> EpochRunner:
    """A raw JAX + optax Adam epoch runner on data already on ``device``."""
    init, tx, epoch = epoch_program(model, mlp_sizes, batch_size, X.shape[0],
                                    learning_rate=learning_rate)
    n_batches = X.shape[0] // batch_size
    with jax.default_device(device):
        params = init(jax.random.key(seed))
        # Everything committed to the device, as the outputs will be: a mix of committed
        # and uncommitted inputs would compile the epoch a second time on the next call.
        carry = jax.device_put((params, tx.init(params), jax.random.key(seed + 1)), device)
    state = {"carry": carry, "loss": None}

    def run_epoch():
        params, opt_state, key, loss = epoch(*state["carry"], X, Y)
        state["carry"], state["loss"] = (params, opt_state, key), loss
        return state["carry"], loss

    return EpochRunner(warmup=repeat_epochs(run_epoch, warmup_epochs), run_epoch=run_epoch,
                       sync=jax_sync, samples=n_batches * batch_size,
                       last_loss=lambda: float(np.asarray(state["loss"])))


def scan_epoch_runner(loss, params, tx, batch_size: int, *data: jax.Array):
    """``run()``: one raw JAX + optax epoch, blocking until done, as ``nf.train.make_epoch``
    runs it: the key split on the device, a permutation cut into full batches, and a
    ``lax.scan`` of steps that each gather their batch of every array in ``data`` and
    update with ``tx`` on ``loss(params, *batch)``; the carried state is donated."""
    import optax

    @functools.partial(jax.jit, donate_argnums=(0, 1))
    def epoch(params, opt_state, key, *data):
        def step(carry, idx):
            params, opt_state = carry
            l, g = jax.value_and_grad(loss)(params, *(d[idx] for d in data))
            updates, opt_state = tx.update(g, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), l

        key, k = jax.random.split(key)
        n = data[0].shape[0]
        steps = n // batch_size
        idx = jax.random.permutation(k, n)[: steps * batch_size].reshape(steps, batch_size)
        (params, opt_state), losses = jax.lax.scan(step, (params, opt_state), idx)
        return params, opt_state, key, losses.mean()

    box = [params, tx.init(params), jax.random.key(1)]

    def run():
        *box[:], l = epoch(*box, *data)
        jax.block_until_ready(l)
    return run
