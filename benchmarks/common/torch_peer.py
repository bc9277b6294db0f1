"""The PyTorch peers: the same models, ``torch.optim.Adam`` and cross-entropy, eager or
through ``torch.compile``.

Data live on the torch device; each epoch draws a permutation there, gathers once and
slices full batches (the remainder is dropped), like the JAX variants.

The compiled peer is what a PyTorch user who cares about speed writes: the forward pass
and the loss compiled together (``torch.compile(mode=...)``; ``'reduce-overhead'``
replays CUDA graphs on a GPU, which removes PyTorch's per-kernel launch cost), and the
optimizer step compiled as PyTorch's tutorial does it (``torch.compile(fullgraph=False)``
around ``opt.step()``). Its compilation happens in the warm-up and is reported as the
row's ``compile_s``.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from common.runner import EpochRunner


def available() -> Optional[str]:
    """The installed torch version, or ``None`` when torch cannot be imported."""
    try:
        import torch
    except Exception:  # any import failure means: no torch peer
        return None
    return torch.__version__


def cuda_device_name() -> Optional[str]:
    """Name of the CUDA device torch would use, or ``None`` without CUDA."""
    import torch
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def _model(model: str, mlp_sizes):
    from torch import nn
    if model == "mlp":
        layers = []
        for i, o in zip(mlp_sizes[:-2], mlp_sizes[1:-1]):
            layers += [nn.Linear(i, o), nn.ReLU()]
        return nn.Sequential(*layers, nn.Linear(mlp_sizes[-2], mlp_sizes[-1]))
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))


# Untimed steps before timing the compiled peer: the first compiles, and with CUDA graphs
# the next ones record them (cudagraph trees warm up, then record, then replay).
COMPILED_WARMUP_STEPS = 5


def build(model: str, mlp_sizes, batch_size: int, X: np.ndarray, Y: np.ndarray,
          device: str, *, learning_rate: float = 1e-3, seed: int = 0,
          warmup_steps: int = 3, compile_mode: Optional[str] = None) -> EpochRunner:
    """A torch Adam epoch runner, eager or (``compile_mode``, e.g. ``'reduce-overhead'``)
    compiled; ``X`` is float32 ``(N, 784)`` or ``(N, 28, 28, 1)``."""
    import time

    import torch
    import torch.nn.functional as F

    torch.manual_seed(seed)
    dev = torch.device(device)
    x = torch.from_numpy(np.ascontiguousarray(X))
    if x.ndim == 4:                       # NHWC -> NCHW, torch's layout
        x = x.permute(0, 3, 1, 2).contiguous()
    x = x.to(dev)
    y = torch.from_numpy(np.asarray(Y, dtype=np.int64)).to(dev)
    net = _model(model, mlp_sizes).to(dev)
    opt = torch.optim.Adam(net.parameters(), lr=learning_rate)
    n_batches = x.shape[0] // batch_size
    gen = torch.Generator(device=dev)
    gen.manual_seed(seed + 1)
    state: dict[str, Any] = {"loss": None}

    def loss_of(xb, yb):
        return F.cross_entropy(net(xb), yb)

    opt_step, mark_step = opt.step, lambda: None
    if compile_mode is not None:
        torch._dynamo.reset()   # each case compiles from scratch, as its compile_s says
        loss_of = torch.compile(loss_of, mode=compile_mode)
        opt_step = torch.compile(opt.step, fullgraph=False)
        mark_step = torch.compiler.cudagraph_mark_step_begin
        warmup_steps = max(warmup_steps, COMPILED_WARMUP_STEPS)

    def train_step(xb, yb):
        mark_step()             # a new iteration: earlier CUDA-graph outputs may be reused
        opt.zero_grad(set_to_none=True)
        loss = loss_of(xb, yb)
        loss.backward()
        opt_step()
        # compiled: a copy, since a replayed CUDA graph overwrites its outputs next step
        return loss.detach().clone() if compile_mode is not None else loss.detach()

    def run_epoch():
        perm = torch.randperm(x.shape[0], device=dev, generator=gen)[: n_batches * batch_size]
        xs, ys = x[perm], y[perm]
        losses = []
        for i in range(n_batches):
            sl = slice(i * batch_size, (i + 1) * batch_size)
            losses.append(train_step(xs[sl], ys[sl]))
        state["loss"] = torch.stack(losses).mean()
        return None

    def warmup():
        t0 = time.perf_counter()
        # batches made as run_epoch makes them (slices of a gathered copy): torch.compile
        # guards on a view's base, and slices of x itself recompiled the CNN's step in the
        # first timed epoch (1.4 s on the CPU)
        idx = torch.arange(n_batches * batch_size, device=dev)
        xs, ys = x[idx], y[idx]
        for i in range(warmup_steps):
            sl = slice((i % n_batches) * batch_size, (i % n_batches + 1) * batch_size)
            train_step(xs[sl], ys[sl])
        sync(None)
        extra["compile_s"] = time.perf_counter() - t0

    def sync(_):
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    extra = {"torch_threads": torch.get_num_threads(), "compile_mode": compile_mode}
    return EpochRunner(warmup=warmup, run_epoch=run_epoch, sync=sync,
                       samples=n_batches * batch_size,
                       last_loss=lambda: float(state["loss"].item()), extra=extra)
