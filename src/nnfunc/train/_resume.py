"""``fit(..., resume=path)``: the checkpoint file to continue from, what it holds (state,
epochs done, history, the callbacks' state) and the callbacks given their state back.

Internal API of ``nnfunc.train`` (names without an underscore, not exported by the package).
"""
from __future__ import annotations

import os
from typing import Any, Callable, NamedTuple, Sequence

from nnfunc.train.callbacks import Callback, callback_key, checkpoint_files
from nnfunc.train.checkpoint import load_run
from nnfunc.train.state import TrainState


def resume_file(resume: Any) -> str:
    """The checkpoint file to resume from: ``resume`` itself, or the newest file a
    :class:`Checkpoint` wrote in the folder ``resume``."""
    path = os.fspath(resume)
    if os.path.isdir(path):
        files = checkpoint_files(path)
        if not files:
            raise FileNotFoundError(f"resume={path!r}: the folder holds no checkpoint "
                                    f"files (NAME-STEP.npz, as Checkpoint writes them)")
        return files[-1]
    if not os.path.isfile(path):
        raise FileNotFoundError(f"resume={path!r}: no such checkpoint file or folder")
    return path


class Resumed(NamedTuple):
    state: TrainState
    epochs_done: int
    history: dict
    callbacks: list     # [{'key': ..., 'state': ...}]
    tree: Callable      # (name, like) -> a callback's saved state tree


def load_resume(resume: Any, fresh: TrainState, steps: int) -> Resumed:
    """The state, epochs done, history and callbacks' state of a checkpoint file (one
    written by :func:`save_checkpoint` has no run: its epochs are counted from the step)."""
    ts, run, tree = load_run(resume_file(resume), fresh)
    if run is None:
        return Resumed(ts, int(ts.step) // max(steps, 1), {}, [], tree)
    return Resumed(ts, int(run["epochs_done"]),
                    {k: list(v) for k, v in run["history"].items()},
                    list(run["callbacks"]), tree)


def restore_callbacks(callbacks: Sequence[Callback], resumed: Resumed,
                       like: TrainState) -> None:
    """Give each stateful callback the state saved for the callback of the same type and
    monitor (in order among equals); a callback the file has no state for starts fresh."""
    saved = list(resumed.callbacks)
    for cb in callbacks:
        if not callable(getattr(cb, "load_state_dict", None)):
            continue
        match = next((e for e in saved if e["key"] == callback_key(cb)), None)
        if match is None:
            continue
        saved.remove(match)
        state = {k: (resumed.tree(v["__tree__"], like)
                     if isinstance(v, dict) and "__tree__" in v else v)
                 for k, v in match["state"].items()}
        cb.load_state_dict(state)
