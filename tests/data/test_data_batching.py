"""Tests of nnfunc.data.batching: batches, seeding, train/val split, bad inputs."""
import numpy as np
import pytest

from nnfunc import data


@pytest.mark.parametrize("n, bs, drop_last", [(10, 3, False), (10, 3, True), (9, 3, True),
                                              (2, 5, False), (2, 5, True), (0, 4, False)])
@pytest.mark.parametrize("shuffle", [False, True])
def test_batches_cover_every_sample_once(n, bs, drop_last, shuffle):
    x = np.arange(n * 2).reshape(n, 2)
    y = np.arange(n)
    out = list(data.batches(x, y, batch_size=bs, shuffle=shuffle, seed=7 if shuffle else None,
                            drop_last=drop_last))
    assert len(out) == data.num_batches(n, bs, drop_last=drop_last)
    for xb, yb in out:
        np.testing.assert_array_equal(xb[:, 0], 2 * yb)   # rows stay paired
        assert len(yb) == bs or (not drop_last and yb is out[-1][1])
    seen = np.concatenate([yb for _, yb in out]) if out else np.array([], int)
    expected_count = (n // bs) * bs if drop_last else n
    assert len(seen) == expected_count and len(set(seen.tolist())) == expected_count
    if not shuffle:
        np.testing.assert_array_equal(seen, np.arange(expected_count))


def test_batches_seeding():
    import jax

    x = np.arange(100)
    order = lambda seed: np.concatenate(  # noqa: E731
        [b for (b,) in data.batches(x, batch_size=16, shuffle=True, seed=seed)])
    np.testing.assert_array_equal(order(0), order(0))
    assert not np.array_equal(order(0), order(1))
    assert sorted(order(1).tolist()) == list(range(100))
    key = jax.random.PRNGKey(42)
    np.testing.assert_array_equal(order(key), order(np.asarray(key)))
    np.testing.assert_array_equal(order(np.random.default_rng(5)),
                                  order(np.random.default_rng(5)))


@pytest.mark.parametrize("fn, match", [
    (lambda: data.batches(np.arange(4), batch_size=2, shuffle=True), "seed is required"),
    (lambda: data.batches(np.arange(4), np.arange(5), batch_size=2), "share their leading"),
    (lambda: data.batches(np.arange(4), batch_size=0), "batch_size must be a positive"),
    (lambda: data.batches(batch_size=2), "need at least one array"),
    (lambda: data.batches(np.arange(4), batch_size=2, shuffle=True, seed=-3), "seed must be"),
    (lambda: data.batches(np.arange(4), batch_size=2, shuffle=True, seed=1.5), "seed must be"),
    (lambda: data.train_val_split(np.arange(4), val_fraction=1.0), "val_fraction must be"),
    (lambda: data.train_val_split(np.arange(4), stratify=np.arange(3)), "stratify must have"),
    (lambda: data.train_val_split(np.arange(4), stratify=np.arange(4), shuffle=False),
     "stratify requires shuffle"),
])
def test_batching_bad_inputs(fn, match):
    with pytest.raises(ValueError, match=match):
        fn()


def test_train_val_split():
    x = np.arange(1000).reshape(500, 2)
    y = np.arange(500) % 10
    (xt, yt), (xv, yv) = data.train_val_split(x, y, val_fraction=0.2, seed=0)
    assert xt.shape == (400, 2) and xv.shape == (100, 2)
    ids_t, ids_v = xt[:, 0] // 2, xv[:, 0] // 2
    assert set(ids_t.tolist()).isdisjoint(ids_v.tolist())
    assert sorted(ids_t.tolist() + ids_v.tolist()) == list(range(500))
    np.testing.assert_array_equal(yt, ids_t % 10)          # pairs stay aligned
    (xt2, _), _ = data.train_val_split(x, y, val_fraction=0.2, seed=0)
    np.testing.assert_array_equal(xt, xt2)
    (xt3, _), _ = data.train_val_split(x, y, val_fraction=0.2, seed=1)
    assert not np.array_equal(xt, xt3)
    _, (xv4,) = data.train_val_split(x, val_fraction=0.2, shuffle=False)
    np.testing.assert_array_equal(xv4, x[400:])
    # stratified: exactly 20 % of each class
    labels = np.repeat(np.arange(4), [50, 100, 150, 200])
    (lt,), (lv,) = data.train_val_split(labels, val_fraction=0.2, seed=0, stratify=labels)
    assert np.bincount(lv).tolist() == [10, 20, 30, 40]
    assert np.bincount(lt).tolist() == [40, 80, 120, 160]
    assert not np.all(np.diff(lv) >= 0)  # classes are mixed, not sorted
