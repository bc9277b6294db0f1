"""Autoencoders on MNIST: quality against PCA, denoising, sparsity, codes as features, speed.

Trains on the 60,000 training images and reports on the 10,000 test images (pixels in
[0, 1]), all with nnfunc's public API:

* linear autoencoder, code 32: test MSE against PCA's rank-32 reconstruction (the optimum,
  Eckart–Young), target within 1 %;
* deep autoencoder 784-512-128-32-128-512-784: test MSE, target <= 0.6 x PCA-32;
* denoising (masking_noise(0.3)): MSE(reconstruction of masked test images, clean), target
  <= 0.35 x MSE(masked, clean);
* sparse, over-complete 784-1024-784 with sigmoid units and kl_sparsity(0.05, beta=3):
  mean hidden activation on the test set in [0.04, 0.07], >= 95 % of units active;
* softmax regression on the deep autoencoder's 32-d codes vs on PCA-32 codes;
* speed: the deep autoencoder's ``make_epoch`` vs a hand-written raw JAX + optax scan of
  the same network (samples/s, round-robin medians in one process), target >= 0.95x.

    python benchmarks/run.py autoencoders   # writes benchmarks/results/autoencoders/*
    python benchmarks/run.py autoencoders --quick --out /tmp/ae   # 5,000 images, 0.2x epochs
    python benchmarks/run.py autoencoders --smoke --out /tmp/ae   # seconds (CI)

MNIST is read from the shared data folder (``NNFUNC_SHARED``/data/mnist), never
downloaded. ``tests/benchmarks/test_benchmarks_autoencoders.py`` runs reduced versions of
the same functions.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
if str(HERE) not in sys.path:       # common, when imported from elsewhere
    sys.path.insert(0, str(HERE))

import nnfunc as nf  # noqa: E402
from common import pages  # noqa: E402

L = nf.layers
MSE = nf.losses.mse
CODE = 32
DEEP = [784, 512, 128, CODE]
# --quick and --smoke: (training images, test images, epochs scale, timed epochs)
QUICK = {"train": 5000, "test": None, "epochs_scale": 0.2, "repeats": 3}
SMOKE = {"train": 512, "test": 500, "epochs_scale": 0.02, "repeats": 1}


def load_mnist(n_train: int | None = None):
    """Train and test images as float32 (N, 784) in [0, 1], and their labels, from the
    shared data folder (``NNFUNC_SHARED``, else ``../shared`` beside the checkout)."""
    shared = pathlib.Path(os.environ.get("NNFUNC_SHARED", HERE.parents[1] / "shared"))
    root = shared / "data" / "mnist"
    xs, ys = {}, {}
    for split in ("train", "test"):
        x, y = nf.data.mnist(split, root=root, download=False, normalize=True,
                             flatten=True, progress=False)
        xs[split], ys[split] = x, y
    n = n_train or len(xs["train"])
    return xs["train"][:n], ys["train"][:n], xs["test"], ys["test"]


# ---------------------------------------------------------------------------------------
# the PCA optimum

def pca(x_train: np.ndarray, k: int):
    """Mean and top-``k`` principal directions (rows) of the training images."""
    mean = x_train.mean(0)
    _, _, vt = np.linalg.svd(np.asarray(x_train - mean, np.float64), full_matrices=False)
    return mean, vt[:k]


def pca_mse(x: np.ndarray, mean: np.ndarray, components: np.ndarray) -> float:
    """Mean squared error of PCA's rank-k reconstruction ``μ + (x − μ) V Vᵀ``."""
    c = (x - mean) @ components.T
    return float(np.mean((mean + c @ components - x) ** 2))


# ---------------------------------------------------------------------------------------
# training

def train(model, x_train, *, epochs: int, batch_size: int, learning_rate: float, key: int = 0,
          x_eval=None):
    """Adam with a cosine decay to 1 % over the run, on the inputs as their own targets."""
    steps = epochs * (len(x_train) // batch_size)
    sched = nf.schedules.cosine_annealing(learning_rate, max(steps, 1),
                                          eta_min=learning_rate / 100)
    return nf.train.fit(model, nf.optim.adam(learning_rate=sched), MSE, jnp.asarray(x_train),
                        epochs=epochs, batch_size=batch_size, key=key, progress=False,
                        eval_data=None if x_eval is None else jnp.asarray(x_eval))


def reconstruct(model, state, x, batch_size: int = 1000) -> np.ndarray:
    """The model's outputs in evaluation mode, in batches."""
    apply = jax.jit(lambda p, s, v: model.apply(p, s, v)[0])
    return np.concatenate([np.asarray(apply(state.params, state.model_state,
                                            jnp.asarray(x[i:i + batch_size])))
                           for i in range(0, len(x), batch_size)])


def encode(model, state, x, batch_size: int = 1000) -> np.ndarray:
    """The codes ``encoder.apply(params['encoder'], state['encoder'], x)``."""
    enc = model.children[0]
    apply = jax.jit(lambda p, s, v: enc.apply(p, s, v)[0])
    return np.concatenate([np.asarray(apply(state.params["encoder"],
                                            state.model_state["encoder"],
                                            jnp.asarray(x[i:i + batch_size])))
                           for i in range(0, len(x), batch_size)])


def linear_autoencoder(x_train, x_test, *, epochs: int, batch_size: int = 128):
    """Linear 784-32-784 autoencoder; returns its test MSE."""
    model = nf.models.dense_autoencoder([784, CODE], activation=None)
    r = train(model, x_train, epochs=epochs, batch_size=batch_size, learning_rate=2e-3)
    return float(np.mean((reconstruct(model, r.state, x_test) - x_test) ** 2)), r


def deep_autoencoder(x_train, x_test, *, epochs: int, batch_size: int = 128):
    """784-512-128-32 and back, ReLU, sigmoid output; returns (test MSE, model, result)."""
    model = nf.models.dense_autoencoder(DEEP, output_activation=nf.activations.sigmoid)
    r = train(model, x_train, epochs=epochs, batch_size=batch_size, learning_rate=1e-3)
    return float(np.mean((reconstruct(model, r.state, x_test) - x_test) ** 2)), model, r


def mask(x: np.ndarray, rate: float, seed: int = 1) -> np.ndarray:
    """``x`` with a fraction ``rate`` of its entries zeroed (the masking_noise corruption)."""
    keep = np.random.default_rng(seed).random(x.shape) >= rate
    return (x * keep).astype(x.dtype)


def denoising_autoencoder(x_train, x_test, *, epochs: int, rate: float = 0.3,
                          batch_size: int = 128):
    """masking_noise(rate) in front of a 784-512-256 autoencoder; returns (MSE of the
    reconstructions of masked test images against the clean ones, MSE(masked, clean),
    masked test images, reconstructions)."""
    inner = nf.models.dense_autoencoder([784, 512, 256],
                                        output_activation=nf.activations.sigmoid)
    encoder, decoder = inner.children
    model = nf.models.autoencoder(L.serial(L.masking_noise(rate), encoder), decoder)
    r = train(model, x_train, epochs=epochs, batch_size=batch_size, learning_rate=1e-3)
    masked = mask(x_test, rate)
    rec = reconstruct(model, r.state, masked)
    return (float(np.mean((rec - x_test) ** 2)), float(np.mean((masked - x_test) ** 2)),
            masked, rec)


def sparse_autoencoder(x_train, x_test, *, epochs: int, rho: float = 0.05, beta: float = 3.0,
                       batch_size: int = 128):
    """Over-complete 784-1024-784 with sigmoid units and the KL sparsity penalty; returns
    (mean hidden activation on the test set, fraction of units with mean > 0.005, test MSE)."""
    encoder = L.serial(L.dense(1024), L.activation(nf.activations.sigmoid),
                       L.activity_regularizer(nf.regularizers.kl_sparsity(rho, beta=beta)))
    decoder = L.serial(L.dense(784), L.activation(nf.activations.sigmoid))
    model = nf.models.autoencoder(encoder, decoder)
    r = train(model, x_train, epochs=epochs, batch_size=batch_size, learning_rate=1e-3)
    hidden = encode(model, r.state, x_test)
    per_unit = hidden.mean(0)
    mse = float(np.mean((reconstruct(model, r.state, x_test) - x_test) ** 2))
    return float(hidden.mean()), float(np.mean(per_unit > 0.005)), mse


def codes_accuracy(c_train, y_train, c_test, y_test, *, epochs: int = 30) -> float:
    """Test accuracy of softmax regression trained on standardised codes."""
    mu, sd = c_train.mean(0), c_train.std(0) + 1e-6
    a, b = (c_train - mu) / sd, (c_test - mu) / sd
    model = nf.models.softmax_regression(10, logits=True)
    r = nf.train.fit(model, nf.optim.adam(learning_rate=1e-2),
                     nf.losses.softmax_cross_entropy_with_integer_labels,
                     (jnp.asarray(a, jnp.float32), jnp.asarray(y_train)), epochs=epochs,
                     batch_size=256, key=0, progress=False,
                     eval_data=(jnp.asarray(b, jnp.float32), jnp.asarray(y_test)))
    return r.history["eval_accuracy"][-1]


# ---------------------------------------------------------------------------------------
# speed: make_epoch vs raw JAX + optax

def _raw_jax_epoch(x, batch_size: int):
    """The same deep autoencoder, Adam and scan epoch, written by hand with optax."""
    import optax
    from common import jax_peer
    code_layer = len(DEEP) - 2      # no activation on the code

    def loss(params, xb):
        h = xb
        for i, layer in enumerate(params[:-1]):
            h = h @ layer["w"] + layer["b"]
            h = h if i == code_layer else jax.nn.relu(h)
        out = jax.nn.sigmoid(h @ params[-1]["w"] + params[-1]["b"])
        return jnp.mean((out - xb) ** 2)
    params = jax_peer.init_mlp(jax.random.key(0), DEEP + DEEP[-2::-1])
    return jax_peer.scan_epoch_runner(loss, params, optax.adam(1e-3), batch_size, x)


def _nnfunc_epoch(x, batch_size: int):
    model = nf.models.dense_autoencoder(DEEP, output_activation=nf.activations.sigmoid)
    opt = nf.optim.adam(learning_rate=1e-3)
    epoch = nf.train.make_epoch(model, opt, MSE, batch_size, donate=True)
    box = [nf.train.init_state(model, opt, 0, (784,))]

    def run():
        box[0], m = epoch(box[0], x)
        jax.block_until_ready(m)
    return run


def speed(x_train, *, repeats: int, batch_size: int = 128) -> dict:
    """Median epoch seconds of both, timed round-robin after one warm-up epoch each."""
    x = jnp.asarray(x_train)
    runners = {"nnfunc make_epoch": _nnfunc_epoch(x, batch_size),
               "raw JAX + optax scan": _raw_jax_epoch(x, batch_size)}
    for fn in runners.values():
        fn()
    times = {name: [] for name in runners}
    for _ in range(repeats):
        for name, fn in runners.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    med = {name: statistics.median(t) for name, t in times.items()}
    n = (len(x_train) // batch_size) * batch_size
    return {"seconds": med, "samples_per_s": {k: n / v for k, v in med.items()},
            "ratio": med["raw JAX + optax scan"] / med["nnfunc make_epoch"],
            "repeats": repeats, "batch_size": batch_size}


# ---------------------------------------------------------------------------------------
# the report

def picture(path, x_test, deep_rec, masked, denoised) -> None:
    """Test digits, the deep autoencoder's reconstructions, masked digits, and their
    denoised reconstructions, one row each."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = [("test digits", x_test), ("deep AE (code 32)", deep_rec),
            ("masked 30 %", masked), ("denoised", denoised)]
    n = 10
    fig, axes = plt.subplots(len(rows), n, figsize=(n * 0.9, len(rows) * 1.0))
    for r, (title, imgs) in enumerate(rows):
        for c in range(n):
            ax = axes[r, c]
            ax.imshow(np.asarray(imgs[c]).reshape(28, 28), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_ylabel(title, rotation=0, ha="right", va="center", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def run(n_train: int | None, epochs_scale: float, repeats: int, out: pathlib.Path, *,
        n_test: int | None = None, command: str = "python benchmarks/run.py autoencoders"
        ) -> dict:
    """Every experiment; writes ``out``.md/.json/.png and returns the results."""
    x_train, y_train, x_test, y_test = load_mnist(n_train)
    x_test, y_test = x_test[:n_test], y_test[:n_test]
    e = lambda n: max(1, round(n * epochs_scale))  # noqa: E731
    res: dict = {"train_images": len(x_train), "test_images": len(x_test),
                 "command": command, **pages.machine()}
    t0 = time.perf_counter()
    mean, comps = pca(x_train, CODE)
    res["pca32_mse"] = pca_mse(x_test, mean, comps)
    res["linear_mse"], _ = linear_autoencoder(x_train, x_test, epochs=e(20))
    res["deep_mse"], deep, r_deep = deep_autoencoder(x_train, x_test, epochs=e(30))
    res["denoise_mse"], res["masked_mse"], masked, denoised = denoising_autoencoder(
        x_train, x_test, epochs=e(15))
    res["sparse_mean_activation"], res["sparse_active_units"], res["sparse_mse"] = \
        sparse_autoencoder(x_train, x_test, epochs=e(15))
    res["acc_deep_codes"] = codes_accuracy(encode(deep, r_deep.state, x_train), y_train,
                                           encode(deep, r_deep.state, x_test), y_test)
    res["acc_pca_codes"] = codes_accuracy((x_train - mean) @ comps.T, y_train,
                                          (x_test - mean) @ comps.T, y_test)
    res["quality_seconds"] = time.perf_counter() - t0
    res["speed"] = speed(x_train, repeats=repeats)
    res["epochs"] = {"linear": e(20), "deep": e(30), "denoising": e(15), "sparse": e(15)}
    out.parent.mkdir(parents=True, exist_ok=True)
    picture(out.with_suffix(".png"), x_test, reconstruct(deep, r_deep.state, x_test[:10]),
            masked, denoised)
    pages.write_page(out, res, render(res, out.with_suffix(".png").name))
    return res


def _title(res: dict) -> str:
    """Where JAX trained: ``CPU``, or the accelerator's kind (e.g. an NVIDIA GPU's)."""
    rec = res if "backend" in res else pages.machine()
    return "CPU" if rec["backend"] == "cpu" else rec["device"]


def render(res: dict, png: str) -> str:
    """The results as a Markdown page."""
    p = res["pca32_mse"]
    sp = res["speed"]
    rows = [
        ("linear AE (code 32) / PCA-32 test MSE", res["linear_mse"] / p, "<= 1.01"),
        ("deep AE (code 32) / PCA-32 test MSE", res["deep_mse"] / p, "<= 0.6"),
        ("denoising: MSE(rec, clean) / MSE(masked, clean)",
         res["denoise_mse"] / res["masked_mse"], "<= 0.35"),
        ("sparse: mean hidden activation (test)", res["sparse_mean_activation"],
         "in [0.04, 0.07]"),
        ("sparse: units with mean activation > 0.005", res["sparse_active_units"], ">= 0.95"),
        ("make_epoch / raw JAX + optax (samples/s)", sp["ratio"], ">= 0.95"),
    ]
    lines = [
        f"# Autoencoders on MNIST ({_title(res)})", "",
        f"Trained on {res['train_images']:,} training images, measured on the "
        f"{res['test_images']:,} test images; pixels in [0, 1]; Adam with a cosine decay "
        f"to 1 % of the initial rate; epochs: {res['epochs']}. Machine: "
        f"{res.get('machine', '?')}, jax {jax.__version__}.", "",
        f"Command: `{res.get('command', 'python benchmarks/run.py autoencoders')}`.", "",
        "| quantity | measured | target |", "|---|---:|---|",
    ]
    lines += [f"| {name} | {value:.4f} | {target} |" for name, value, target in rows]
    lines += [
        "", "| test MSE | value |", "|---|---:|",
        f"| PCA-32 (the optimum of a linear code of 32) | {p:.5f} |",
        f"| linear autoencoder 784-32-784 | {res['linear_mse']:.5f} |",
        f"| deep autoencoder 784-512-128-32-128-512-784 | {res['deep_mse']:.5f} |",
        f"| masked test images (30 % zeroed) vs clean | {res['masked_mse']:.5f} |",
        f"| denoising autoencoder on them vs clean | {res['denoise_mse']:.5f} |",
        f"| sparse over-complete 784-1024-784 | {res['sparse_mse']:.5f} |",
        "", "Codes as features (softmax regression, 30 epochs, standardised codes):", "",
        "| features | test accuracy |", "|---|---:|",
        f"| deep autoencoder codes (32-d) | {res['acc_deep_codes']:.4f} |",
        f"| PCA-32 codes | {res['acc_pca_codes']:.4f} |",
        "", f"Speed (deep autoencoder, batch {sp['batch_size']}, Adam, median of "
        f"{sp['repeats']} epochs each, round-robin in one process):", "",
        "| variant | seconds/epoch | samples/s |", "|---|---:|---:|",
    ]
    lines += [f"| {k} | {v:.3f} | {sp['samples_per_s'][k]:,.0f} |"
              for k, v in sp["seconds"].items()]
    lines += ["", f"![test digits, reconstructions, masked digits, denoised]({png})", ""]
    return "\n".join(lines)


def main(argv=None) -> None:
    """Run every experiment; write OUT.json, OUT.md and OUT.png."""
    ap = argparse.ArgumentParser(prog="benchmarks/run.py autoencoders",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--train", type=int, default=None, help="training images (default all)")
    ap.add_argument("--test", type=int, default=None, help="test images (default all)")
    ap.add_argument("--epochs-scale", type=float, default=None,
                    help="multiply every experiment's epochs by this (default 1)")
    ap.add_argument("--repeats", type=int, default=None,
                    help="timed epochs per variant (default 7)")
    ap.add_argument("--quick", action="store_true", help=f"smaller: {QUICK}")
    ap.add_argument("--smoke", action="store_true",
                    help=f"seconds, for CI (numbers are not measurements): {SMOKE}")
    ap.add_argument("--out", default=str(HERE / "results" / "autoencoders" /
                                         "autoencoders-cpu"),
                    help="output path without suffix (.md, .json, .png are written)")
    args = ap.parse_args(argv)
    size = SMOKE if args.smoke else QUICK if args.quick else {
        "train": None, "test": None, "epochs_scale": 1.0, "repeats": 7}
    res = run(args.train or size["train"], args.epochs_scale or size["epochs_scale"],
              args.repeats or size["repeats"], pathlib.Path(args.out),
              n_test=args.test or size["test"],
              command=pages.run_meta("run.py autoencoders", argv)["command"].strip())
    print(render(res, pathlib.Path(args.out).with_suffix(".png").name))


if __name__ == "__main__":
    sys.exit(main())
