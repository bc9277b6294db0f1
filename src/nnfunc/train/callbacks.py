"""Callbacks for :func:`nnfunc.train.fit`: early stopping, checkpoints, learning-rate
logging, reduce-on-plateau, live training curves and user hooks.

A callback is an object with any of ``on_train_begin(run)``, ``on_epoch_end(run)`` and
``on_train_end(run)``. ``run`` is the :class:`Run` of the current ``fit``: callbacks read
``run.logs`` (this epoch's history entries) and ``run.history``, may replace
``run.state`` (a new ``TrainState``: the next epoch starts from it) and may set
``run.stop = True`` to end training after this epoch. Callbacks run in list order,
except that :class:`Checkpoint` callbacks run after the others at the end of an epoch, so
that the file holds every callback's state after that epoch.

A callback whose state must survive ``fit(..., resume=path)`` defines ``state_dict()``
(a dict of JSON values: numbers, strings, lists, ``None``; or ``TrainState`` values) and
``load_state_dict(d)``; ``fit`` calls the latter after ``on_train_begin``.
"""
from __future__ import annotations

import glob
import io
import math
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from nnfunc import schedules as _schedules
from nnfunc._checks import check_int
from nnfunc._mpl import pyplot
from nnfunc.optim import get_hparams, set_hparams
from nnfunc.train.checkpoint import write_checkpoint
from nnfunc.train.state import TrainState, copy_state

__all__ = ["Run", "Callback", "EarlyStopping", "Checkpoint", "ReduceLROnPlateau",
           "LearningRateLogger", "LambdaCallback", "LivePlot"]


@dataclass
class Run:
    """What callbacks see of a running ``fit``.

    Attributes:
      state: the current ``TrainState`` (replace it to change the run).
      epoch: the 0-based index of the epoch that just ended (``-1`` before the first).
      epochs: the number of epochs requested.
      history: ``{name: [one value per finished epoch]}``.
      logs: this epoch's entries of ``history`` (``{}`` before the first epoch).
      stop: set to ``True`` to stop after this epoch.
      callbacks: the run's callbacks (what a :class:`Checkpoint` saves the state of).
    """

    state: TrainState
    epochs: int
    epoch: int = -1
    history: dict = field(default_factory=dict)
    logs: dict = field(default_factory=dict)
    stop: bool = False
    callbacks: Sequence[Any] = ()


def callback_key(cb: Any) -> str:
    """What identifies a callback's saved state in a checkpoint: its type and monitor."""
    mon = getattr(cb, "monitor", None)
    return type(cb).__name__ + (f"[{mon}]" if isinstance(mon, str) else "")


def run_record(run: Run) -> tuple[dict, dict]:
    """``(record, trees)`` of a run for its checkpoint: epochs done, the history and each
    stateful callback's ``state_dict()`` (``TrainState`` values go to ``trees``)."""
    states, trees = [], {}
    for i, cb in enumerate(run.callbacks):
        if not callable(getattr(cb, "state_dict", None)):
            continue
        d = {}
        for k, v in cb.state_dict().items():
            if isinstance(v, TrainState):
                trees[f"[{i}].{k}"] = v
                v = {"__tree__": f"[{i}].{k}"}
            d[k] = v
        states.append({"key": callback_key(cb), "state": d})
    return {"epochs_done": run.epoch + 1, "history": run.history,
            "callbacks": states}, trees


class Callback:
    """Base class with no-op hooks; subclass and override any of them.

    Example:
      >>> class Count(Callback):
      ...     def __init__(self): self.n = 0
      ...     def on_epoch_end(self, run): self.n += 1
      >>> Count().n
      0
    """

    def on_train_begin(self, run: Run) -> None:
        """Called once before the first epoch."""

    def on_epoch_end(self, run: Run) -> None:
        """Called after each epoch (training, evaluation and history update)."""

    def on_train_end(self, run: Run) -> None:
        """Called once after the last epoch (also after an early stop)."""


def _monitored(run: Run, monitor: str) -> float:
    if monitor not in run.logs:
        raise ValueError(f"monitor {monitor!r} is not in the history; available: "
                         f"{sorted(run.logs)} (eval_* entries need eval_data=...)")
    return float(run.logs[monitor])


def _improves(value: float, best: Optional[float], mode: str, min_delta: float = 0.0) -> bool:
    """``value < best − min_delta`` (``'min'``) or ``value > best + min_delta`` (``'max'``);
    anything improves on ``best=None``."""
    if best is None:
        return True
    return value < best - min_delta if mode == "min" else value > best + min_delta


def checkpoint_files(directory: str, prefix: Optional[str] = None) -> list[str]:
    """The files ``{prefix}-{step:09d}.npz`` in ``directory`` (any prefix when ``None``),
    oldest step first; ``{prefix}-best.npz`` is not among them."""
    name = r"[\w.-]+" if prefix is None else re.escape(prefix)
    ok = re.compile(r"(^|[\\/])" + name + r"-(\d{9})\.npz$")
    pattern = os.path.join(glob.escape(directory), f"{prefix or '*'}-*.npz")
    found = [(m.group(2), p) for p in glob.glob(pattern) if (m := ok.search(p))]
    return [p for _, p in sorted(found)]


def _mode(mode: str, monitor: str) -> str:
    if mode == "auto":
        return "max" if "acc" in monitor else "min"
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    return mode


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience``
    epochs; optionally restore the state of the best epoch.

    Improvement (``'min'``): ``value < best − min_delta`` (``'max'``: ``value > best +
    min_delta``). After ``patience`` consecutive epochs without improvement training stops.
    With ``restore_best=True`` the final state is the one at the end of the best epoch.

    Args:
      monitor: a history name, e.g. ``'eval_loss'`` or ``'eval_accuracy'``.
      patience: epochs without improvement tolerated, >= 1.
      min_delta: the margin an improvement must beat, >= 0.
      mode: ``'min'``, ``'max'`` or ``'auto'`` (``'max'`` if the name contains ``'acc'``).
      restore_best: return the best epoch's state instead of the last one.

    Attributes:
      best: the best monitored value; best_epoch: its epoch; stopped_epoch: the epoch
      after which training stopped (``None`` if it did not).

    Example:
      >>> cb = EarlyStopping(monitor='eval_loss', patience=2, restore_best=True)
      >>> cb.mode
      'min'
    """

    def __init__(self, monitor: str = "eval_loss", *, patience: int = 5,
                 min_delta: float = 0.0, mode: str = "auto", restore_best: bool = False):
        self.monitor = monitor
        self.patience = check_int("patience", patience, minimum=1, allowed="an int >= 1")
        if not (isinstance(min_delta, (int, float)) and min_delta >= 0):
            raise ValueError(f"min_delta must be a number >= 0, got {min_delta!r}")
        self.min_delta = float(min_delta)
        self.mode = _mode(mode, monitor)
        self.restore_best = bool(restore_best)

    def on_train_begin(self, run: Run) -> None:
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch: Optional[int] = None
        self.stopped_epoch: Optional[int] = None
        self.wait = 0
        self._best_state: Optional[TrainState] = None

    def on_epoch_end(self, run: Run) -> None:
        value = _monitored(run, self.monitor)
        if _improves(value, self.best, self.mode, self.min_delta):
            self.best, self.best_epoch, self.wait = value, run.epoch, 0
            if self.restore_best:
                self._best_state = copy_state(run.state)
            return
        self.wait += 1
        if self.wait >= self.patience:
            run.stop = True
            self.stopped_epoch = run.epoch

    def on_train_end(self, run: Run) -> None:
        if self.restore_best and self._best_state is not None:
            run.state = self._best_state

    def state_dict(self) -> dict:
        """The best value and epoch, the epochs waited and (``restore_best``) the best
        state: what ``fit(..., resume=path)`` restores."""
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait,
                "stopped_epoch": self.stopped_epoch, "best_state": self._best_state}

    def load_state_dict(self, d: dict) -> None:
        self.best, self.best_epoch = float(d["best"]), d["best_epoch"]
        self.wait, self.stopped_epoch = int(d["wait"]), d["stopped_epoch"]
        self._best_state = d.get("best_state")


class Checkpoint(Callback):
    """Save the run every ``every`` epochs as ``{directory}/{prefix}-{step:09d}.npz``
    (``step`` = optimizer steps so far) and keep only the newest ``keep`` such files;
    with ``keep_best``, also keep the best epoch's as ``{prefix}-best.npz``.

    A file holds the ``TrainState`` (:func:`~nnfunc.train.load_checkpoint` reads it with
    a state template, :func:`~nnfunc.train.load_model` reads its params) and the run:
    the history, the epochs done and the callbacks' state (early stopping's best value
    and patience count, the plateau machine), so that ``fit(..., resume=file)`` continues
    the run exactly (see :func:`~nnfunc.train.fit`). In a multi-process run
    (``jax.distributed``) only process 0 writes. Each save is atomic; older files are
    deleted only after the new one is complete. :meth:`latest` finds the newest file.

    Args:
      directory: the folder (created if missing).
      every: save after every ``every``-th epoch, >= 1.
      keep: how many files to keep, >= 1.
      prefix: the file-name prefix.
      keep_best: a history name (e.g. ``'eval_loss'``): after every epoch whose value
        improves on the best so far, write ``{prefix}-best.npz``. ``None``: no best file.
      mode: ``'min'``, ``'max'`` or ``'auto'`` (``'max'`` if ``keep_best`` contains
        ``'acc'``): which direction is better.

    Attributes:
      best: the best ``keep_best`` value so far; best_epoch: its (0-based) epoch;
      best_path: the best file (``None`` before one is written).

    Example:
      >>> import tempfile
      >>> cb = Checkpoint(tempfile.mkdtemp(), every=2, keep=3, keep_best='eval_loss')
      >>> cb.latest() is None, cb.monitor
      (True, 'eval_loss')
    """

    def __init__(self, directory: str | os.PathLike, *, every: int = 1, keep: int = 3,
                 prefix: str = "checkpoint", keep_best: Optional[str] = None,
                 mode: str = "auto"):
        self.directory = os.fspath(directory)
        self.every = check_int("every", every, minimum=1, allowed="an int >= 1")
        self.keep = check_int("keep", keep, minimum=1, allowed="an int >= 1")
        if not re.fullmatch(r"[\w.-]+", prefix):
            raise ValueError(f"prefix must be letters, digits, '_', '-' or '.', got {prefix!r}")
        if keep_best is not None and not isinstance(keep_best, str):
            raise ValueError(f"keep_best must be None or a history name such as "
                             f"'eval_loss', got {keep_best!r}")
        self.prefix = prefix
        self.monitor = keep_best          # fit checks the name before the first epoch
        self.mode = None if keep_best is None else _mode(mode, keep_best)
        self.saved: list[str] = []
        self.best: Optional[float] = None
        self.best_epoch: Optional[int] = None

    @property
    def best_path(self) -> Optional[str]:
        path = os.path.join(self.directory, f"{self.prefix}-best.npz")
        return path if self.best_epoch is not None and os.path.exists(path) else None

    def files(self) -> list[str]:
        """This callback's checkpoint files in the folder, oldest first (not the best)."""
        return checkpoint_files(self.directory, self.prefix)

    def latest(self) -> Optional[str]:
        """The newest checkpoint file, or ``None``."""
        files = self.files()
        return files[-1] if files else None

    def on_epoch_end(self, run: Run) -> None:
        improved = self.monitor is not None and self._improved(_monitored(run, self.monitor),
                                                               run.epoch)
        if jax.process_index() != 0:
            return
        if improved:
            self._write(run, os.path.join(self.directory, f"{self.prefix}-best.npz"))
        if (run.epoch + 1) % self.every:
            return
        path = os.path.join(self.directory, f"{self.prefix}-{int(run.state.step):09d}.npz")
        self._write(run, path)
        self.saved.append(path)
        for old in self.files()[:-self.keep]:
            os.remove(old)

    def _improved(self, value: float, epoch: int) -> bool:
        if not _improves(value, self.best, self.mode):
            return False
        self.best, self.best_epoch = value, epoch
        return True

    def _write(self, run: Run, path: str) -> None:
        os.makedirs(self.directory, exist_ok=True)
        record, trees = run_record(run)
        write_checkpoint(path, run.state, run=record, run_trees=trees)

    def state_dict(self) -> dict:
        """The best value and its epoch (``keep_best``)."""
        return {"best": self.best, "best_epoch": self.best_epoch}

    def load_state_dict(self, d: dict) -> None:
        self.best, self.best_epoch = d["best"], d["best_epoch"]


class ReduceLROnPlateau(Callback):
    """Drive the optimizer's learning rate with ``nf.schedules.reduce_on_plateau``.

    After each epoch the plateau machine sees ``run.logs[monitor]`` (torch's rules: see
    ``nf.schedules.reduce_on_plateau``) and its rate is written into the optimizer state
    with ``nf.optim.set_hparams`` (no recompilation): ``learning_rate`` for a constant
    rate, or ``lr_scale`` (starting at 1) when the optimizer was built with a schedule.

    Args:
      monitor: the history name to watch.
      mode, factor, patience, threshold, threshold_mode, cooldown, min_lr, eps:
        torch's ``ReduceLROnPlateau`` arguments (with a schedule, ``min_lr`` bounds the
        scale).

    Example:
      >>> cb = ReduceLROnPlateau(monitor='eval_loss', factor=0.5, patience=2)
      >>> cb.monitor
      'eval_loss'
    """

    def __init__(self, monitor: str = "eval_loss", *, mode: str = "min", factor: float = 0.1,
                 patience: int = 10, threshold: float = 1e-4, threshold_mode: str = "rel",
                 cooldown: int = 0, min_lr: float = 0.0, eps: float = 1e-8):
        self.monitor = monitor
        self.plateau = _schedules.reduce_on_plateau(
            mode=mode, factor=factor, patience=patience, threshold=threshold,
            threshold_mode=threshold_mode, cooldown=cooldown, min_lr=min_lr, eps=eps)

    def on_train_begin(self, run: Run) -> None:
        hp = get_hparams(run.state.opt_state)
        if "lr_scale" in hp:
            self.target, start = "lr_scale", hp["lr_scale"]
        elif "learning_rate" in hp:
            self.target, start = "learning_rate", hp["learning_rate"]
        else:
            raise ValueError(f"ReduceLROnPlateau needs an optimizer with a learning_rate "
                             f"hyperparameter; this one has {sorted(hp)}")
        self.p_state = self.plateau.init(float(start))

    def on_epoch_end(self, run: Run) -> None:
        self.p_state = self.plateau.update(self.p_state, _monitored(run, self.monitor))
        opt_state = set_hparams(run.state.opt_state, **{self.target: float(self.p_state.lr)})
        run.state = run.state._replace(opt_state=opt_state)

    def state_dict(self) -> dict:
        """The plateau machine's state (rate, best, bad epochs, cooldown) as lists."""
        return {"target": self.target,
                "plateau": {k: np.asarray(v).tolist() for k, v in self.p_state._asdict().items()}}

    def load_state_dict(self, d: dict) -> None:
        self.target = d["target"]
        self.p_state = type(self.p_state)(**{
            k: jnp.asarray(d["plateau"][k], jnp.asarray(v).dtype)
            for k, v in self.p_state._asdict().items()})


class LearningRateLogger(Callback):
    """Report the learning rate of each epoch (``run.logs['lr']``, also kept in
    ``history['lr']``) through ``log``.

    Args:
      log: called as ``log(epoch, lr)``; the default prints ``epoch E: lr X``.

    Example:
      >>> seen = []
      >>> cb = LearningRateLogger(lambda e, lr: seen.append((e, lr)))
      >>> cb.on_epoch_end(Run(state=None, epochs=1, epoch=0, logs={'lr': 0.1}))
      >>> seen
      [(0, 0.1)]
    """

    def __init__(self, log: Optional[Callable[[int, float], Any]] = None):
        self.log = log if log is not None else (
            lambda epoch, lr: print(f"epoch {epoch}: lr {lr:.6g}"))
        self.lrs: list[float] = []

    def on_epoch_end(self, run: Run) -> None:
        lr = float(run.logs["lr"])
        self.lrs.append(lr)
        self.log(run.epoch, lr)


class LambdaCallback(Callback):
    """A callback from plain functions: the hook for user code.

    Args:
      on_train_begin, on_epoch_end, on_train_end: optional ``fn(run)``.

    Example:
      >>> losses = []
      >>> cb = LambdaCallback(on_epoch_end=lambda run: losses.append(run.logs['loss']))
      >>> cb.on_epoch_end(Run(state=None, epochs=1, epoch=0, logs={'loss': 1.5}))
      >>> losses
      [1.5]
    """

    def __init__(self, *, on_train_begin: Optional[Callable[[Run], Any]] = None,
                 on_epoch_end: Optional[Callable[[Run], Any]] = None,
                 on_train_end: Optional[Callable[[Run], Any]] = None):
        for name, fn in (("on_train_begin", on_train_begin), ("on_epoch_end", on_epoch_end),
                         ("on_train_end", on_train_end)):
            if fn is not None and not callable(fn):
                raise ValueError(f"{name} must be callable or None, got {fn!r}")
        self._begin, self._epoch, self._end = on_train_begin, on_epoch_end, on_train_end

    def on_train_begin(self, run: Run) -> None:
        if self._begin is not None:
            self._begin(run)

    def on_epoch_end(self, run: Run) -> None:
        if self._epoch is not None:
            self._epoch(run)

    def on_train_end(self, run: Run) -> None:
        if self._end is not None:
            self._end(run)


def _in_kernel() -> bool:
    """Whether this runs in a Jupyter (IPython) kernel."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


class LivePlot(Callback):
    """Redraw the training curves (``nf.plot.history``) after every ``every`` epochs.

    In a Jupyter kernel the figure is shown below the cell as a PNG and replaced in place
    at each redraw (an ``IPython.display`` handle: the progress bars and other outputs of
    the cell stay, unlike with ``clear_output``); it is not a pyplot figure, so it is not
    shown a second time at the end of the cell.
    Elsewhere the figure (``self.figure``) is only kept up to date, e.g. for
    ``live.figure.savefig(path)`` after training. The panels are those of ``metrics``
    found in the history (``m`` solid, ``eval_m`` dashed), fixed at the first redraw.
    Needs matplotlib (``pip install "nnfunc[notebooks]"``).

    Args:
      metrics: the history names to draw, one panel each (``accuracy`` is left out where
        it is not recorded, e.g. for regression).
      every: redraw after every ``every``-th epoch (and after the last), >= 1.

    Attributes:
      figure: the ``matplotlib.figure.Figure`` (``None`` before the first redraw).

    Example:
      >>> import jax, nnfunc as nf
      >>> X = jax.random.normal(jax.random.key(0), (64, 2))
      >>> live = LivePlot(metrics=('loss',))
      >>> _ = nf.train.fit(nf.models.mlp([2, 4, 1]), nf.optim.sgd(0.1), nf.losses.mse,
      ...                  (X, X[:, :1]), epochs=2, batch_size=16, callbacks=[live],
      ...                  progress=False)
      >>> live.figure.axes[0].lines[0].get_xdata().tolist()
      [1, 2]
    """

    def __init__(self, metrics: Sequence[str] = ("loss", "accuracy"), *, every: int = 1):
        names = [metrics] if isinstance(metrics, str) else list(metrics)
        if not names or not all(isinstance(m, str) for m in names):
            raise ValueError(f"metrics must be a non-empty sequence of history names, got "
                             f"{metrics!r}")
        self.metrics = tuple(names)
        self.every = check_int("every", every, minimum=1, allowed="an int >= 1")
        self.figure: Any = None
        self._handle: Any = None
        self._panels: list[str] = []
        self._drawn = -1

    def on_train_begin(self, run: Run) -> None:
        self.figure, self._handle, self._drawn = None, None, -1

    def on_epoch_end(self, run: Run) -> None:
        if (run.epoch + 1) % self.every == 0 or run.epoch + 1 == run.epochs:
            self._redraw(run)

    def on_train_end(self, run: Run) -> None:
        if run.epoch >= 0 and self._drawn != run.epoch:
            self._redraw(run)

    def _redraw(self, run: Run) -> None:
        from nnfunc import plot
        pyplot("nnfunc.train.LivePlot")     # the clear ImportError without matplotlib
        if self.figure is None:
            from matplotlib.figure import Figure
            keys = {k[5:] if k.startswith("eval_") else k for k in run.history}
            self._panels = [m for m in self.metrics if m in keys] or list(self.metrics)
            self.figure = Figure(figsize=(4.5 * len(self._panels), 3.5), layout="constrained")
            self.figure.subplots(1, len(self._panels), squeeze=False)
        for ax in self.figure.axes:
            ax.clear()
        plot.history(run.history, self._panels, ax=self.figure.axes)
        self._drawn = run.epoch
        self._show()

    def _show(self) -> None:
        """In Jupyter: the figure as a PNG, shown once and then replaced in place."""
        if not _in_kernel():
            return
        from IPython.display import Image, display
        buf = io.BytesIO()
        self.figure.savefig(buf, format="png")
        image = Image(data=buf.getvalue(), format="png")
        if self._handle is None:
            self._handle = display(image, display_id=True)
        else:
            self._handle.update(image)
