"""nnfunc.text's word2vec step (``_word2vec/batch.py``, ``loss.py``, ``step.py``): the sparse
SGD step against jax.grad of objectives written out over the full tables (float64) and
against word2vec.c's updates by hand, the rows a step touches, and the cap on rows that
many examples share."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from _word2vec_setup import COMBOS, small_vocab
from nnfunc.text import word2vec
from nnfunc.text._word2vec.batch import batch_rows, make_batch
from nnfunc.text._word2vec.layout import pair_layout
from nnfunc.text._word2vec.step import cap_row_hits, sparse_sgd_step


# --------------------------------------------------------------------------- the step

def written_out_loss(model, tin, tout, batch, window):
    """The batch objective over the full tables, one example at a time (no gathers, no
    pair layout helpers): what the sparse step must differentiate."""
    lay = pair_layout(len(batch.focus), window)
    focus, ctx = np.asarray(batch.focus), np.asarray(batch.contexts)
    valid = np.asarray(batch.valid)
    negs = None if batch.negatives is None else np.asarray(batch.negatives)

    def logsig(x):
        return -jnp.logaddexp(0.0, -x)

    def example(h, target, noise):
        if model.output == "softmax":
            return -jax.nn.log_softmax(tout @ h)[target]
        if model.output == "hierarchical":
            t = model.tree
            return -sum(logsig((1 - 2 * int(t.codes[target, d]))
                               * (tout[int(t.points[target, d])] @ h))
                        for d in range(int(t.lengths[target])))
        loss = -logsig(tout[target] @ h)
        for n in noise:
            if n != target:                      # word2vec.c skips a noise word = target
                loss = loss - logsig(-(tout[n] @ h))
        return loss

    total = 0.0
    if model.architecture == "skipgram":
        for p in range(len(ctx)):
            if valid[p] and model.output == "hierarchical":    # word2vec.c's direction:
                total = total + example(tin[ctx[p]], focus[lay.focus[p]], ())  # context
            elif valid[p]:                                     # on the focus's path
                total = total + example(tin[focus[lay.focus[p]]], ctx[p],
                                        () if negs is None else negs[p])
        return total
    for b in range(len(focus)):
        mine = [ctx[p] for p in range(len(ctx)) if lay.focus[p] == b and valid[p]]
        if mine:
            h = sum(tin[c] for c in mine)
            if model.cbow_mean:     # the mean, but word2vec.c's full gradient per context
                h = h + jax.lax.stop_gradient(h / len(mine) - h)
            total = total + example(h, focus[b], () if negs is None else negs[b])
    return total


def random_batch(model, batch_size, window, seed):
    rng = np.random.default_rng(seed)
    v = len(model.vocab)
    p = batch_size * (window + 1)
    focus = jnp.asarray(rng.integers(0, v, batch_size), jnp.int32)
    contexts = jnp.asarray(rng.integers(0, v, p), jnp.int32)
    valid = jnp.asarray(rng.random(p) < 0.7)
    return make_batch(model, focus, contexts, valid, jax.random.key(seed))


def random_params(model, seed):
    params = model.init(seed)
    out = 0.5 * jax.random.normal(jax.random.key(seed + 1), params["out"].shape)
    return {"in": jnp.asarray(params["in"] * 20, jnp.float64), "out": out.astype(jnp.float64)}


@pytest.mark.parametrize("arch, output", COMBOS + [("cbow", "negative-sum")])
def test_sparse_step_equals_dense_sgd_on_the_written_out_objective(x64, arch, output):
    cbow_mean = output != "negative-sum"
    output = output.replace("-sum", "")
    window, batch_size, lr = 2, 4, 0.3
    model = word2vec(small_vocab(), dim=5, window=window, architecture=arch, output=output,
                     negatives=3, cbow_mean=cbow_mean)
    params = random_params(model, 0)
    batch = random_batch(model, batch_size, window, seed=1)
    if output == "negative":       # the batch exercises the "noise word = target" rule
        targets = batch.contexts if arch == "skipgram" else batch.focus
        batch = batch._replace(negatives=batch.negatives.at[0, 0].set(targets[0]))

    new, loss = sparse_sgd_step(model, params, batch, lr)
    ref_loss, (g_in, g_out) = jax.value_and_grad(
        lambda a, b: written_out_loss(model, a, b, batch, window), argnums=(0, 1))(
        params["in"], params["out"])
    assert new["in"].dtype == jnp.float64
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-12)
    np.testing.assert_allclose(new["in"], params["in"] - lr * g_in, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(new["out"], params["out"] - lr * g_out, rtol=1e-12, atol=1e-14)
    assert float(jnp.abs(g_out).sum()) > 0 and float(jnp.abs(g_in).sum()) > 0


def word2vec_c_update(tout, h, targets, lr):
    """word2vec.c's negative-sampling update of one example, by hand: for each (row,
    label), g = (label - sigma(u . h)) * lr, neu1e += g * u, u += g * h. Returns neu1e
    (what the input vectors get) and the updated output table."""
    out, neu1e = tout.copy(), np.zeros_like(h)
    for target, label in targets:
        g = (label - 1 / (1 + np.exp(-tout[target] @ h))) * lr
        neu1e += g * tout[target]
        out[target] += g * h
    return neu1e, out


def test_negative_sampling_gradient_is_word2vec_cs_update(x64):
    """One skip-gram pair, by hand as in word2vec.c: g = (label - sigma(u . h)) * lr,
    neu1e += g * u, u += g * h (all from the old values)."""
    model = word2vec(small_vocab(), dim=6, window=1, negatives=2)
    params = random_params(model, 3)
    batch = make_batch(model, jnp.array([4]), jnp.array([7, 2]), jnp.array([True, False]),
                       jax.random.key(5))
    batch = batch._replace(negatives=jnp.array([[1, 9], [3, 3]], jnp.int32))
    new, _ = sparse_sgd_step(model, params, batch, 0.1)
    tin, tout = np.asarray(params["in"]), np.asarray(params["out"])
    h = tin[4].copy()
    exp_in = tin.copy()
    neu1e, exp_out = word2vec_c_update(tout, h, [(7, 1), (1, 0), (9, 0)], 0.1)
    exp_in[4] += neu1e
    np.testing.assert_allclose(new["in"], exp_in, rtol=1e-12)
    np.testing.assert_allclose(new["out"], exp_out, rtol=1e-12)


@pytest.mark.parametrize("focus, context", [(4, 7), (0, 11), (11, 0), (3, 3)])
def test_hierarchical_skipgram_update_is_word2vec_cs(x64, focus, context):
    """One skip-gram pair with hierarchical softmax, by hand as in word2vec.c (and
    gensim's fast_sentence_sg_hs(points[focus], codes[focus], ..., context)): the
    context's input vector h walks the focus word's path, g = (1 - code - sigma(u . h))
    * lr per node, neu1e += g * u, u += g * h, then the context vector += neu1e."""
    model = word2vec(small_vocab(), dim=6, window=1, output="hierarchical")
    params = random_params(model, 6)
    batch = make_batch(model, jnp.array([focus]), jnp.array([context, 5]),
                       jnp.array([True, False]), jax.random.key(0))
    new, _ = sparse_sgd_step(model, params, batch, 0.1, max_row_hits=64)
    tin, tout = np.asarray(params["in"]), np.asarray(params["out"])
    tree = model.tree
    path = [(int(tree.points[focus, d]), 1 - int(tree.codes[focus, d]))
            for d in range(int(tree.lengths[focus]))]
    exp_in = tin.copy()
    neu1e, exp_out = word2vec_c_update(tout, tin[context].copy(), path, 0.1)
    exp_in[context] += neu1e
    np.testing.assert_allclose(new["in"], exp_in, rtol=1e-12)
    np.testing.assert_allclose(new["out"], exp_out, rtol=1e-12)


@pytest.mark.parametrize("cbow_mean", [True, False])
def test_cbow_update_is_word2vec_cs(x64, cbow_mean):
    """One CBOW example, by hand as in word2vec.c: h = mean (or sum) of the contexts,
    g = (label - sigma(u . h)) * lr for the focus and each negative, neu1e += g * u,
    u += g * h, and every context vector += neu1e (the mean's 1 / n not applied)."""
    model = word2vec(small_vocab(), dim=6, window=1, negatives=2, architecture="cbow",
                     cbow_mean=cbow_mean)
    params = random_params(model, 4)
    batch = make_batch(model, jnp.array([4]), jnp.array([7, 2]), jnp.array([True, True]),
                       jax.random.key(5))
    batch = batch._replace(negatives=jnp.array([[1, 9]], jnp.int32))
    new, _ = sparse_sgd_step(model, params, batch, 0.1)
    tin, tout = np.asarray(params["in"]), np.asarray(params["out"])
    h = tin[7] + tin[2]
    h = h / 2 if cbow_mean else h
    exp_in = tin.copy()
    neu1e, exp_out = word2vec_c_update(tout, h, [(4, 1), (1, 0), (9, 0)], 0.1)
    exp_in[7] += neu1e
    exp_in[2] += neu1e
    np.testing.assert_allclose(new["in"], exp_in, rtol=1e-12)
    np.testing.assert_allclose(new["out"], exp_out, rtol=1e-12)


def test_step_touches_only_the_rows_the_batch_uses():
    model = word2vec(small_vocab(40), dim=4, window=2, negatives=2)
    params = model.init(0)
    params = {"in": params["in"], "out": params["in"][::-1] + 0.1}   # non-zero rows
    batch = random_batch(model, 2, 2, seed=4)
    new, _ = sparse_sgd_step(model, params, batch, 0.1)
    in_ids, out_ids = batch_rows(model, batch)
    changed_in = set(np.flatnonzero(np.any(new["in"] != params["in"], 1)).tolist())
    changed_out = set(np.flatnonzero(np.any(new["out"] != params["out"], 1)).tolist())
    assert changed_in <= set(np.asarray(in_ids).tolist())
    assert changed_out <= set(np.asarray(out_ids).ravel().tolist())
    assert len(changed_out) > 0 and len(changed_out) < 40


# --------------------------------------------------------------------------- collisions

def test_cap_row_hits_scales_only_rows_hit_more_than_the_cap():
    ids = jnp.array([0, 0, 0, 0, 1, 2, 2])
    hits = jnp.array([True] * 6 + [False])           # the last entry is no update
    capped = cap_row_hits(jnp.ones((7, 3)), ids, hits, 4, 2)
    # row 0: 4 hits -> each 2/4; row 1: 1 hit; row 2: one real hit
    np.testing.assert_allclose(capped[:, 0], [0.5, 0.5, 0.5, 0.5, 1.0, 1.0, 1.0])
    total = jnp.zeros((4, 3)).at[ids[:6]].add(capped[:6])
    np.testing.assert_allclose(total[:, 0], [2.0, 1.0, 1.0, 0.0])   # at most cap x mean
