"""nnfunc.train.fit(resume=...): an interrupted run with stateful callbacks continues bit
for bit; Checkpoint(keep_best=...); resume errors; callback monitor names checked before
the first epoch."""
import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nnfunc as nf
from _fit_setup import ADAM, CE, MODEL, XV, YV, X, Y, assert_same
from nnfunc.train.checkpoint import read_run

# A large rate and key 4 make the validation loss best at epoch 0 and worse after it, so
# in 4 epochs every stateful callback acts: early stopping waits and stops (restoring
# epoch 0), the plateau halves the rate after epoch 2 (epoch 3 trains with it), and the
# interruption after epoch 1 falls in the middle of both (wait = 1, one bad epoch).
OPT = nf.optim.adam(learning_rate=0.3)
SLOW = ADAM      # a smooth run, one compilation shared
KEY = 4
STEPS = 4          # 100 examples // batch size 25
TIMING = ("seconds", "samples_per_s")


def _fit(epochs, callbacks=(), **kw):
    kw.setdefault("key", KEY)
    return nf.train.fit(kw.pop("model", MODEL), kw.pop("opt", OPT), CE, (X, Y),
                        epochs=epochs, batch_size=25, eval_data=(XV, YV),
                        callbacks=list(callbacks), progress=False, **kw)


def _callbacks(directory):
    return [nf.train.EarlyStopping(patience=3, restore_best=True),
            nf.train.ReduceLROnPlateau(patience=1, factor=0.5),
            nf.train.Checkpoint(directory, keep_best="eval_loss")]


def _template(model=MODEL, opt=OPT):
    return nf.train.init_state(model, opt, 0, (8,))


def _copy(ts):
    return jax.tree_util.tree_map(lambda a: a.copy(), ts)


def _without_timing(history):
    return {k: v for k, v in history.items() if k not in TIMING}


def _plateau_reference(values, lr, *, factor, patience, threshold=1e-4):
    """torch ReduceLROnPlateau (mode min, rel threshold, no cooldown): the rate after
    each epoch."""
    best, bad, out = np.inf, 0, []
    for v in values:
        if v < best * (1 - threshold):
            best, bad = v, 0
        else:
            bad += 1
        if bad > patience:
            lr, bad = lr * factor, 0
        out.append(lr)
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The uninterrupted 4-epoch run, the same run cut after 2 epochs, and resumes of
    the cut run from its folder and from its file (each with fresh callbacks)."""
    root = tmp_path_factory.mktemp("resume")
    full_cbs = _callbacks(root / "full")
    full = _fit(4, full_cbs)
    half_cbs = _callbacks(root / "half")
    half = _fit(2, half_cbs)
    shutil.copytree(root / "half", root / "half_copy")
    shutil.copytree(root / "half", root / "half_file")
    resumed = {}
    for how, target in (("folder", root / "half"),
                        ("file", root / "half_file" / "checkpoint-000000008.npz")):
        cbs = _callbacks(target if how == "folder" else root / "half_file")
        resumed[how] = (_fit(4, cbs, resume=target), cbs)
    return dict(root=root, full=full, full_cbs=full_cbs, half=half, half_cbs=half_cbs,
                resumed=resumed)


def test_the_reference_run_exercises_every_callback(runs):
    """Guard: the scenario the resume test relies on, checked against references."""
    h = runs["full"].history
    es, rl, ck = runs["full_cbs"]
    assert len(h["loss"]) == 4
    best = int(np.argmin(h["eval_loss"]))
    assert best == 0 and es.best_epoch == 0 and es.best == h["eval_loss"][0]
    assert es.wait == 3 and es.stopped_epoch == 3
    lrs = _plateau_reference(h["eval_loss"], 0.3, factor=0.5, patience=1)
    np.testing.assert_allclose(h["lr"], [0.3] + lrs[:3], rtol=1e-6)
    np.testing.assert_allclose(float(rl.p_state.lr), lrs[-1], rtol=1e-6)
    assert lrs[-1] < 0.3                          # the plateau did lower the rate
    assert ck.best == h["eval_loss"][0] and ck.best_epoch == 0
    # the cut run stopped in the middle of both machines
    es2, rl2, _ = runs["half_cbs"]
    assert (es2.wait, es2.best_epoch) == (1, 0)
    assert int(rl2.p_state.num_bad_epochs) == 1


@pytest.mark.parametrize("how", ["folder", "file"])
def test_interrupted_run_resumes_bit_for_bit(runs, how):
    full, (res, cbs) = runs["full"], runs["resumed"][how]
    assert_same(res.state.params, full.state.params)
    assert_same(res.state.opt_state, full.state.opt_state)
    assert_same(res.state, full.state)
    assert set(res.history) == set(full.history)
    assert _without_timing(res.history) == _without_timing(full.history)
    assert all(len(v) == 4 for v in res.history.values())
    # the first two epochs come from the file, with their original timings
    assert res.history["seconds"][:2] == runs["half"].history["seconds"]
    es, rl, ck = cbs
    f_es, f_rl, f_ck = runs["full_cbs"]
    assert (es.best, es.wait, es.best_epoch, es.stopped_epoch) == (
        f_es.best, f_es.wait, f_es.best_epoch, f_es.stopped_epoch)
    assert float(rl.p_state.lr) == float(f_rl.p_state.lr)
    for field in rl.p_state._fields:
        np.testing.assert_array_equal(np.asarray(getattr(rl.p_state, field)),
                                      np.asarray(getattr(f_rl.p_state, field)))
    assert (ck.best, ck.best_epoch) == (f_ck.best, f_ck.best_epoch)


def test_resumed_run_writes_the_same_checkpoints(runs):
    root = runs["root"]
    for name in ("checkpoint-000000016.npz", "checkpoint-best.npz"):
        a, b = root / "full" / name, root / "half" / name
        assert_same(nf.train.load_checkpoint(a, _template()),
                     nf.train.load_checkpoint(b, _template()))
        ra, rb = read_run(a), read_run(b)
        assert ra["epochs_done"] == rb["epochs_done"]
        assert _without_timing(ra["history"]) == _without_timing(rb["history"])
    assert read_run(root / "full" / "checkpoint-000000016.npz")["epochs_done"] == 4


@pytest.mark.parametrize("epochs", [0, 1, 2])
def test_resume_with_no_epochs_left_trains_nothing(runs, epochs):
    saved = runs["root"] / "half_copy"
    path = saved / "checkpoint-000000008.npz"
    before = os.path.getmtime(path)
    seen = []
    cb = nf.train.LambdaCallback(on_epoch_end=lambda run: seen.append(run.epoch))
    r = _fit(epochs, [cb], resume=saved)
    assert seen == []
    assert r.history == runs["half"].history                 # timings included
    assert_same(r.state, nf.train.load_checkpoint(path, _template()))
    assert int(r.state.step) == 2 * STEPS
    assert os.path.getmtime(path) == before


# ------------------------------------------------------------------- Checkpoint(keep_best)

@pytest.mark.parametrize("monitor,mode,pick", [
    ("eval_loss", "auto", np.argmin),
    ("eval_loss", "min", np.argmin),
    ("eval_accuracy", "max", np.argmax),
    ("eval_accuracy", "auto", np.argmax),
    ("loss", "min", np.argmin),
])
def test_checkpoint_keep_best_holds_the_best_epochs_state(tmp_path, monitor, mode, pick):
    states = []
    grab = nf.train.LambdaCallback(on_epoch_end=lambda run: states.append(_copy(run.state)))
    ck = nf.train.Checkpoint(tmp_path, keep_best=monitor, mode=mode, prefix="run")
    r = _fit(4, [ck, grab], opt=SLOW, key=0)
    values = r.history[monitor]
    best = int(pick(values))                         # first best: improvements are strict
    assert ck.best == values[best] and ck.best_epoch == best
    path = tmp_path / "run-best.npz"
    assert ck.best_path == str(path)
    assert_same(nf.train.load_checkpoint(path, _template(opt=SLOW)),
                 states[best])
    record = read_run(path)
    assert record["epochs_done"] == best + 1
    assert record["history"][monitor] == values[:best + 1]
    # keep=3 step files; the best file is never deleted by the rotation
    assert sorted(os.listdir(tmp_path)) == ["run-000000008.npz", "run-000000012.npz",
                                            "run-000000016.npz", "run-best.npz"]


def test_checkpoint_keep_best_mode_decides_the_direction(tmp_path):
    """mode='max' on a loss keeps the worst epoch: the direction is the mode's, not the
    name's."""
    ck = nf.train.Checkpoint(tmp_path, keep_best="eval_loss", mode="max")
    r = _fit(4, [ck], opt=SLOW, key=0)
    assert ck.best_epoch == int(np.argmax(r.history["eval_loss"]))
    assert ck.best == max(r.history["eval_loss"])


def test_checkpoint_without_keep_best_writes_no_best_file(tmp_path):
    ck = nf.train.Checkpoint(tmp_path, keep=5)
    _fit(2, [ck])
    assert ck.best_path is None and ck.best is None
    assert sorted(os.listdir(tmp_path)) == ["checkpoint-000000004.npz",
                                            "checkpoint-000000008.npz"]


def test_checkpoint_args_are_checked():
    with pytest.raises(ValueError, match="mode"):
        nf.train.Checkpoint("x", keep_best="eval_loss", mode="up")
    with pytest.raises(ValueError, match="keep_best"):
        nf.train.Checkpoint("x", keep_best=3)


# ------------------------------------------------------------------- save_checkpoint files

def test_resume_from_save_checkpoint_counts_epochs_from_the_step(tmp_path):
    full = _fit(4)
    half = _fit(2)
    path = tmp_path / "plain.npz"
    nf.train.save_checkpoint(path, half.state)
    assert read_run(path) is None
    r = _fit(4, resume=path)
    assert_same(r.state, full.state)
    assert int(r.state.step) == 4 * STEPS
    # the file has no history: only the two epochs trained now are recorded
    assert _without_timing(r.history) == {k: v[2:] for k, v in
                                          _without_timing(full.history).items()}
    r0 = _fit(2, resume=path)                       # 2 epochs done already: nothing to do
    assert r0.history == {}
    assert_same(r0.state, half.state)


# ------------------------------------------------------------------- errors

class _Began(nf.train.Callback):
    def __init__(self):
        self.began = False

    def on_train_begin(self, run):
        self.began = True


def _checkpoint_of(state, directory):
    """What Checkpoint writes after epoch 0 of a run with this state (no training)."""
    run = nf.train.Run(state=state, epochs=1, epoch=0, history={"loss": [1.0]})
    nf.train.Checkpoint(directory).on_epoch_end(run)
    return os.path.join(directory, f"checkpoint-{int(state.step):09d}.npz")


def _write_other_model(directory):
    return _checkpoint_of(_template(model=nf.models.mlp([8, 32, 3])), directory)


def _write_other_optimizer(directory):
    return _checkpoint_of(_template(opt=nf.optim.sgd(0.1)), directory)


def _write_garbage(directory):
    os.makedirs(directory)
    path = os.path.join(directory, "checkpoint-000000004.npz")
    with open(path, "wb") as f:
        f.write(b"not a zip file at all")
    return path


def _empty_folder(directory):
    os.makedirs(directory)
    return directory


def _folder_without_step_files(directory):
    os.makedirs(directory)
    nf.train.save_checkpoint(os.path.join(directory, "checkpoint-best.npz"), _template())
    nf.train.save_checkpoint(os.path.join(directory, "other.npz"), _template())
    return directory


RESUME_ERRORS = [
    ("missing file", lambda d: os.path.join(d, "nope.npz"), FileNotFoundError,
     r"nope\.npz"),
    ("empty folder", _empty_folder, FileNotFoundError, "no checkpoint"),
    ("folder without NAME-STEP files", _folder_without_step_files, FileNotFoundError,
     "no checkpoint"),
    ("another model", _write_other_model, nf.train.CheckpointError,
     r"checkpoint-000000000\.npz.*shape"),
    ("another optimizer", _write_other_optimizer, nf.train.CheckpointError,
     r"checkpoint-000000000\.npz"),
    ("corrupt file", _write_garbage, nf.train.CheckpointError,
     r"checkpoint-000000004\.npz.*corrupt"),
]


@pytest.mark.parametrize("make,err,match", [c[1:] for c in RESUME_ERRORS],
                         ids=[c[0] for c in RESUME_ERRORS])
def test_resume_errors_name_the_path_before_training(tmp_path, make, err, match):
    target = make(str(tmp_path / "ck"))
    began = _Began()
    with pytest.raises(err, match=match):
        _fit(2, [began], resume=target)
    assert not began.began


def test_checkpoint_errors_are_value_errors():
    assert issubclass(nf.train.CheckpointError, ValueError)


def test_resume_and_state_together_raise(runs):
    began = _Began()
    with pytest.raises(ValueError, match="state= or resume="):
        _fit(2, [began], resume=runs["root"] / "half_copy", state=_template())
    assert not began.began


# ------------------------------------------------------------------- monitor names

MONITOR_TYPOS = [
    ("EarlyStopping eval_los", lambda: nf.train.EarlyStopping(monitor="eval_los"),
     "eval_los"),
    ("ReduceLROnPlateau eval_los", lambda: nf.train.ReduceLROnPlateau(monitor="eval_los"),
     "eval_los"),
    ("Checkpoint keep_best eval_los",
     lambda: nf.train.Checkpoint("/nonexistent-never-written", keep_best="eval_los"),
     "eval_los"),
    ("EarlyStopping los", lambda: nf.train.EarlyStopping(monitor="los"), "los"),
    ("EarlyStopping eval_f1 without metrics",
     lambda: nf.train.EarlyStopping(monitor="eval_f1", mode="max"), "eval_f1"),
]


@pytest.mark.parametrize("make,name", [c[1:] for c in MONITOR_TYPOS],
                         ids=[c[0] for c in MONITOR_TYPOS])
def test_unknown_monitor_raises_before_training_listing_names(make, name):
    began = _Began()
    ran = []
    hook = nf.train.LambdaCallback(on_train_begin=lambda run: ran.append(run.epoch))
    with pytest.raises(ValueError) as info:
        _fit(2, [hook, make(), began])
    msg = str(info.value)
    assert repr(name) in msg and "available" in msg
    for known in ("'loss'", "'accuracy'", "'lr'", "'eval_loss'", "'eval_accuracy'"):
        assert known in msg
    assert ran == [] and not began.began


def test_monitor_names_without_eval_data_list_training_entries():
    with pytest.raises(ValueError, match="eval_data"):
        nf.train.fit(MODEL, OPT, CE, (X, Y), epochs=1, batch_size=25, progress=False,
                     callbacks=[nf.train.EarlyStopping(monitor="eval_los")])
    with pytest.raises(ValueError, match=r"'accuracy', 'loss', 'lr'"):
        nf.train.fit(MODEL, OPT, CE, (X, Y), epochs=1, batch_size=25, progress=False,
                     callbacks=[nf.train.EarlyStopping(monitor="acc")])


def test_metric_names_are_valid_monitors(tmp_path):
    es = nf.train.EarlyStopping(monitor="eval_f1", mode="max", patience=10)
    ck = nf.train.Checkpoint(tmp_path, keep_best="f1", mode="max")
    hits = lambda logits, y: jnp.mean(jnp.argmax(logits, -1) == y)  # noqa: E731
    rl = nf.train.ReduceLROnPlateau(monitor="eval_hits", mode="max", patience=1)
    r = _fit(3, [es, rl, ck], opt=SLOW, key=0, metrics={"f1": "f1",
                                                                       "hits": hits})
    h = r.history
    assert len(h["eval_f1"]) == 3 and len(h["f1"]) == 3
    assert es.best == max(h["eval_f1"])
    assert es.best_epoch == int(np.argmax(h["eval_f1"]))
    assert ck.best == max(h["f1"]) and ck.best_epoch == int(np.argmax(h["f1"]))
    np.testing.assert_allclose(h["eval_hits"], h["eval_accuracy"], rtol=1e-6)
