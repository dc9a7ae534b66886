#!/usr/bin/env bash
# The GPU checks and figures of README "Speed", in one run (a lent GPU's time is short):
#   benchmarks/gpu_suite.sh MNIST_DIR [OUT_DIR]
# CUDA equivalence tests, `infogan bench --device cuda` with each speed option, time to 95%
# with and without the CUDA graph, and a short `infogan train` + resume through the CLI.
# Each piece has its own time limit and a failure does not stop the rest; results go to
# OUT_DIR/results.jsonl (one JSON object per line, tagged) and OUT_DIR/log.txt.
# DEVICE=cpu STEPS=5 runs the same plumbing on a CPU (a dry run of the script itself);
# PIECES="tests bench-graph" runs only the pieces with those tags.
set -u
MNIST=${1:?usage: gpu_suite.sh MNIST_DIR [OUT_DIR]}
OUTDIR=${2:-${OUT:-/tmp/gpu-suite}}
DEVICE=${DEVICE:-cuda}
STEPS=${STEPS:-100}
REPEATS=${REPEATS:-7}
PY=${PYTHON:-python3}
. "$(dirname "$0")/gpu_lib.sh"   # OUTDIR/RESULTS/LOG, PYTHONPATH, piece(), the device probe

BENCH=($PY -m infogan bench --device "$DEVICE" --json --steps "$STEPS" --repeats "$REPEATS")
TTA=($PY benchmarks/time_to_accuracy.py --device "$DEVICE" --data-dir "$MNIST" --eval-every 100)
piece tests 150 $PY -m pytest -q -p no:cacheprovider tests/test_speed.py -k "cuda or tf32 or capturable"
piece bench-default 200 "${BENCH[@]}"                    # the defaults: whole-step graph, TF32
piece tta-default 150 "${TTA[@]}"
piece tta-bf16 150 "${TTA[@]}" --amp bf16 --no-tf32
piece tta-seed1 150 "${TTA[@]}" --seed 1
piece tta-seed1-fp32 150 "${TTA[@]}" --seed 1 --no-tf32
piece train-cli 120 $PY -m infogan train --preset mnist --device "$DEVICE" --data-dir "$MNIST" --outdir /tmp/suite-runs \
  --max-steps 300 --sample-every 100 --log-every 50 --ckpt-every 100 --no-eval --no-progress
piece resume-cli 120 $PY -m infogan train --resume latest --outdir /tmp/suite-runs --max-steps 400 --no-progress
tail -2 /tmp/suite-runs/*/stats.jsonl >>"$LOG" 2>&1
piece bench-fp32 120 "${BENCH[@]}" --no-tf32 --scaling ''
piece bench-eager 120 "${BENCH[@]}" --no-cuda-graph --no-tf32 --scaling ''
piece bench-bf16 120 "${BENCH[@]}" --amp bf16 --no-tf32 --scaling ''
piece bench-paper 120 "${BENCH[@]}" --invariance 0 --scaling ''
piece tta-fp32 150 "${TTA[@]}" --no-tf32
piece tta-eager 150 "${TTA[@]}" --no-cuda-graph --no-tf32
piece bench-compile 200 "${BENCH[@]}" --compile default --no-cuda-graph --scaling ''
piece bench-compile-ro 100 "${BENCH[@]}" --compile reduce-overhead --scaling ''   # refused: one-line error
summarise
