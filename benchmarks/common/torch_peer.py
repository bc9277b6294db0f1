"""The PyTorch peers, written once: the throughput suite's (the same models,
``torch.optim.Adam`` and cross-entropy, eager or through ``torch.compile``) and the MNIST
speedrun's recipe (``RecipeRunner``).

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


def to_torch(X: np.ndarray, Y: np.ndarray, device: Any):
    """``(x, y)`` on the torch ``device``: float32 images NHWC -> NCHW (torch's layout;
    other shapes as they are), labels int64."""
    import torch
    x = torch.from_numpy(np.ascontiguousarray(X))
    if x.ndim == 4:
        x = x.permute(0, 3, 1, 2).contiguous()
    return x.to(device), torch.from_numpy(np.asarray(Y, dtype=np.int64)).to(device)


def synchronize(device: Any) -> None:
    """Wait for the device's queued work (a no-op on the CPU)."""
    import torch
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


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
    x, y = to_torch(X, Y, dev)
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
        synchronize(dev)

    extra = {"torch_threads": torch.get_num_threads(), "compile_mode": compile_mode}
    return EpochRunner(warmup=warmup, run_epoch=run_epoch, sync=sync,
                       samples=n_batches * batch_size,
                       last_loss=lambda: float(state["loss"].item()), extra=extra)


class RecipeRunner:
    """The MNIST speedrun's recipe in PyTorch: conv 5x5x24 -> pool -> ReLU -> conv 3x3x32
    -> pool -> ReLU -> dense 256 -> ReLU -> dense 10 (optional batch-norm after each
    convolution), Adam(lr, betas (0.7, 0.9)) under ``OneCycleLR`` over ``epochs``,
    cross-entropy (``label_smoothing``), optional random translation by up to
    ``translate`` pixels; the data on the device, shuffled there every epoch, the last
    partial batch dropped. ``data``: ``(x, y, x_test, y_test)``, NHWC float32 images."""

    def __init__(self, data, device: str, *, batch_size: int, epochs: int, lr: float,
                 bn: bool = False, label_smoothing: float = 0.0, translate: int = 0):
        import torch
        self.torch, self.dev = torch, torch.device(device)
        self.batch_size, self.lr, self.bn = batch_size, lr, bn
        self.label_smoothing, self.translate = label_smoothing, translate
        x, y, xt, yt = data
        self.x, self.y = to_torch(x, y, self.dev)
        self.xt, self.yt = to_torch(xt, yt, self.dev)
        self.n_test = len(yt)
        self.steps = len(x) // batch_size
        self.total = self.steps * epochs

    def model(self):
        """A freshly initialised network of the recipe, on the device."""
        nn = self.torch.nn
        bn = self.bn
        c1 = [nn.Conv2d(1, 24, 5, bias=not bn)] + ([nn.BatchNorm2d(24)] if bn else [])
        c2 = [nn.Conv2d(24, 32, 3, bias=not bn)] + ([nn.BatchNorm2d(32)] if bn else [])
        return nn.Sequential(*c1, nn.MaxPool2d(2), nn.ReLU(), *c2, nn.MaxPool2d(2), nn.ReLU(),
                             nn.Flatten(), nn.Linear(800, 256), nn.ReLU(),
                             nn.Linear(256, 10)).to(self.dev)

    def shift(self, xb, gen):
        """Per-example random shift of up to ``translate`` pixels, zero fill: pad, then
        one gather."""
        torch, k = self.torch, self.translate
        n, c, h, w = xb.shape
        xp = torch.nn.functional.pad(xb, (k, k, k, k))
        oy = torch.randint(0, 2 * k + 1, (n,), device=self.dev, generator=gen)
        ox = torch.randint(0, 2 * k + 1, (n,), device=self.dev, generator=gen)
        rows = (oy[:, None] + torch.arange(h, device=self.dev))[:, None, :, None]
        cols = (ox[:, None] + torch.arange(w, device=self.dev))[:, None, None, :]
        idx_n = torch.arange(n, device=self.dev)[:, None, None, None]
        idx_c = torch.arange(c, device=self.dev)[None, :, None, None]
        return xp[idx_n, idx_c, rows, cols]

    def train(self, seed: int, max_epochs: int, stop=lambda accuracy: False,
              steps_limit=None):
        """``(seconds, test accuracies, mean losses)`` per epoch, stopping after the first
        epoch whose test accuracy satisfies ``stop``; ``steps_limit``: only that many
        steps of one epoch, unevaluated (a warm-up), and only the seconds."""
        import time
        torch, F = self.torch, self.torch.nn.functional
        torch.manual_seed(seed)
        gen = torch.Generator(device=self.dev)
        gen.manual_seed(seed)
        model = self.model()
        opt = torch.optim.Adam(model.parameters(), lr=self.lr, betas=(0.7, 0.9))
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=self.lr,
                                                    total_steps=self.total)
        seconds, accs, losses, step = [], [], [], 0
        for _ in range(max_epochs):
            model.train()
            synchronize(self.dev)
            t0 = time.perf_counter()
            perm = torch.randperm(len(self.x), device=self.dev, generator=gen)
            loss_sum = torch.zeros((), device=self.dev)
            n_steps = self.steps if steps_limit is None else steps_limit
            for i in range(n_steps):
                idx = perm[i * self.batch_size:(i + 1) * self.batch_size]
                xb, yb = self.x[idx], self.y[idx]
                if self.translate:
                    xb = self.shift(xb, gen)
                opt.zero_grad(set_to_none=True)
                loss = F.cross_entropy(model(xb), yb, label_smoothing=self.label_smoothing)
                loss.backward()
                opt.step()
                step += 1
                if step < self.total:   # past the cycle the lr stays at its last value
                    sched.step()
                loss_sum += loss.detach()
            mean_loss = float(loss_sum) / n_steps      # reads back: synchronises
            synchronize(self.dev)
            seconds.append(time.perf_counter() - t0)
            losses.append(mean_loss)
            if steps_limit is not None:
                return seconds
            accs.append(self.evaluate(model))
            if stop(accs[-1]):
                break
        return seconds, accs, losses

    def evaluate(self, model) -> float:
        """Test accuracy of ``model`` (batches of 2000, no gradients)."""
        torch = self.torch
        model.eval()
        correct = 0
        with torch.no_grad():
            for i in range(0, len(self.xt), 2000):
                out = model(self.xt[i:i + 2000])
                correct += int((out.argmax(1) == self.yt[i:i + 2000]).sum())
        return correct / len(self.xt)
