# Shared by the GPU suites (gpu_suite.sh, gpu_caps_suite.sh), sourced after they set OUTDIR,
# DEVICE and PY: the results files, the library on PYTHONPATH, `piece`, and a probe of the device.
mkdir -p "$OUTDIR"
# the library from src/ and the speed tooling as the package infogan_benchmarks (what an
# install maps benchmarks/ to), without installing either
mkdir -p "$OUTDIR/pkgs" && ln -sfn "$PWD/benchmarks" "$OUTDIR/pkgs/infogan_benchmarks"
export PYTHONPATH="$PWD/src:$OUTDIR/pkgs${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
RESULTS="$OUTDIR/results.jsonl"
LOG="$OUTDIR/log.txt"
: >"$RESULTS"

piece() {  # piece TAG SECONDS COMMAND...: run it, tag its last JSON line into results.jsonl
  local tag=$1 limit=$2; shift 2
  case " ${PIECES:-$tag} " in *" $tag "*) ;; *) return ;; esac
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
  return $rc
}

summarise() {  # one line per piece: its tag, exit status, seconds and headline figures
  rm -f "$OUTDIR/.piece"
  $PY - "$RESULTS" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    row = json.loads(line)
    r = row["result"]
    keys = ("images_per_second", "reference_images_per_second", "speedup", "mfu", "peak_memory_mb",
            "seconds_to_target", "steps_to_target", "ratio")
    print(row["tag"], "rc", row["rc"], f"{row['wall_s']}s", {k: r[k] for k in keys if k in r})
EOF
}

$PY - <<'EOF' 2>&1 | tee -a "$LOG"
import torch
print("torch", torch.__version__, "cuda", torch.cuda.is_available(),
      torch.cuda.get_device_name() if torch.cuda.is_available() else "")
EOF
[ "$DEVICE" = cuda ] && nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm --format=csv | tee -a "$LOG"
