"""The runs-inside program of ``nf.train.sweep`` advanced one epoch per call, for the
benchmarks that compare sweep layouts (``common.nnfunc_bench.sweep_epoch_program(...,
runs_inside=True)`` builds it through here).

It calls nnfunc's internals (``nnfunc.train._runs_inside`` and ``_program.step_body``),
which is why it lives with the investigations and not in ``benchmarks/common``.
"""
from __future__ import annotations

import jax.numpy as jnp


def runs_inside_epoch(model, opt, loss_fn, batch_size, runs_first):
    """``sweep_epoch(stacked, X, Y) -> (stacked, metrics)`` (not jitted): the epoch of
    ``nf.train.sweep``'s runs-inside layout, a scan of the ``vmap``-ped step, on a
    runs-first stacked ``TrainState`` whose runs share one key; ``runs_first``: the
    runs-first epoch, used when no weight moves (then both layouts are one program)."""
    from nnfunc.train import _runs_inside as inside
    from nnfunc.train._program import ProgramSpec, step_body
    body = step_body(ProgramSpec(model, opt, loss_fn))

    def sweep_epoch(stacked, X, Y):
        runs = stacked.step.shape[0]
        full = stacked._replace(key=jnp.broadcast_to(stacked.key, (runs,)))
        lay = inside.layout(body, full, X, Y, batch_size, None)
        if lay is None:             # no weight moves: the same program as runs first
            return runs_first(stacked, X, Y)
        ts, m = inside.epoch(body, lay, None, batch_size)(inside.to_inside(full, lay), X, Y)
        ts = inside.to_first(ts, lay, runs)
        return ts._replace(key=ts.key[0]), m
    return sweep_epoch
