"""Multi-process data parallelism: ``fit(..., devices=jax.devices())`` after
``jax.distributed.initialize()``, with two local CPU processes (gloo collectives) standing
in for two hosts.

Three subprocesses run at once: two workers form one 2-process JAX runtime (one CPU device
each, a localhost coordinator) and train with a ``Checkpoint`` callback into a shared
folder; a baseline process trains the same model on the same data with the same seed
twice, single-device (``devices=None``) and data-parallel over 2 local devices
(``--xla_force_host_platform_device_count=2``).

What is compared, and to what tolerance:

* against the single-process 2-device run: **bitwise equal**. Both execute the same SPMD
  program (each device the forward/backward of its 8-example half-batch, then one 2-way
  all-reduce); only the all-reduce transport differs (gloo between processes vs. in
  process), and a 2-way sum ``a + b`` is exact-order independent (float addition is
  commutative).
* against the plain single-device run: ``rtol=1e-5, atol=1e-6``. The mean gradient of
  each batch of 16 is one reduction there and two partial sums of 8 plus an all-reduce
  here, so results differ by float32 rounding (measured: <= 3e-8 absolute, a few ulp,
  after 18 SGD-with-momentum steps); the tolerance leaves a ~30x margin and is still far
  below any real bug (a wrong shard, a missing all-reduce or a 2x gradient scale move
  the parameters by > 1e-3).

Checkpoints: written once, by process 0 only (``Checkpoint`` skips other processes),
and the folder holds exactly the ``keep`` newest files, the last one equal to the final
parameters.

Every subprocess is killed if another fails or the deadline passes (no hanging CI). If
this jax build cannot run multi-process CPU collectives, the workers say so with the
error text and the test is skipped for that reason only.
"""
import os
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

_DEADLINE_S = 150          # hang guard only: the test takes 18-30 s on 2 busy cores
_EPOCHS, _N, _BATCH, _KEEP = 3, 96, 16, 2
_STEPS = _N // _BATCH      # 6 optimizer steps per epoch

_WORKER = textwrap.dedent(f"""
    import sys
    mode = sys.argv[1]
    import jax
    if mode == "multi":
        pid, port, ckdir, out = int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
        try:
            jax.config.update("jax_cpu_collectives_implementation", "gloo")
        except Exception as err:
            print("NO-CPU-COLLECTIVES:", repr(err), flush=True)
            sys.exit(3)
        jax.distributed.initialize(coordinator_address=f"localhost:{{port}}",
                                   num_processes=2, process_id=pid,
                                   initialization_timeout=60)
        try:   # one cross-process collective, before any training
            from jax.experimental import multihost_utils
            multihost_utils.sync_global_devices("probe")
        except Exception as err:
            print("NO-CPU-COLLECTIVES:", repr(err), flush=True)
            sys.exit(3)
    else:
        out = sys.argv[2]
    import numpy as np, jax.numpy as jnp
    import nnfunc as nf
    import nnfunc.train.callbacks as callbacks

    rng = np.random.default_rng(0)     # every process loads the same full arrays
    X = jnp.asarray(rng.normal(size=({_N}, 8)), jnp.float32)
    Y = jnp.asarray(rng.integers(0, 3, {_N}), jnp.int32)
    model = nf.models.mlp([8, 16, 3])
    opt = nf.optim.sgd(learning_rate=0.05, momentum=0.9)
    ce = nf.losses.softmax_cross_entropy_with_integer_labels
    kw = dict(epochs={_EPOCHS}, batch_size={_BATCH}, key=0, eval_data=(X, Y), progress=False)

    def flat(result):
        leaves = jax.tree_util.tree_leaves(result.state.params)
        return {{**{{f"p{{i}}": np.asarray(v) for i, v in enumerate(leaves)}},
                 "loss": np.array(result.history["loss"]),
                 "eval_loss": np.array(result.history["eval_loss"])}}

    if mode == "multi":
        saves = []                     # every real file write of Checkpoint
        real_save = callbacks.write_checkpoint
        callbacks.write_checkpoint = lambda path, tree, **kw: (saves.append(path),
                                                               real_save(path, tree, **kw))
        cb = nf.train.Checkpoint(ckdir, every=1, keep={_KEEP})
        r = nf.train.fit(model, opt, ce, (X, Y), devices=jax.devices(), callbacks=[cb], **kw)
        w = r.state.params[0]["w"]
        np.savez(out, **flat(r), saves=len(saves), process_index=jax.process_index(),
                 process_count=jax.process_count(), global_devices=len(jax.devices()),
                 local_devices=len(jax.local_devices()),
                 param_devices=len(w.sharding.device_set),
                 replicated=w.sharding.is_fully_replicated,
                 addressable=w.sharding.is_fully_addressable)
        jax.distributed.shutdown()
    else:
        assert len(jax.devices()) == 2, jax.devices()
        one = nf.train.fit(model, opt, ce, (X, Y), **kw)
        two = nf.train.fit(model, opt, ce, (X, Y), devices=jax.devices(), **kw)
        np.savez(out, **{{"one_" + k: v for k, v in flat(one).items()}},
                 **{{"two_" + k: v for k, v in flat(two).items()}})
    print("WORKER-OK", flush=True)
""")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _run_all(cmds: dict, env: dict, logdir) -> dict:
    """Start every command (output to files: a full pipe cannot block it); wait for all,
    killing the rest as soon as one fails or the deadline passes.
    Returns {name: (returncode, stdout, stderr)}."""
    logs = {n: (open(logdir / f"{n}.out", "w+"), open(logdir / f"{n}.err", "w+"))
            for n in cmds}
    procs = {n: subprocess.Popen(c, stdout=logs[n][0], stderr=logs[n][1], text=True,
                                 env=env[n]) for n, c in cmds.items()}
    codes, start = {}, time.monotonic()
    try:
        while len(codes) < len(procs) and time.monotonic() - start < _DEADLINE_S:
            for n, p in procs.items():
                if n not in codes and p.poll() is not None:
                    codes[n] = p.returncode
            if any(rc != 0 for rc in codes.values()):
                break            # a lone survivor would wait on its peer forever
            time.sleep(0.05)
    finally:
        for n, p in procs.items():
            if p.poll() is None:
                p.kill()
                p.wait(timeout=30)
                codes.setdefault(n, f"killed after {time.monotonic() - start:.0f} s")
            codes.setdefault(n, p.returncode)
    results = {}
    for n, (out, err) in logs.items():
        out.seek(0), err.seek(0)
        results[n] = (codes[n], out.read(), err.read())
        out.close(), err.close()
    return results


def test_two_processes_train_like_one(tmp_path):
    ckdir, port = tmp_path / "checkpoints", _free_port()
    base_env = {k: v for k, v in os.environ.items()
                if k not in ("XLA_FLAGS", "JAX_ENABLE_X64", "JAX_NUM_CPU_DEVICES")}
    base_env["JAX_PLATFORMS"] = "cpu"
    cmds = {f"worker{i}": [sys.executable, "-c", _WORKER, "multi", str(i), str(port),
                           str(ckdir), str(tmp_path / f"worker{i}.npz")] for i in (0, 1)}
    cmds["baseline"] = [sys.executable, "-c", _WORKER, "local", str(tmp_path / "base.npz")]
    envs = {"worker0": base_env, "worker1": base_env,
            "baseline": {**base_env,
                         "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}}
    results = _run_all(cmds, envs, tmp_path)

    report = "\n".join(f"--- {n}: rc={rc}\n{out[-2000:]}\n{err[-4000:]}"
                       for n, (rc, out, err) in results.items())
    for name in ("worker0", "worker1"):
        rc, out, _ = results[name]
        if rc == 3 and "NO-CPU-COLLECTIVES:" in out:
            pytest.skip("this jax build cannot run multi-process CPU collectives: "
                        + out.split("NO-CPU-COLLECTIVES:", 1)[1].strip()[:500])
    assert all(rc == 0 and "WORKER-OK" in out for rc, out, _ in results.values()), report

    w0, w1 = (dict(np.load(tmp_path / f"worker{i}.npz")) for i in (0, 1))
    base = dict(np.load(tmp_path / "base.npz"))
    names = sorted(k for k in base if k.startswith("one_p"))
    assert len(names) == 4                      # two dense layers: w and b each

    # one 2-process runtime, parameters replicated over both processes' devices
    for i, w in enumerate((w0, w1)):
        assert int(w["process_index"]) == i and int(w["process_count"]) == 2
        assert int(w["global_devices"]) == 2 and int(w["local_devices"]) == 1
        assert int(w["param_devices"]) == 2 and bool(w["replicated"])
        assert not bool(w["addressable"])     # truly global arrays, not two local runs

    # both processes end with the very same state and history
    for k in [n[4:] for n in names] + ["loss", "eval_loss"]:
        np.testing.assert_array_equal(w0[k], w1[k], err_msg=k)

    # same SPMD program as one process over 2 devices: bitwise equal (see module notes)
    for k in [n[4:] for n in names] + ["loss", "eval_loss"]:
        np.testing.assert_array_equal(w0[k], base["two_" + k], err_msg=k)

    # the plain single-device run: equal up to float32 summation order
    for k in [n[4:] for n in names]:
        np.testing.assert_allclose(w0[k], base["one_" + k], rtol=1e-5, atol=1e-6, err_msg=k)
    np.testing.assert_allclose(w0["loss"], base["one_loss"], rtol=1e-5)
    np.testing.assert_allclose(w0["eval_loss"], base["one_eval_loss"], rtol=1e-5)
    assert w0["loss"][-1] < w0["loss"][0]       # it did train

    # checkpoints: written by process 0 only, once per epoch; the `keep` newest remain
    assert int(w0["saves"]) == _EPOCHS and int(w1["saves"]) == 0
    expected = [f"checkpoint-{_STEPS * e:09d}.npz" for e in range(_EPOCHS - _KEEP + 1,
                                                                  _EPOCHS + 1)]
    assert sorted(os.listdir(ckdir)) == expected      # no temporary files left either
    with np.load(ckdir / expected[-1], allow_pickle=False) as last:
        keys = sorted(k for k in last.files if k.startswith(".params"))   # leaf order
        assert int(last[".step"]) == _STEPS * _EPOCHS
        assert len(keys) == len(names)
        for key, n in zip(keys, names):     # the last checkpoint: the final parameters
            np.testing.assert_array_equal(last[key], w0[n[4:]], err_msg=key)
