#!/usr/bin/env bash
# The GPU checks and figures of README "Speed", in one run (a lent GPU's time is short):
#   benchmarks/gpu_suite.sh MNIST_DIR [OUT_DIR]
# CUDA equivalence tests, `infogan bench --device cuda` with each speed option, time to 95%
# with and without the CUDA graph, and a short `infogan train` + resume through the CLI.
# Each piece has its own time limit and a failure does not stop the rest; results go to
# OUT_DIR/results.jsonl (one JSON object per line, tagged) and OUT_DIR/log.txt.
# DEVICE=cpu STEPS=5 runs the same plumbing on a CPU (a dry run of the script itself).
set -u
MNIST=${1:?usage: gpu_suite.sh MNIST_DIR [OUT_DIR]}
OUTDIR=${2:-${OUT:-/tmp/gpu-suite}}
DEVICE=${DEVICE:-cuda}
STEPS=${STEPS:-100}
REPEATS=${REPEATS:-7}
PY=${PYTHON:-python3}
mkdir -p "$OUTDIR"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
RESULTS="$OUTDIR/results.jsonl"
LOG="$OUTDIR/log.txt"
: >"$RESULTS"

piece() {  # piece TAG SECONDS COMMAND...: run it, tag its last JSON line into results.jsonl
  local tag=$1 limit=$2; shift 2
  local t0=$SECONDS
  echo "=== $tag: $*" | tee -a "$LOG"
  timeout "$limit" "$@" >"$OUTDIR/.piece" 2>>"$LOG"
  local rc=$?
  cat "$OUTDIR/.piece" >>"$LOG"
  local json
  json=$(grep '^{' "$OUTDIR/.piece" | tail -1)
  [ -n "$json" ] || json='{}'
  echo "{\"tag\": \"$tag\", \"rc\": $rc, \"wall_s\": $((SECONDS - t0)), \"result\": $json}" >>"$RESULTS"
  echo "--- $tag: rc $rc in $((SECONDS - t0)) s" | tee -a "$LOG"
}

$PY - <<'EOF' 2>&1 | tee -a "$LOG"
import torch
print("torch", torch.__version__, "cuda", torch.cuda.is_available(),
      torch.cuda.get_device_name() if torch.cuda.is_available() else "")
EOF
[ "$DEVICE" = cuda ] && nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm --format=csv | tee -a "$LOG"

BENCH=($PY -m infogan bench --device "$DEVICE" --json --steps "$STEPS" --repeats "$REPEATS")
piece tests 120 $PY -m pytest -q -p no:cacheprovider tests/test_speed.py
piece bench-graph 200 "${BENCH[@]}"
piece tta-graph 150 $PY benchmarks/time_to_accuracy.py --device "$DEVICE" --data-dir "$MNIST" --eval-every 100
piece train-cli 120 $PY -m infogan train --preset mnist --device "$DEVICE" --data-dir "$MNIST" --outdir /tmp/suite-runs \
  --max-steps 300 --sample-every 100 --log-every 50 --ckpt-every 100 --no-eval --no-progress
piece resume-cli 120 $PY -m infogan train --resume latest --outdir /tmp/suite-runs --max-steps 400 --no-progress
tail -2 /tmp/suite-runs/*/stats.jsonl >>"$LOG" 2>&1
piece bench-eager 120 "${BENCH[@]}" --no-cuda-graph --scaling ''
piece bench-bf16 120 "${BENCH[@]}" --amp bf16 --scaling ''
piece bench-tf32 120 "${BENCH[@]}" --tf32 --scaling ''
piece bench-paper 120 "${BENCH[@]}" --invariance 0 --scaling ''
piece tta-eager 150 $PY benchmarks/time_to_accuracy.py --device "$DEVICE" --data-dir "$MNIST" --eval-every 100 --no-cuda-graph
piece bench-compile-graph 200 "${BENCH[@]}" --compile default --scaling ''
piece bench-compile-ro 200 "${BENCH[@]}" --compile reduce-overhead --scaling ''
rm -f "$OUTDIR/.piece"

$PY - "$RESULTS" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    row = json.loads(line)
    r = row["result"]
    keys = ("images_per_second", "reference_images_per_second", "speedup", "mfu", "peak_memory_mb",
            "seconds_to_target", "steps_to_target")
    print(row["tag"], "rc", row["rc"], f"{row['wall_s']}s", {k: r[k] for k in keys if k in r})
EOF
