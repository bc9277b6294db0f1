"""nnfunc.train core: init_state, make_step, make_epoch, evaluate, checkpoints."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nnfunc as nf
from conftest import blobs
from nnfunc.train import TrainState

CE = nf.losses.softmax_cross_entropy_with_integer_labels
MODEL = nf.models.mlp([8, 16, 3])


X, Y = blobs(100)
SGD = nf.optim.sgd(learning_rate=0.1)
ADAM = nf.optim.adam(learning_rate=0.01)


def _leaves_equal(a, b):
    la, lb = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    assert len(la) == len(lb)
    for u, v in zip(la, lb):
        if jnp.issubdtype(u.dtype, jax.dtypes.prng_key):
            u, v = jax.random.key_data(u), jax.random.key_data(v)
        np.testing.assert_array_equal(np.asarray(u), np.asarray(v))


def _forward_ref(params, x):
    """Independent MLP forward from the raw parameter arrays (dense-relu-dense)."""
    h = np.maximum(x @ np.asarray(params[0]["w"]) + np.asarray(params[0]["b"]), 0)
    return h @ np.asarray(params[2]["w"]) + np.asarray(params[2]["b"])


def _ce_ref(logits, y):
    z = logits - logits.max(-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    return -logp[np.arange(len(y)), y]


# ------------------------------------------------------------------- init_state

def test_init_state_structure_and_determinism():
    ts = nf.train.init_state(MODEL, SGD, jax.random.key(0), (8,))
    assert isinstance(ts, TrainState) and int(ts.step) == 0
    assert ts.params[0]["w"].shape == (8, 16) and ts.params[2]["w"].shape == (16, 3)
    _leaves_equal(ts, nf.train.init_state(MODEL, SGD, jax.random.key(0), (8,)))
    other = nf.train.init_state(MODEL, SGD, jax.random.key(1), (8,))
    assert not np.array_equal(ts.params[0]["w"], other.params[0]["w"])
    seeded = nf.train.init_state(MODEL, SGD, 0, (8,))       # int seed == key(seed)
    _leaves_equal(ts, seeded)
    raw = nf.train.init_state(MODEL, SGD, jax.random.PRNGKey(0), (8,))
    assert raw.key.dtype == jnp.uint32


@pytest.mark.parametrize("key", ["abc", 1.5, jnp.zeros(3, jnp.float32)])
def test_init_state_bad_key(key):
    with pytest.raises(ValueError, match="key"):
        nf.train.init_state(MODEL, SGD, key, (8,))


# ------------------------------------------------------------------- make_step

def test_make_step_matches_optax_reference():
    optax = pytest.importorskip("optax")
    ts = nf.train.init_state(MODEL, ADAM, jax.random.key(0), (8,))
    params0 = jax.tree_util.tree_map(np.asarray, ts.params)
    step = nf.train.make_step(MODEL, ADAM, CE, donate=False)
    xb, yb = X[:20], Y[:20]
    ts1, m = step(ts, xb, yb)

    tx = optax.adam(0.01)

    @jax.jit
    def reference(p):
        def loss(p):
            logits, _ = MODEL.apply(p, ts.model_state, xb)
            return jnp.mean(CE(logits, yb))
        g = jax.grad(loss)(p)
        u, _ = tx.update(g, tx.init(p), p)
        return optax.apply_updates(p, u), g
    ref, g = reference(jax.tree_util.tree_map(jnp.asarray, params0))
    for a, b in zip(jax.tree_util.tree_leaves(ts1.params), jax.tree_util.tree_leaves(ref)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    # metrics against numpy
    logits = _forward_ref(params0, np.asarray(xb))
    np.testing.assert_allclose(m["loss"], _ce_ref(logits, np.asarray(yb)).mean(), rtol=1e-5)
    np.testing.assert_allclose(m["accuracy"], np.mean(logits.argmax(-1) == np.asarray(yb)))
    np.testing.assert_allclose(m["lr"], 0.01, rtol=1e-6)
    assert int(ts1.step) == 1
    gn = np.sqrt(sum(float(np.sum(np.asarray(v) ** 2)) for v in jax.tree_util.tree_leaves(g)))
    np.testing.assert_allclose(m["grad_norm"], gn, rtol=1e-5)
    assert "update_ratio" not in m
    # diagnostics add the update ratio and do not change the step
    ts_d, m_d = nf.train.make_step(MODEL, ADAM, CE, donate=False, diagnostics=True)(ts, xb, yb)
    assert m_d["update_ratio"] > 0 and float(m_d["grad_norm"]) == float(m["grad_norm"])
    _leaves_equal(ts_d, ts1)


def test_fused_epoch_reports_grad_norm_only_on_request():
    """The epoch leaves out the per-step gradient norm (a pass over every gradient)
    unless diagnostics=True; the trained state is the same either way."""
    ts = nf.train.init_state(MODEL, ADAM, jax.random.key(2), (8,))
    ts_a, m_a = nf.train.make_epoch(MODEL, ADAM, CE, 25, donate=False)(ts, X, Y)
    ts_b, m_b = nf.train.make_epoch(MODEL, ADAM, CE, 25, donate=False, diagnostics=True)(
        ts, X, Y)
    assert "grad_norm" not in m_a and float(m_b["grad_norm"]) > 0
    _leaves_equal(ts_a, ts_b)


def test_step_dropout_key_is_fold_in_of_state_key_and_step():
    model = nf.layers.serial(nf.layers.dense(16), nf.layers.dropout(0.5), nf.layers.dense(3))
    ts = nf.train.init_state(model, SGD, jax.random.key(5), (8,))
    step = nf.train.make_step(model, SGD, CE, donate=False)
    xb, yb = X[:20], Y[:20]

    def loss_with(key):
        logits, _ = model.apply(ts.params, ts.model_state, xb, train=True, key=key)
        return float(jnp.mean(CE(logits, yb)))

    _, m0 = step(ts, xb, yb)
    _, m1 = step(ts._replace(step=jnp.asarray(1, jnp.int32)), xb, yb)
    # the documented recipe: the step's key is fold_in(ts.key, ts.step); ts.key stays put
    assert float(m0["loss"]) == pytest.approx(loss_with(jax.random.fold_in(ts.key, 0)), rel=1e-6)
    assert float(m1["loss"]) == pytest.approx(loss_with(jax.random.fold_in(ts.key, 1)), rel=1e-6)
    assert float(m0["loss"]) != float(m1["loss"])           # a new mask every step
    ts1, _ = step(ts, xb, yb)
    _leaves_equal(ts1.key, ts.key)


@pytest.mark.parametrize("kind", ["step", "epoch"])
def test_step_and_epoch_are_pure_by_default(kind):
    """The contract's ``ts, m = step(ts, x, y)`` leaves the input state usable: calling
    again on it gives the same result, and its values are those before the call."""
    ts = nf.train.init_state(MODEL, ADAM, jax.random.key(0), (8,))
    before = jax.tree_util.tree_map(jnp.array, ts)       # copies
    fn = (nf.train.make_step(MODEL, ADAM, CE) if kind == "step"
          else nf.train.make_epoch(MODEL, ADAM, CE, 25))
    data = (X[:10], Y[:10]) if kind == "step" else (X, Y)
    ts1, m1 = fn(ts, *data)
    ts2, m2 = fn(ts, *data)
    _leaves_equal(ts, before)
    _leaves_equal(ts1, ts2)
    assert float(m1["loss"]) == float(m2["loss"])
    assert int(ts1.step) > int(ts.step) == 0


@pytest.mark.parametrize("kind", ["step", "epoch"])
def test_donate_true_reuses_the_input_state(kind):
    ts = nf.train.init_state(MODEL, SGD, jax.random.key(0), (8,))
    ref, _ = nf.train.make_step(MODEL, SGD, CE)(ts, X[:10], Y[:10]) if kind == "step" else \
        nf.train.make_epoch(MODEL, SGD, CE, 25)(ts, X, Y)
    fn = (nf.train.make_step(MODEL, SGD, CE, donate=True) if kind == "step"
          else nf.train.make_epoch(MODEL, SGD, CE, 25, donate=True))
    ts2, _ = fn(ts, *((X[:10], Y[:10]) if kind == "step" else (X, Y)))
    assert ts.params[0]["w"].is_deleted()
    assert not ts2.params[0]["w"].is_deleted()
    _leaves_equal(ts2, ref)                               # same values


def test_regularizer_adds_penalty_gradient():
    lam = 0.05
    reg = lambda p: lam * nf.regularizers.l2(p)
    ts = nf.train.init_state(MODEL, SGD, jax.random.key(0), (8,))
    p0 = jax.tree_util.tree_map(jnp.array, ts.params)
    ts1, m = nf.train.make_step(MODEL, SGD, CE, regularizer=reg, donate=False)(ts, X[:16], Y[:16])
    # d/dθ [λ Σθ²] = 2λθ on top of the data gradient; SGD: θ1 = θ0 - 0.1 (g + 2λθ0)
    ts_plain, m_plain = nf.train.make_step(MODEL, SGD, CE, donate=False)(ts, X[:16], Y[:16])
    for a, b, p in zip(jax.tree_util.tree_leaves(ts1.params),
                       jax.tree_util.tree_leaves(ts_plain.params), jax.tree_util.tree_leaves(p0)):
        np.testing.assert_allclose(a, b - 0.1 * 2 * lam * p, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(m["loss"], m_plain["loss"])   # loss is the data loss


def test_non_classification_metrics_have_no_accuracy():
    model = nf.models.mlp([8, 1])
    ts = nf.train.init_state(model, SGD, 0, (8,))
    _, m = nf.train.make_step(model, SGD, nf.losses.mse)(ts, X[:8], X[:8, :1])
    assert "accuracy" not in m and set(m) == {"loss", "grad_norm", "lr"}


def test_mixed_precision_step_keeps_float32_master():
    ts = nf.train.init_state(MODEL, ADAM, 0, (8,))
    ts_f32, m32 = nf.train.make_step(MODEL, ADAM, CE, donate=False)(ts, X[:32], Y[:32])
    ts_bf, mbf = nf.train.make_step(MODEL, ADAM, CE, mixed_precision=True, donate=False)(
        ts, X[:32], Y[:32])
    assert all(l.dtype == jnp.float32 for l in jax.tree_util.tree_leaves(ts_bf.params))
    # bf16 compute: close to float32 but not identical (8-bit mantissa)
    assert abs(float(mbf["loss"]) - float(m32["loss"])) < 0.05 * float(m32["loss"])
    assert float(mbf["loss"]) != float(m32["loss"])


# ------------------------------------------------------------------- make_epoch

def test_epoch_equals_steps_over_its_permutation_and_drops_remainder():
    bs = 32                                       # 100 = 3 * 32 + 4 dropped
    ts = nf.train.init_state(MODEL, ADAM, jax.random.key(3), (8,))
    ts_copy = jax.tree_util.tree_map(lambda a: a.copy(), ts)
    ts_e, m = nf.train.make_epoch(MODEL, ADAM, CE, bs)(ts, X, Y)
    assert int(ts_e.step) == 3
    # the documented recipe: key, k = split(key); perm = permutation(k, N)[:3*32]
    key, k = jax.random.split(ts_copy.key)
    perm = np.asarray(jax.random.permutation(k, 100))[:96].reshape(3, bs)
    step = nf.train.make_step(MODEL, ADAM, CE)
    t = ts_copy._replace(key=key)
    losses = []
    for idx in perm:
        t, ms = step(t, X[idx], Y[idx])
        losses.append(float(ms["loss"]))
    for a, b in zip(jax.tree_util.tree_leaves(ts_e.params), jax.tree_util.tree_leaves(t.params)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(m["loss"], np.mean(losses), rtol=1e-5)
    assert int(m["nonfinite_step"]) == -1


def test_epoch_runs_without_host_transfers():
    epoch = nf.train.make_epoch(MODEL, SGD, CE, 25)
    ts = nf.train.init_state(MODEL, SGD, 0, (8,))
    xd, yd = jax.device_put(X), jax.device_put(Y)
    ts, _ = epoch(ts, xd, yd)                      # compile outside the guard
    with jax.transfer_guard("disallow"):
        ts, m = epoch(ts, xd, yd)
        ts, m = epoch(ts, xd, yd)
    assert int(ts.step) == 12


@pytest.mark.parametrize("bs", [0, -1, 2.5, True])
def test_make_epoch_bad_batch_size(bs):
    with pytest.raises(ValueError, match="batch_size"):
        nf.train.make_epoch(MODEL, SGD, CE, bs)


def test_make_epoch_shape_errors_at_trace_time():
    ts = nf.train.init_state(MODEL, SGD, 0, (8,))
    with pytest.raises(ValueError, match="batch_size must be <="):
        nf.train.make_epoch(MODEL, SGD, CE, 500)(ts, X, Y)
    with pytest.raises(ValueError, match="same number of examples"):
        nf.train.make_epoch(MODEL, SGD, CE, 10)(ts, X, Y[:50])


# ------------------------------------------------------------------- evaluate

@pytest.mark.parametrize("bs", [1, 7, 100, 1000])
def test_evaluate_matches_numpy_with_padding(bs):
    ts = nf.train.init_state(MODEL, SGD, 0, (8,))
    m = nf.train.evaluate(MODEL, CE, ts, (X, Y), batch_size=bs)
    logits = _forward_ref(ts.params, np.asarray(X))
    np.testing.assert_allclose(m["loss"], _ce_ref(logits, np.asarray(Y)).mean(), rtol=1e-5)
    np.testing.assert_allclose(m["accuracy"], np.mean(logits.argmax(-1) == np.asarray(Y)),
                               atol=1e-6)


# ------------------------------------------------------------------- checkpoints

def test_checkpoint_roundtrip_portable(tmp_path):
    ts = nf.train.init_state(MODEL, ADAM, jax.random.key(0), (8,))
    tree = {"ts": ts, "bf": jnp.arange(4, dtype=jnp.bfloat16) / 3, "raw": jax.random.PRNGKey(5),
            "i": jnp.int8(3), "py": 2.5}
    path = tmp_path / "a.npz"
    nf.train.save_checkpoint(path, tree)
    with np.load(path, allow_pickle=False) as f:       # plain numpy, no pickle
        assert "['ts'].params[0]['w']" in f.files
        np.testing.assert_array_equal(f["['ts'].params[0]['w']"], np.asarray(ts.params[0]["w"]))
    back = nf.train.load_checkpoint(path, tree)
    _leaves_equal(back["ts"], ts)
    assert back["bf"].dtype == jnp.bfloat16 and bool(jnp.all(back["bf"] == tree["bf"]))
    assert jnp.issubdtype(back["ts"].key.dtype, jax.dtypes.prng_key)
    assert back["raw"].dtype == jnp.uint32 and back["py"] == 2.5 and isinstance(back["py"], float)


@pytest.mark.parametrize("change,match", [
    (lambda t: {**t, "extra": jnp.zeros(1)}, "structure"),
    (lambda t: {"w": jnp.zeros(4)}, "shape"),
    (lambda t: {"w": jnp.zeros(3, jnp.int32)}, "dtype"),
    (lambda t: {"w": jax.random.key(0)}, "key"),
])
def test_checkpoint_template_mismatch(tmp_path, change, match):
    path = tmp_path / "c.npz"
    nf.train.save_checkpoint(path, {"w": jnp.zeros(3)})
    with pytest.raises(nf.train.CheckpointError, match=match):
        nf.train.load_checkpoint(path, change({"w": jnp.zeros(3)}))


def test_checkpoint_corrupt_truncated_and_atomic(tmp_path, monkeypatch):
    good = tmp_path / "good.npz"
    nf.train.save_checkpoint(good, {"w": jnp.arange(1000.0)})
    data = good.read_bytes()
    bad = tmp_path / "bad.npz"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(nf.train.CheckpointError, match="corrupt or truncated"):
        nf.train.load_checkpoint(bad, {"w": jnp.zeros(1000)})
    flipped = bytearray(data)
    flipped[len(data) // 3] ^= 0xFF                  # damage array bytes: CRC catches it
    bad.write_bytes(bytes(flipped))
    with pytest.raises(nf.train.CheckpointError):
        nf.train.load_checkpoint(bad, {"w": jnp.zeros(1000)})
    with pytest.raises(nf.train.CheckpointError, match="does not exist"):
        nf.train.load_checkpoint(tmp_path / "nope.npz", {"w": jnp.zeros(1000)})
    # a crash in the middle of writing leaves the previous file intact and no temp files
    def crash(f, **arrays):
        f.write(b"PK partial")
        raise KeyboardInterrupt
    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        nf.train.save_checkpoint(good, {"w": jnp.zeros(1000)})
    monkeypatch.undo()
    assert good.read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.npz", "good.npz"]
    np.testing.assert_array_equal(nf.train.load_checkpoint(good, {"w": jnp.zeros(1000)})["w"],
                                  np.arange(1000.0))


# ------------------------------------------------------------------- issue 16

@pytest.mark.parametrize("leaf", ["relu", np.array(["a", "b"]), b"raw", object()])
def test_checkpoint_rejects_unloadable_leaves_at_save(tmp_path, leaf):
    """A string leaf used to save fine and then fail to load."""
    path = tmp_path / "c.npz"
    with pytest.raises(ValueError, match=r"leaf \['act'\]: checkpoint leaves must be numeric"):
        nf.train.save_checkpoint(path, {"w": jnp.zeros(2), "act": leaf})
    assert not path.exists() and not list(tmp_path.iterdir())


def test_checkpoint_into_a_missing_directory_names_it(tmp_path):
    """It used to report the hidden temporary file."""
    path = tmp_path / "missing" / "c.npz"
    with pytest.raises(FileNotFoundError, match=r"directory .*missing' does not exist"):
        nf.train.save_checkpoint(path, {"w": jnp.zeros(2)})
