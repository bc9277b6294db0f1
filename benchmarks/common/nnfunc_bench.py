"""nnfunc's three variants: per-step jitted loop, fused epoch, and a sweep of 8 runs.

* ``step``: ``nf.train.make_step`` called from Python once per batch. Each epoch the
  data are shuffled and cut into batches on the device by one jitted call, so the loop
  pays exactly one dispatch per training step.
* ``epoch``: ``nf.train.make_epoch``, the whole epoch (shuffle included) as one program.
* ``sweep8``: the fused epoch ``vmap``-ped over 8 training states that differ in their
  learning rate (``nf.train.sweep``'s program), advancing all 8 runs; its ``samples``
  count every run's samples (``runs * samples per run``).
"""
from __future__ import annotations

import functools
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

import nnfunc as nf
from common.runner import EpochRunner, repeat_epochs
from common.timing import jax_sync


@functools.lru_cache(maxsize=None)
def model_and_shape(model: str, mlp_sizes: Sequence[int]):
    """The nnfunc model and its per-example input shape (one object per model, so that
    nnfunc's caches of compiled steps and epochs are shared between variants)."""
    if model == "mlp":
        return (nf.models.mlp(list(mlp_sizes), activation=nf.activations.relu),
                (mlp_sizes[0],))
    return nf.models.cnn(10), (28, 28, 1)


@functools.lru_cache(maxsize=None)
def adam(learning_rate: float):
    """The suite's ``nf.optim.adam`` (one object per learning rate, so that nnfunc's caches
    of compiled programs are shared between variants)."""
    return nf.optim.adam(learning_rate=learning_rate)


def loss():
    """The suite's loss: softmax cross-entropy on integer labels."""
    return nf.losses.softmax_cross_entropy_with_integer_labels


@functools.lru_cache(maxsize=None)
def _jittedinit(model, opt, shape):
    # One compiled program instead of one small compilation per parameter shape.
    return jax.jit(lambda key: nf.train.init_state(model, opt, key, shape))


def init(model, opt, seed, shape, device):
    """``nf.train.init_state(model, opt, key(seed), shape)`` as one compiled program,
    committed to ``device``."""
    with jax.default_device(device):
        return jax.device_put(_jittedinit(model, opt, shape)(jax.random.key(seed)), device)


def build_step(model_name: str, mlp_sizes, batch_size: int, X: jax.Array, Y: jax.Array,
               device: jax.Device, *, learning_rate: float = 1e-3, seed: int = 0,
               warmup_steps: int = 3) -> EpochRunner:
    """Per-step jitted loop: ``ts, m = step(ts, x_b, y_b)`` from Python for every batch."""
    model, shape = model_and_shape(model_name, mlp_sizes)
    opt = adam(learning_rate)
    step = nf.train.make_step(model, opt, loss(), donate=True)   # the loop owns ts
    n_batches = X.shape[0] // batch_size

    @jax.jit
    def shuffled_batches(key, X, Y):
        key, sub = jax.random.split(key)
        perm = jax.random.permutation(sub, X.shape[0])
        xs, ys = X[perm], Y[perm]
        cut = lambda a: [a[i * batch_size:(i + 1) * batch_size] for i in range(n_batches)]
        return key, cut(xs), cut(ys)

    with jax.default_device(device):
        state = {"ts": init(model, opt, seed, shape, device),
                 "key": jax.device_put(jax.random.key(seed + 1), device), "m": None}

    def run_steps(limit=None):
        state["key"], xbs, ybs = shuffled_batches(state["key"], X, Y)
        ts = state["ts"]
        for xb, yb in list(zip(xbs, ybs))[:limit]:
            ts, state["m"] = step(ts, xb, yb)
        state["ts"] = ts
        return ts

    return EpochRunner(warmup=lambda: run_steps(warmup_steps), run_epoch=run_steps,
                       sync=jax_sync, samples=n_batches * batch_size,
                       last_loss=lambda: float(state["m"]["loss"]))


def build_epoch(model_name: str, mlp_sizes, batch_size: int, X: jax.Array, Y: jax.Array,
                device: jax.Device, *, learning_rate: float = 1e-3, seed: int = 0,
                warmup_epochs: int = 1) -> EpochRunner:
    """Fused epoch: one call of ``nf.train.make_epoch`` per epoch."""
    model, shape = model_and_shape(model_name, mlp_sizes)
    opt = adam(learning_rate)
    epoch = nf.train.make_epoch(model, opt, loss(), batch_size, donate=True)
    state = {"ts": init(model, opt, seed, shape, device), "m": None}

    def run_epoch():
        state["ts"], state["m"] = epoch(state["ts"], X, Y)
        return state["ts"]

    return EpochRunner(warmup=repeat_epochs(run_epoch, warmup_epochs), run_epoch=run_epoch,
                       sync=jax_sync, samples=(X.shape[0] // batch_size) * batch_size,
                       last_loss=lambda: float(state["m"]["loss"]))


def sweep_epoch_program(model_name: str, mlp_sizes, batch_size: int,
                        base_learning_rate: float = 1e-3, *, runs_inside: bool = False):
    """``(opt, sweep_epoch)``: the fused epoch ``vmap``-ped over a leading run axis of
    every part of the ``TrainState`` except its key, which the runs share (jitted, the
    stacked state donated). ``runs_inside``: the program ``nf.train.sweep`` compiles
    with its runs-inside layout, a scan of the ``vmap``-ped step, on the same runs-first
    state (moved in and out once per epoch); built by ``investigations.sweep_inside``,
    since it needs nnfunc's internals."""
    model, _ = model_and_shape(model_name, mlp_sizes)
    opt = adam(base_learning_rate)
    axes = nf.train.TrainState(params=0, model_state=0, opt_state=0, step=0, key=None)
    epoch = nf.train.make_epoch(model, opt, loss(), batch_size, donate=False)
    runs_first = jax.vmap(epoch, in_axes=(axes, None, None), out_axes=(axes, 0))
    if not runs_inside:
        return opt, jax.jit(runs_first, donate_argnums=(0,))
    # nnfunc's runs-inside program is internal: its builder lives with the investigations,
    # which may use internals (see benchmarks/investigations/sweep_inside.py)
    from investigations import sweep_inside
    program = sweep_inside.runs_inside_epoch(model, opt, loss(), batch_size, runs_first)
    return opt, jax.jit(program, donate_argnums=(0,))


def build_sweep(model_name: str, mlp_sizes, batch_size: int, X: jax.Array, Y: jax.Array,
                device: jax.Device, *, learning_rates: Sequence[float], seed: int = 0,
                warmup_epochs: int = 1, base_learning_rate: float = 1e-3,
                runs_inside: bool = False) -> EpochRunner:
    """Sweep: the fused epoch ``vmap``-ped over ``len(learning_rates)`` runs.

    The program ``nf.train.sweep(model, opt, loss, (X, Y), hparams={'learning_rate':
    lrs})`` compiles, advanced one epoch per call so that compilation stays out of the
    clock: every run starts from the same key (so, as in ``sweep`` without ``seeds``,
    the runs share initial parameters and data order and the shuffle is computed once)
    and has its own learning rate in its optimizer state (``set_hparams`` under ``vmap``).
    """
    model, shape = model_and_shape(model_name, mlp_sizes)
    opt, sweep_epoch = sweep_epoch_program(model_name, mlp_sizes, batch_size,
                                           base_learning_rate, runs_inside=runs_inside)
    with jax.default_device(device):
        ts0 = init(model, opt, seed, shape, device)
        stacked = jax.vmap(lambda lr: ts0._replace(
            opt_state=nf.optim.set_hparams(ts0.opt_state, learning_rate=lr)))(
                jnp.asarray(learning_rates, jnp.float32))
        stacked = jax.device_put(stacked._replace(key=ts0.key), device)
    state = {"ts": stacked, "m": None}

    def run_epoch():
        state["ts"], state["m"] = sweep_epoch(state["ts"], X, Y)
        return state["ts"]

    runs = len(learning_rates)
    return EpochRunner(warmup=repeat_epochs(run_epoch, warmup_epochs), run_epoch=run_epoch,
                       sync=jax_sync, samples=runs * (X.shape[0] // batch_size) * batch_size,
                       runs=runs,
                       last_loss=lambda: float(np.mean(np.asarray(state["m"]["loss"]))))
