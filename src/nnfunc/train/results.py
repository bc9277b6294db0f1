"""What ``fit`` and ``sweep`` return (:class:`FitResult`, :class:`SweepResult`) and the
error ``fit`` raises when training diverges (:class:`NonFiniteLossError`): plain types,
importing nothing else of ``nnfunc.train``'s, so that callbacks and plots can use them
without depending on the training loop.
"""
from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np

from nnfunc.train.state import TrainState

__all__ = ["FitResult", "SweepResult", "NonFiniteLossError"]


class FitResult(NamedTuple):
    """What :func:`fit` returns: the final ``state`` (a ``TrainState``) and ``history``
    (``{name: [one float per epoch]}``)."""

    state: TrainState
    history: dict


class NonFiniteLossError(FloatingPointError, ValueError):
    """The training loss became NaN or infinite; the message names the epoch and step."""


class SweepResult(NamedTuple):
    """What :func:`sweep` returns; every array has a leading run axis of length R.

    Attributes:
      state: the final ``TrainState`` of every run (each leaf ``(R, ...)``).
      history: ``{name: np.ndarray (R, epochs)}``: ``loss``, ``lr``,
        ``accuracy`` (classification), ``eval_loss``/``eval_accuracy`` (with eval data),
        ``nonfinite_step`` (first step of the epoch with a non-finite loss, -1 if none).
      hparams: ``{name: np.ndarray (R,)}``, the values each run used.
      seeds: ``np.ndarray (R,)`` of the seeds, or ``None``.
      diverged: ``np.ndarray (R,) bool``: the run met a non-finite loss or ended with
        non-finite parameters (its results should be discarded).
    """

    state: TrainState
    history: dict
    hparams: dict
    seeds: Optional[np.ndarray]
    diverged: np.ndarray
