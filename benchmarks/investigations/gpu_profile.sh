#!/usr/bin/env bash
# One device call: where nnfunc's fused epoch loses to raw JAX + optax
# (benchmarks/investigations/gpu_profile.py: full-epoch A/B, per-kernel traces, XLA
# command-buffer and scan-unroll variants), then the sweeps against their bound with the
# bandwidth probe that cancels a call's fixed cost (sweep_roofline.py). About 4 minutes;
# every file lands in $OUT (profile.tar.gz holds the compiled HLO of each program).
#
#     run(command="bash benchmarks/investigations/gpu_profile.sh", timeout_s=300)
#     bash benchmarks/investigations/gpu_profile.sh --cpu-check   # the same steps, tiny, here
set -u -o pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
export PYTHONPATH="$ROOT/src:$ROOT/benchmarks${PYTHONPATH:+:$PYTHONPATH}"
export XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1
if [ "${1:-}" = "--cpu-check" ]; then
  PY="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}"
  OUT="${OUT:-/tmp/gpu-profile-out}"
  PROFILE=(benchmarks/investigations/gpu_profile.py --device cpu --quick --cases mlp128
           --variants "default,scan unroll 2" --variant-cases mlp128)
  SWEEP=(benchmarks/investigations/sweep_roofline.py --device cpu --quick)
  LIMITS=(400 300)            # seconds for each step: a shared 2-core CPU is slow
else
  PY="${PYTHON:-python3}"; OUT="${OUT:?OUT is unset: run this on the device, or --cpu-check}"
  PROFILE=(benchmarks/investigations/gpu_profile.py --device gpu)
  SWEEP=(benchmarks/investigations/sweep_roofline.py --device gpu)
  LIMITS=(225 50)
fi
mkdir -p "$OUT/w"
exec > >(tee -a "$OUT/profile.log") 2>&1
nvidia-smi --query-gpu=name,clocks.sm,clocks.mem,temperature.gpu --format=csv 2>/dev/null || true
t0=$(date +%s)
timeout --kill-after=5 "${LIMITS[0]}" "$PY" "${PROFILE[@]}" --out "$OUT/w/profile"; echo "=== profile: exit $? after $(( $(date +%s) - t0 ))s"
t1=$(date +%s)
timeout --kill-after=5 "${LIMITS[1]}" "$PY" "${SWEEP[@]}" --out "$OUT/w/sweep-roofline-gpu"; echo "=== sweep: exit $? after $(( $(date +%s) - t1 ))s"
cp "$OUT/w/profile/gpu-profile.md" "$OUT/w/sweep-roofline-gpu.md" "$OUT/" 2>/dev/null
tar -czf "$OUT/profile.tar.gz" -C "$OUT/w" . && rm -rf "$OUT/w"
ls -la "$OUT"
