#!/usr/bin/env bash
# The MNIST figures a lent GPU gives in one run (README, "How often, over every run"):
#   benchmarks/gpu_lever_suite.sh MNIST_DIR [OUT_DIR]
# A few steps through the CLI, two processes at once (with CUDA's multi-process service where
# the machine has it, so that many small runs share the GPU's multiprocessors; without it, or
# eager, if that fails); time to 0.97 for today's default, seeds 0-4, alone on the GPU; then
# benchmarks/seed_queue.py: 3-epoch runs of the default and each lever in ARMS, seed by seed,
# SLOTS at once, until TOTAL seconds from the start. Results: OUT_DIR/results.jsonl and
# log.txt (as gpu_lib.sh writes them), OUT_DIR/queue.json, and OUT_DIR/runs.tar.gz: each
# finished run's small files (config, metrics, per-epoch stats, samples), which
# `infogan sweep --out` re-tabulates when the runs of an arm are put in one folder.
# DEVICE=cpu MPS=0 SMOKE_STEPS=2 MAX_STEPS=3 TTA_SEEDS=0 SLOTS=2 TOTAL=220 runs the
# plumbing on a CPU.
set -u
MNIST=${1:?usage: gpu_lever_suite.sh MNIST_DIR [OUT_DIR]}
OUTDIR=${2:-${OUT:-/tmp/gpu-lever-suite}}
DEVICE=${DEVICE:-cuda}
PY=${PYTHON:-python3}
SMOKE_STEPS=${SMOKE_STEPS:-30}
TTA_SEEDS=${TTA_SEEDS-0 1 2 3 4}  # TTA_SEEDS= (empty) runs none
TTA_UNTIL=${TTA_UNTIL:-170}  # no time-to-accuracy run starts after this many seconds
SLOTS=${SLOTS:-16}
TOTAL=${TOTAL:-560}  # the whole suite ends within this many seconds: the queue gets what is left
MPS=${MPS:-1}
. "$(dirname "$0")/gpu_lib.sh"   # OUTDIR/RESULTS/LOG, PYTHONPATH, piece(), the device probe

SPEED=()
smoke() {  # two short runs at once through the CLI
  local tag=$1; shift
  rm -rf "$OUTDIR/smoke"
  piece "$tag" 90 bash -c "for s in 0 1; do $PY -m infogan train --preset mnist --device $DEVICE \
    --data-dir '$MNIST' --outdir '$OUTDIR/smoke/'\$s --seed \$s --max-steps $SMOKE_STEPS --log-every 10 \
    --no-eval --no-progress $* & done; wait -n && wait -n"
}
mps_stop() {
  echo quit | nvidia-cuda-mps-control 2>/dev/null; sleep 1
  unset CUDA_MPS_PIPE_DIRECTORY CUDA_MPS_LOG_DIRECTORY
}
if [ "$DEVICE" = cuda ] && [ "$MPS" = 1 ] && command -v nvidia-cuda-mps-control >/dev/null; then
  export CUDA_MPS_PIPE_DIRECTORY=/tmp/mps-pipe CUDA_MPS_LOG_DIRECTORY=/tmp/mps-log
  mkdir -p "$CUDA_MPS_PIPE_DIRECTORY" "$CUDA_MPS_LOG_DIRECTORY"
  if nvidia-cuda-mps-control -d; then
    echo "MPS on" | tee -a "$LOG"
    smoke smoke-mps || { echo "MPS off: the smoke failed under it" | tee -a "$LOG"; mps_stop; MPS=0; }
  else MPS=0; fi
else MPS=0; fi
if [ "$MPS" = 0 ] && ! smoke smoke; then
  SPEED=(--no-cuda-graph)
  echo "the step failed with the whole-step graph: eager from here" | tee -a "$LOG"
  smoke smoke-eager "${SPEED[@]}"
fi

for seed in $TTA_SEEDS; do
  [ "$SECONDS" -lt "$TTA_UNTIL" ] || break
  piece "tta-0.97-seed$seed" 45 $PY benchmarks/time_to_accuracy.py --device "$DEVICE" --data-dir "$MNIST" \
    --eval-every 100 --target 0.97 --seed "$seed" ${MAX_STEPS:+--max-steps $MAX_STEPS} "${SPEED[@]}"
done

# the arms (TAG=FLAGS, '_' for a space in FLAGS): the default; float32 throughout, to ask whether
# TF32 is why the GPU's samples measured a larger Frechet distance than the CPU's (README, "How
# often, over every run"); and the lever with the fewest failures not yet run at thirty seeds.
# 2026-12-04 ran "default= lcat05=--lambda-cat_0.5 fake-erase8=--fake-erase_8".
ARMS=${ARMS:-"default= no-tf32=--no-tf32 lrg5e-4=--lr-g_5e-4"}
ARM_ARGS=()
for a in $ARMS; do ARM_ARGS+=(--arm "${a//_/ }"); done
QUEUE_SECONDS=$((TOTAL - SECONDS - 20))  # 20 s for stopping the last runs and packing
piece queue $((QUEUE_SECONDS + 15)) $PY benchmarks/seed_queue.py --out "$OUTDIR/queue" --slots "$SLOTS" \
  --seconds "$QUEUE_SECONDS" "${ARM_ARGS[@]}" -- --device "$DEVICE" --threads 1 --keep-ckpts 1 \
  --data-dir "$MNIST" ${MAX_STEPS:+--max-steps $MAX_STEPS} "${SPEED[@]}"
cp "$OUTDIR/queue/queue.json" "$OUTDIR/" 2>/dev/null
(cd "$OUTDIR/queue" && find . \( -name config.json -o -name metrics.json -o -name stats.jsonl -o -name done.json \
  -o -name samples.png -o -name log.txt -o -name 's*.log' \) -print0 | tar -czf "$OUTDIR/runs.tar.gz" --null -T -)
[ "$MPS" = 1 ] && mps_stop
summarise
