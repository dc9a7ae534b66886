"""Wall-clock seconds of training until the categorical code's test accuracy first reaches a target.

    python benchmarks/time_to_accuracy.py --preset mnist --target 0.95 [--device cuda] [--eval-every 200]

Trains with the real training step (the trainer's Stepper), pauses the clock
every --eval-every steps to measure Hungarian accuracy on the test set (of the model the run
would save: the weights' average with --ema, the weights' own too), and prints one JSON
object: seconds of training (evaluation excluded) and steps at the first evaluation at or
above the target (null if never reached), the accuracy curve, the device, and the day's speed:
the images/s of training and the device's float32 matmul peak measured just before (this CPU
has measured 175 to 352 GFLOP/s on different days, so the seconds of two sittings are only
compared beside their speeds; the steps to the target are what a change of recipe moves).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch

from infogan import data, speed
from infogan_benchmarks.bench import matmul_peak
from infogan.cli._common import add_options, given_options
from infogan.config import resolve
from infogan.metrics.categorical import categorical_scores
from infogan.step import Stepper, pick_device


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="mnist")
    p.add_argument("--target", type=float, default=0.95)
    p.add_argument("--eval-every", type=int, default=200)
    p.add_argument("--max-steps", type=int, default=20000)
    p.add_argument("--max-seconds", type=float, default=3600)
    p.add_argument("--data-dir")
    add_options(p, "model", "objective", "training", "speed", skip=("preset",))  # the run's own options
    args = p.parse_args(argv)

    cfg = resolve(args.preset, {**given_options(args, "model", "objective", "training", "speed"),
                                "data_dir": args.data_dir})
    device = pick_device(cfg.device)
    x_train, _ = data.load(cfg.dataset, "train", cfg.data_dir)
    x_test, y_test = data.load(cfg.dataset, "test", cfg.data_dir)
    stepper = Stepper(cfg, x_train, device)
    model = stepper.ema.model if stepper.ema is not None else stepper.model  # the model the run would save
    code = model.spec.categorical[0].name
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    peak = matmul_peak(device)

    trained_s, curve, reached = 0.0, [], None
    step = 0
    while step < args.max_steps and trained_s < args.max_seconds:
        sync()
        t = time.perf_counter()
        for _ in range(args.eval_every):
            stepper.step_once(step)
            step += 1
        sync()
        trained_s += time.perf_counter() - t
        acc = categorical_scores(model, x_test, y_test)[code]["accuracy"]
        curve.append({"step": step, "seconds": round(trained_s, 2), "accuracy": round(acc, 4)})
        if stepper.ema is not None:  # the weights themselves, which the average follows
            curve[-1]["live_accuracy"] = round(categorical_scores(stepper.model, x_test, y_test)[code]["accuracy"], 4)
        print(json.dumps(curve[-1]), file=sys.stderr, flush=True)  # progress, for a run that is cut short
        if acc >= args.target:
            reached = curve[-1]
            break
    print(json.dumps({"preset": args.preset, "device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
                      "batch_size": cfg.batch_size, "target": args.target, "seed": cfg.seed,
                      "threads": torch.get_num_threads(),
                      "options": {k: getattr(cfg, k) for k in ("compile", "amp", "channels_last", "cuda_graph", "tf32")},
                      "amp_used": speed.amp_mode(cfg, device),
                      "seconds_to_target": reached["seconds"] if reached else None,
                      "steps_to_target": reached["step"] if reached else None,
                      "images_per_second": round(step * cfg.batch_size / trained_s, 1) if trained_s else None,
                      "matmul_peak_gflops": round(peak / 1e9, 1), "curve": curve}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
