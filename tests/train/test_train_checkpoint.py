"""nnfunc.train.save_checkpoint/load_checkpoint: portable round trip, template
mismatches, corrupt and truncated files, atomic writes, unloadable leaves."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nnfunc as nf
from _core_setup import ADAM, MODEL, leaves_equal


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
    leaves_equal(back["ts"], ts)
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
