#!/usr/bin/env bash
# The InfoCapsGAN figures a lent GPU can give in one run (README, InfoCapsGAN):
#   benchmarks/gpu_caps_suite.sh MNIST_DIR [OUT_DIR]
# A few steps of each capsule configuration through the CLI (with the whole-step CUDA graph;
# eager from then on if that fails), the capsule steps' images/s, then five-seed studies, most
# wanted first: the published design (`infocapsgan`, its 5 epochs), mimic mode, the capsule G
# with the paper D, the capsule pair without mimic; last, time to 0.97 for the default preset.
# Each piece has its own time limit (timeout ends the whole process group: a sweep's workers
# too); a sweep cut short keeps the seeds it finished, in OUT_DIR/sweeps/TAG. Results:
# OUT_DIR/results.jsonl and OUT_DIR/log.txt, as gpu_suite.sh writes them.
# DEVICE=cpu SMOKE_STEPS=2 STEPS=2 REPEATS=1 MAX_STEPS=3 SEEDS=0-1 JOBS=2 runs the plumbing on
# a CPU; PIECES="..." runs only the pieces with those tags.
set -u
MNIST=${1:?usage: gpu_caps_suite.sh MNIST_DIR [OUT_DIR]}
OUTDIR=${2:-${OUT:-/tmp/gpu-caps-suite}}
DEVICE=${DEVICE:-cuda}
STEPS=${STEPS:-50}
REPEATS=${REPEATS:-5}
SMOKE_STEPS=${SMOKE_STEPS:-20}
SEEDS=${SEEDS:-0-4}
JOBS=${JOBS:-5}
PY=${PYTHON:-python3}
. "$(dirname "$0")/gpu_lib.sh"   # OUTDIR/RESULTS/LOG, PYTHONPATH, piece(), the device probe

PAIR=(--g-arch caps --latent z62,cat10)  # the capsule G with the light capsule D/Q
SPEED=()

smoke() {  # smoke TAG PRESET FLAGS...: a few steps through the CLI
  local tag=$1 preset=$2; shift 2
  piece "$tag" 150 $PY -m infogan train --preset "$preset" --device "$DEVICE" --data-dir "$MNIST" \
    --outdir "$OUTDIR/smoke" --max-steps "$SMOKE_STEPS" --log-every 5 --no-eval --no-progress "$@"
}
if ! smoke smoke-infocapsgan infocapsgan; then
  SPEED=(--no-cuda-graph)
  echo "the capsule step failed with the whole-step graph: eager from here" | tee -a "$LOG"
  smoke smoke-infocapsgan-eager infocapsgan "${SPEED[@]}"
fi
smoke smoke-mimic mnist-caps "${PAIR[@]}" --mimic 5 "${SPEED[@]}"

BENCH=($PY -m infogan bench --device "$DEVICE" --json --steps "$STEPS" --repeats "$REPEATS" --scaling '' "${SPEED[@]}")
piece bench-infocapsgan 120 "${BENCH[@]}" --preset infocapsgan --batch-size 100 --no-reference
piece bench-mnist-caps 120 "${BENCH[@]}" --preset mnist-caps --compare mnist --no-reference

study() {  # study TAG SECONDS PRESET FLAGS...: infogan sweep over SEEDS into OUT_DIR/sweeps/TAG
  local tag=$1 limit=$2 preset=$3; shift 3
  piece "$tag" "$limit" $PY -m infogan sweep --preset "$preset" --seeds "$SEEDS" --jobs "$JOBS" --device "$DEVICE" \
    --data-dir "$MNIST" --out "$OUTDIR/sweeps/$tag" --no-progress "${SPEED[@]}" "$@"
}
# The published design's 5 epochs where the step measured above gives them in time (5 seeds at
# once share the GPU: counted as one process's rate), else 3, else 1; the capsule-G rows one
# epoch, as on the CPU. MAX_STEPS (a dry run) sets every study's length instead.
T_INFOCAPSGAN=${T_INFOCAPSGAN:-240}
if [ -n "${MAX_STEPS:-}" ]; then
  LENGTH=(--max-steps "$MAX_STEPS")
  PAIR_LENGTH=("${LENGTH[@]}")
else
  EPOCHS=$($PY - "$RESULTS" "$T_INFOCAPSGAN" "$SEEDS" <<'EOF'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
rate = next((r["result"].get("images_per_second") for r in rows if r["tag"] == "bench-infocapsgan"), None) or 1.0
a, _, b = sys.argv[3].partition("-")
seeds = int(b or a) - int(a) + 1
budget = 0.75 * float(sys.argv[2])  # the rest for start-up and evaluation
print(next((e for e in (5, 3, 1) if seeds * e * 60000 / rate <= budget), 1))
EOF
)
  LENGTH=(--epochs "$EPOCHS")
  PAIR_LENGTH=(--epochs 1)
  echo "infocapsgan: $EPOCHS epochs" | tee -a "$LOG"
fi
study infocapsgan "$T_INFOCAPSGAN" infocapsgan "${LENGTH[@]}"
study mimic "${T_PAIR:-100}" mnist-caps "${PAIR[@]}" --mimic "${MIMIC_FROM:-500}" "${PAIR_LENGTH[@]}"
study paperD-capsG "${T_PAIR:-100}" mnist --g-arch caps "${PAIR_LENGTH[@]}"
study capsD-capsG "${T_PAIR:-100}" mnist-caps "${PAIR[@]}" "${PAIR_LENGTH[@]}"
for seed in 0 1 2 3 4; do
  piece "tta-0.97-seed$seed" 60 $PY benchmarks/time_to_accuracy.py --device "$DEVICE" --data-dir "$MNIST" \
    --eval-every 100 --target 0.97 --seed "$seed" ${MAX_STEPS:+--max-steps $MAX_STEPS}
done
summarise
