#!/usr/bin/env bash
# One prepared GPU session, what is still unmeasured first: the sweeps against their
# roofline bound in both of nf.train.sweep's layouts (layout='runs_first' and
# 'runs_inside'; benchmarks/investigations/sweep_roofline.py), the autoencoders suite's GPU
# row, the full-epoch A/B against raw JAX (benchmarks/investigations/gpu_profile.py, no
# traces; the MLP again with Adam's bias corrections as one vector power, with cuBLAS
# instead of Triton GEMMs, and both), then the throughput suite on the GPU (its
# torch.compile peer last, so that the suite's time budget drops it before anything
# else), the MNIST speedrun with 10 seeds (nnfunc vs PyTorch, one-cycle over 1 epoch and
# over 2) and word2vec's GPU row, in about 8 minutes, everything written under $OUT. The
# suites run as `python benchmarks/run.py NAME ...`. (On an H200 the last four and the
# sweeps in one layout took 258 s.)
#
# 1. On the development machine, once, in the repository root (copies MNIST and the
#    word2vec corpus into .gpu-data/, downloads the gensim + smart_open wheels for the
#    device's Python 3.12 into .whl/, and adds /.gpu-data/ and /.whl/ to
#    .git/info/exclude so that they travel only through `carry`; about 40 MiB):
#
#        bash benchmarks/gpu_session.sh --prepare
#
# 2. The device call (the `run` tool; the H200 image already has JAX 0.11 with its CUDA 13
#    plugin, torch 2.11+cu130, numpy, scipy and tqdm; gensim and smart_open come as wheels):
#
#        run(command="bash benchmarks/gpu_session.sh", carry=[".gpu-data", ".whl"],
#            timeout_s=570)
#
#    The script keeps its own deadline (GPU_SESSION_BUDGET_S, default 500 s) and gives each
#    step at most its share, so it ends before timeout_s even when a step hangs.
#
# 3. Back here: the files land under the reply's files_at: session.log, bundle.tar.gz
#    (every JSON and report), suite.md, mnist-speedrun-gpu.md, mnist-speedrun-gpu-e2.md,
#    sweep-roofline-gpu.md, word2vec-gpu.md, autoencoders-gpu.md (at most 8 files come
#    back, none deeper than 2 folders). Unpack the bundle: each suite's files into
#    benchmarks/results/<suite>/ (throughput, speedrun, word2vec, autoencoders), the
#    sweeps and the A/B into benchmarks/results/investigations/ (the names there are the
#    ones to commit).
#
# Other modes, for this machine (no GPU needed):
#    bash benchmarks/gpu_session.sh --dry-run    # print the plan, check files and imports
#    bash benchmarks/gpu_session.sh --cpu-check  # every step with tiny settings on the CPU
set -u -o pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
MODE="gpu"
case "${1:-}" in
  --prepare) MODE="prepare" ;;
  --dry-run) MODE="dry-run" ;;
  --cpu-check) MODE="cpu-check" ;;
  "") ;;
  *) echo "usage: $0 [--prepare|--dry-run|--cpu-check]" >&2; exit 2 ;;
esac

SHARED_SRC="${NNFUNC_SHARED:-$ROOT/../shared}"
GENSIM_VERSION="${GENSIM_VERSION:-4.4.0}"
SMART_OPEN_VERSION="${SMART_OPEN_VERSION:-9.0.2}"

# --------------------------------------------------------------------------- prepare
if [ "$MODE" = "prepare" ]; then
  set -e
  exclude="$(git rev-parse --git-path info/exclude)"
  mkdir -p "$(dirname "$exclude")"
  touch "$exclude"
  for pat in /.gpu-data/ /.whl/; do
    grep -qxF "$pat" "$exclude" || echo "$pat" >> "$exclude"
  done
  mkdir -p .gpu-data/data/mnist .gpu-data/data/text .whl
  cp "$SHARED_SRC"/data/mnist/*.gz .gpu-data/data/mnist/
  cp "$SHARED_SRC"/data/text/head500.noblanks.cor "$SHARED_SRC"/data/text/lee_background.cor \
     .gpu-data/data/text/
  PY="${PYTHON:-python3}"
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
      --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
      --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 \
      --platform manylinux2014_x86_64 -d .whl "gensim==$GENSIM_VERSION"
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
      --implementation py --platform any -d .whl "smart_open==$SMART_OPEN_VERSION"
  echo "exclude file $exclude now holds:"; cat "$exclude"
  echo "ignored by git (must list both):"; git status --short --ignored .gpu-data .whl
  du -sh .gpu-data .whl
  exit 0
fi

# --------------------------------------------------------------------------- settings
# The A/B's variants (benchmarks/investigations/gpu_profile.py VARIANTS), each in a fresh
# process.
AB_VARIANTS="adam bias corrections stacked,cublas gemms,cublas gemms + adam bias corrections stacked"
if [ "$MODE" = "gpu" ]; then
  PY="${PYTHON:-python3}"                      # the image's python3 holds torch and JAX
  OUT="${OUT:?OUT is unset: this mode runs on the device machine (or use --cpu-check)}"
  BUDGET="${GPU_SESSION_BUDGET_S:-500}"
  SUITE=(benchmarks/run.py throughput --quick --backends gpu --max-minutes 2.8 --tag auto)
  SPEED=(benchmarks/run.py speedrun --device gpu --seeds 10 --profile)
  SPEED_E2=(benchmarks/run.py speedrun --device gpu --seeds 10 --epochs 2)
  SWEEP=(benchmarks/investigations/sweep_roofline.py --device gpu --runs-inside)
  W2V=(benchmarks/run.py word2vec --corpus head500.noblanks.cor --epochs 5 --seeds 0
       --workers 16 --note "H200 machine (16 cores): nnfunc on the GPU, gensim on the CPU")
  AE=(benchmarks/run.py autoencoders)
  AB=(benchmarks/investigations/gpu_profile.py --device gpu --no-traces
      --variant-cases mlp128,mlp1024 --variants "$AB_VARIANTS")
  # seconds: sweep, autoencoders, A/B, suite, speedrun, e2, w2v
  SHARE=(80 90 170 160 75 55 60)
else
  PY="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}"
  OUT="${OUT:-/tmp/gpu-session-out}"
  BUDGET="${GPU_SESSION_BUDGET_S:-900}"
  SUITE=(benchmarks/run.py throughput --tiny --backends cpu --torch-compile reduce-overhead
         --tag auto)
  SPEED=(benchmarks/run.py speedrun --device cpu --quick --profile)
  SPEED_E2=(benchmarks/run.py speedrun --device cpu --quick --seeds 1 --epochs 1
            --frameworks nnfunc)
  SWEEP=(benchmarks/investigations/sweep_roofline.py --device cpu --quick --runs-inside)
  W2V=(benchmarks/run.py word2vec --corpus lee_background.cor --epochs 1 --seeds 0
       --workers 2 --note "gpu_session.sh --cpu-check")
  AE=(benchmarks/run.py autoencoders --train 2000 --epochs-scale 0.05 --repeats 2)
  AB=(benchmarks/investigations/gpu_profile.py --device cpu --quick --cases mlp128
      --no-traces --variants "$AB_VARIANTS" --variant-cases mlp128)
  SHARE=(150 300 150 200 200 150 300)
fi
# The data: the carried copy on the device; here the carried copy if prepared, else shared.
if [ -d .gpu-data/data/mnist ]; then DATA_HOME="$ROOT/.gpu-data"; else DATA_HOME="$SHARED_SRC"; fi
export NNFUNC_SHARED="$DATA_HOME" NNFUNC_DATA="$DATA_HOME/data"
export XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1
# nnfunc is not installed on the device: its source (src/) and the benchmarks' common
# come from the checkout.
export PYTHONPATH="$ROOT/src:$ROOT/benchmarks${PYTHONPATH:+:$PYTHONPATH}"
WORK="/tmp/gpu-session.$$"      # created only when the steps run
# The reports copied flat into $OUT beside session.log, bundle.tar.gz and suite.md.
FLAT=(mnist-speedrun-gpu mnist-speedrun-gpu-e2 sweep-roofline-gpu word2vec-gpu autoencoders-gpu)

plan() {
  echo "mode $MODE, python $PY, budget ${BUDGET}s, OUT=$OUT, work dir $WORK"
  echo "data: NNFUNC_DATA=$NNFUNC_DATA NNFUNC_SHARED=$NNFUNC_SHARED"
  echo "1. (${SHARE[0]}s) $PY ${SWEEP[*]} --out $WORK/sweep-roofline-gpu"
  echo "2. (${SHARE[1]}s) $PY ${AE[*]} --out $WORK/autoencoders-gpu"
  echo "3. (${SHARE[2]}s) $PY ${AB[*]} --out $WORK/profile"
  echo "4. (${SHARE[3]}s) $PY ${SUITE[*]} --out $WORK/suite"
  echo "5. (${SHARE[4]}s) $PY ${SPEED[*]} --out $WORK/mnist-speedrun-gpu"
  echo "6. (${SHARE[5]}s) $PY ${SPEED_E2[*]} --out $WORK/mnist-speedrun-gpu-e2"
  echo "7. (${SHARE[6]}s) $PY ${W2V[*]} --out $WORK/word2vec-gpu"
  echo "then in $OUT: session.log bundle.tar.gz suite.md ${FLAT[*]/%/.md}"
}

checks() {
  local ok=0
  for f in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz \
           t10k-labels-idx1-ubyte.gz; do
    [ -f "$NNFUNC_DATA/mnist/$f" ] || { echo "MISSING $NNFUNC_DATA/mnist/$f"; ok=1; }
  done
  for f in head500.noblanks.cor lee_background.cor; do
    [ -f "$NNFUNC_SHARED/data/text/$f" ] || { echo "MISSING $NNFUNC_SHARED/data/text/$f"; ok=1; }
  done
  "$PY" - <<'EOF' || ok=1
import importlib
for name in ("numpy", "jax", "nnfunc", "torch", "gensim", "smart_open"):
    try:
        m = importlib.import_module(name)
        where = f" from {m.__path__[0]}" if name == "nnfunc" else ""
        print(f"import {name}: {getattr(m, '__version__', '?')}{where}")
    except Exception as e:                      # noqa: BLE001
        print(f"import {name}: FAILED ({type(e).__name__}: {e})")
try:
    import common                               # the benchmarks' helpers, from PYTHONPATH
    print("import common: ok")
except Exception as e:                          # noqa: BLE001
    print(f"import common: FAILED ({type(e).__name__}: {e})")
import jax
print("jax devices:", jax.devices())
EOF
  return $ok
}

if [ "$MODE" = "dry-run" ]; then
  plan
  [ -d .whl ] && ls .whl
  checks; rc=$?
  echo "dry run: checks $([ $rc = 0 ] && echo passed || echo FAILED)"
  exit $rc
fi

# --------------------------------------------------------------------------- run
mkdir -p "$OUT" "$WORK"
LOG="$OUT/session.log"
exec > >(tee -a "$LOG") 2>&1
START=$(date +%s)
echo "=== gpu_session.sh $MODE, $(date -u +%FT%TZ)"
if [ "$MODE" = "gpu" ] && ls .whl/*.whl >/dev/null 2>&1; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/site .whl/*.whl && export PYTHONPATH="$PYTHONPATH:/tmp/site"
fi
plan
checks || echo "WARNING: a check failed; the steps that need it will fail and the rest go on"
nvidia-smi --query-gpu=name,memory.used,memory.total,clocks.sm,driver_version \
    --format=csv 2>/dev/null || true

FAILED=()
step() {            # step NAME SHARE_S CMD...: run with the smaller of its share and what is left
  local name="$1" share="$2"; shift 2
  local left=$(( BUDGET - ($(date +%s) - START) - 15 ))
  local limit=$(( share < left ? share : left ))
  if [ "$limit" -lt 20 ]; then
    echo "=== SKIPPED $name: ${left}s left of the ${BUDGET}s budget"; FAILED+=("$name(skipped)")
    return
  fi
  echo "=== $name (limit ${limit}s): $*"
  local t0=$(date +%s)
  timeout --kill-after=5 "$limit" "$@"
  local rc=$?
  echo "=== $name: exit $rc after $(( $(date +%s) - t0 ))s"
  [ $rc = 0 ] || FAILED+=("$name(rc=$rc)")
}

step sweep "${SHARE[0]}" "$PY" "${SWEEP[@]}" --out "$WORK/sweep-roofline-gpu"
step autoencoders "${SHARE[1]}" "$PY" "${AE[@]}" --out "$WORK/autoencoders-gpu"
step ab "${SHARE[2]}" "$PY" "${AB[@]}" --out "$WORK/profile"
step suite "${SHARE[3]}" "$PY" "${SUITE[@]}" --out "$WORK/suite"
step speedrun "${SHARE[4]}" "$PY" "${SPEED[@]}" --out "$WORK/mnist-speedrun-gpu"
step speedrun-e2 "${SHARE[5]}" "$PY" "${SPEED_E2[@]}" --out "$WORK/mnist-speedrun-gpu-e2"
step word2vec "${SHARE[6]}" "$PY" "${W2V[@]}" --out "$WORK/word2vec-gpu"

# Flat names in $OUT (at most 8 files come back); everything else in the bundle.
[ -f "$WORK/suite/report.md" ] && cp "$WORK/suite/report.md" "$OUT/suite.md"
for f in "${FLAT[@]}"; do
  [ -f "$WORK/$f.md" ] && cp "$WORK/$f.md" "$OUT/$f.md"
done
tar -czf "$OUT/bundle.tar.gz" -C "$WORK" . 2>/dev/null
echo "=== done in $(( $(date +%s) - START ))s; failed: ${FAILED[*]:-none}"
ls -la "$OUT"
[ ${#FAILED[@]} = 0 ]
