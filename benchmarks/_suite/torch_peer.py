"""The PyTorch eager peer: the same models, ``torch.optim.Adam`` and cross-entropy.

Data live on the torch device; each epoch draws a permutation there, gathers once and
slices full batches (the remainder is dropped), like the JAX variants.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from _suite.runner import EpochRunner


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


def build(model: str, mlp_sizes, batch_size: int, X: np.ndarray, Y: np.ndarray,
          device: str, *, learning_rate: float = 1e-3, seed: int = 0,
          warmup_steps: int = 3) -> EpochRunner:
    """A torch eager Adam epoch runner; ``X`` is float32 ``(N, 784)`` or ``(N, 28, 28, 1)``."""
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

    def train_step(xb, yb):
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(net(xb), yb)
        loss.backward()
        opt.step()
        return loss.detach()

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
        for i in range(min(warmup_steps, n_batches)):
            sl = slice(i * batch_size, (i + 1) * batch_size)
            train_step(x[sl], y[sl])

    def sync(_):
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    return EpochRunner(warmup=warmup, run_epoch=run_epoch, sync=sync,
                       samples=n_batches * batch_size,
                       last_loss=lambda: float(state["loss"].item()),
                       extra={"torch_threads": torch.get_num_threads()})
