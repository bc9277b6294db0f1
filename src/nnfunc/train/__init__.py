"""Training: ``TrainState``, jitted steps, fused epochs, ``fit`` with callbacks, sweeps,
data parallelism and exact checkpoints.

::

    ts = nf.train.init_state(model, opt, key, input_shape)
    step = nf.train.make_step(model, opt, loss_fn)              # (ts, x, y) -> (ts, metrics)
    epoch = nf.train.make_epoch(model, opt, loss_fn, batch_size)  # (ts, X, Y) -> (ts, metrics)
    result = nf.train.fit(model, opt, loss_fn, (X, Y), epochs=10, batch_size=128, key=0,
                          eval_data=(Xv, Yv), callbacks=[nf.train.EarlyStopping()])
    live = nf.train.LivePlot(('loss', 'accuracy'))   # callbacks=[live]: curves in Jupyter
    runs = nf.train.sweep(model, opt, loss_fn, (X, Y), hparams={'learning_rate': lrs},
                          epochs=10, batch_size=128, key=0)
    nf.train.save_checkpoint(path, ts); ts = nf.train.load_checkpoint(path, ts)
    y = nf.train.predict(model, ts, X)                 # jitted, batched, train=False
    nf.train.save_model(path, params, model_state); params, model_state = nf.train.load_model(path)
"""
from nnfunc.train.state import TrainState, init_state
from nnfunc.train.metrics import accuracy, is_classification
from nnfunc.train.step import make_step
from nnfunc.train.epoch import evaluate, make_epoch
from nnfunc.train.parallel import make_mesh, replicate
from nnfunc.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from nnfunc.train.callbacks import (Callback, Checkpoint, EarlyStopping, LambdaCallback,
                                    LearningRateLogger, LivePlot, ReduceLROnPlateau, Run)
from nnfunc.train.results import FitResult, NonFiniteLossError, SweepResult
from nnfunc.train.fit import fit
from nnfunc.train.inference import load_model, predict, save_model
from nnfunc.train.sweep import sweep

__all__ = ["TrainState", "init_state", "make_step", "make_epoch", "evaluate", "fit",
           "FitResult", "NonFiniteLossError", "sweep", "SweepResult", "save_checkpoint",
           "load_checkpoint", "CheckpointError", "Callback", "Run", "EarlyStopping",
           "Checkpoint", "ReduceLROnPlateau", "LearningRateLogger", "LambdaCallback",
           "LivePlot", "accuracy", "is_classification", "make_mesh", "replicate", "predict",
           "save_model", "load_model"]
