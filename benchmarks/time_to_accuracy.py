"""Wall-clock seconds of training until the categorical code's test accuracy first reaches a target.

    python benchmarks/time_to_accuracy.py --preset mnist --target 0.95 [--device cuda] [--eval-every 200]

Trains with the real training step (the trainer's sampler and train_step), pauses the clock
every --eval-every steps to measure Hungarian accuracy on the test set, and prints one JSON
object: seconds of training (evaluation excluded) and steps at the first evaluation at or
above the target (null if never reached), the accuracy curve, and the device.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from infogan import data
from infogan.config import resolve
from infogan.metrics import cluster_scores
from infogan.trainer import BatchSampler, build_model, make_optimizers, pick_device, train_step


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="mnist")
    p.add_argument("--target", type=float, default=0.95)
    p.add_argument("--device", default="auto")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-every", type=int, default=200)
    p.add_argument("--max-steps", type=int, default=20000)
    p.add_argument("--max-seconds", type=float, default=3600)
    p.add_argument("--data-dir")
    args = p.parse_args(argv)

    cfg = resolve(args.preset, {"batch_size": args.batch_size, "seed": args.seed, "data_dir": args.data_dir})
    device = pick_device(args.device)
    x_train, _ = data.load(cfg.dataset, "train", cfg.data_dir)
    x_test, y_test = data.load(cfg.dataset, "test", cfg.data_dir)
    torch.manual_seed(cfg.seed)
    model = build_model(cfg, x_train.shape[1], x_train.shape[2]).to(device).train()
    opt_d, opt_g = make_optimizers(model, cfg)
    sampler = BatchSampler(x_train, cfg.batch_size, cfg.seed, device)
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    code = model.spec.categorical[0]
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    trained_s, curve, reached = 0.0, [], None
    step = 0
    while step < args.max_steps and trained_s < args.max_seconds:
        sync()
        t = time.perf_counter()
        for _ in range(args.eval_every):
            z, codes = model.spec.sample(cfg.batch_size, generator=gen)
            train_step(model, opt_d, opt_g, sampler.batch(step), z.to(device),
                       {k: v.to(device) for k, v in codes.items()})
            step += 1
        sync()
        trained_s += time.perf_counter() - t
        pred = model.infer_codes(x_test)[code.name]
        acc = cluster_scores(pred.numpy(), y_test.numpy(), code.size)["accuracy"]
        model.train()
        curve.append({"step": step, "seconds": round(trained_s, 2), "accuracy": round(acc, 4)})
        if acc >= args.target:
            reached = curve[-1]
            break
    print(json.dumps({"preset": args.preset, "device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
                      "batch_size": cfg.batch_size, "target": args.target,
                      "seconds_to_target": reached["seconds"] if reached else None,
                      "steps_to_target": reached["step"] if reached else None, "curve": curve}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
