"""`infogan bench`: images/s of the real training step against the textbook loop, same run.

Both loops train the same networks on the same synthetic uint8 images (speed does not depend
on what the digits look like), each in a process of its own (LoopProcess). Repeats alternate
between the two so that drift in the machine's speed hits both alike; each figure is the
median over repeats, after warm-up.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from ..config import AMP_MODES, COMPILE_MODES, resolve
from ..errors import InfoGANError
from ..floor import kernel_floor

REFERENCE = Path(__file__).resolve().parents[3] / "benchmarks" / "reference_loop.py"
PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the folder that holds the infogan package


def add_parser(sub) -> None:
    p = sub.add_parser("bench", help="time the training step against the textbook loop")
    p.add_argument("--preset", default="mnist")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--steps", type=int, default=20, help="steps per timed repeat (default 20)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--scaling", default="32,64,128,256,512", help="batch sizes for the scaling table ('' to skip)")
    p.add_argument("--no-reference", action="store_true", help="skip the textbook loop")
    p.add_argument("--peak-size", type=int, default=2048, help="matrix size for the matmul peak (default 2048)")
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--compile", choices=COMPILE_MODES)
    p.add_argument("--amp", choices=AMP_MODES)
    p.add_argument("--keep-memory", action=argparse.BooleanOptionalAction, default=None,
                   help="CPU allocator setting of the trainer (default: the preset's, on)")
    p.add_argument("--cuda-graph", action=argparse.BooleanOptionalAction, default=None,
                   help="CUDA: replay the whole step as one CUDA graph (default: the preset's, on)")
    p.add_argument("--tf32", action=argparse.BooleanOptionalAction, default=None,
                   help="CUDA: float32 matrix products in TF32 (default: the preset's, on)")
    p.add_argument("--threads", type=int, help="CPU threads of each loop (default: torch's, one per core)")
    p.add_argument("--invariance", type=float, help="override the preset's invariance weight")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run)


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def _time_steps(step, n: int, device) -> float:
    _sync(device)
    t = time.perf_counter()
    for _ in range(n):
        step()
    _sync(device)
    return (time.perf_counter() - t) / n


class OurLoop:
    """The trainer's own step (Stepper.step_once) with the preset's settings."""

    def __init__(self, cfg, images, device):
        from ..trainer import Stepper

        self.stepper = Stepper(cfg, images, device)
        self.B, self.i = cfg.batch_size, 0

    def step(self):
        self.i += 1
        return self.stepper.step_once(self.i - 1)

    def eager_step(self):  # a CUDA graph's replay runs no operator that a FLOP counter sees
        self.i += 1
        return self.stepper.step_once(self.i - 1, eager=True)


def load_reference():
    if not REFERENCE.is_file():
        raise InfoGANError(f"the reference loop {REFERENCE} is missing (run bench from a source checkout)")
    spec = importlib.util.spec_from_file_location("infogan_reference_loop", REFERENCE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def flops_per_image(loop) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        getattr(loop, "eager_step", loop.step)()
    return counter.get_total_flops() / loop.B


def matmul_peak(device, n: int = 2048, repeats: int = 5) -> float:
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    for _ in range(2):
        a @ b
    times = [_time_steps(lambda: a @ b, 5, device) for _ in range(repeats)]
    return 2 * n**3 / statistics.median(times)


def peak_memory_mb(device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # process high-water mark


def bench_images() -> torch.Tensor:
    """Synthetic uint8 digits-sized images; every loop process draws the same ones."""
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (8192, 1, 28, 28), dtype=torch.uint8, generator=g)


def build_loop(job: dict):
    """A loop from a job description: {"loop": "ours"|"reference", "preset", "options", "threads"}."""
    torch.set_num_threads(job["threads"])
    cfg = resolve(job["preset"], job["options"])
    device = torch.device(cfg.device)
    if job["loop"] == "ours":
        return OurLoop(cfg, bench_images(), device), device
    # the textbook loop computes the preset's objective: with its invariance term if it has one
    return load_reference().ReferenceInfoGAN(bench_images(), cfg.batch_size, cfg.invariance, device), device


def serve() -> None:
    """A loop process: the job on stdin's first line, then one request per line, one JSON reply
    per request on stdout ({"error": ...} when building the loop failed)."""
    try:
        loop, device = build_loop(json.loads(sys.stdin.readline()))
    except Exception as e:  # noqa: BLE001 - reported to the parent, which stops with it
        print(json.dumps({"error": f"{type(e).__name__}: {e}"}), flush=True)
        return
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        if req["op"] == "time":
            reply = {"seconds": _time_steps(loop.step, req["steps"], device)}
        elif req["op"] == "flops":
            reply = {"flops": flops_per_image(loop)}
        elif req["op"] == "floor":
            reply = kernel_floor(getattr(loop, "eager_step", loop.step), device)
        else:  # "memory"
            reply = {"mb": peak_memory_mb(device)}
        print(json.dumps(reply), flush=True)


class LoopProcess:
    """One loop in a process of its own, as a user runs it: process-wide settings (threads, the
    allocator: speed.keep_freed_memory) apply to that loop alone, and neither loop's
    allocations disturb the other's heap. Requests are answered one at a time, so two of
    these timed in turn never run at once."""

    def __init__(self, job: dict):
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PACKAGE_ROOT), os.environ.get("PYTHONPATH", "")])}
        command = [sys.executable, "-c", "from infogan.cli.bench import serve; serve()"]
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        self.job = job
        try:
            self._send(job)
            self._reply()
        except BaseException:
            self.close()  # the process has exited or is told to: nothing is left running
            raise

    def _send(self, msg: dict) -> None:
        self.proc.stdin.write(json.dumps(msg) + "\n")
        self.proc.stdin.flush()

    def _reply(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise InfoGANError(f"the {self.job['loop']} loop's process died (exit code {self.proc.wait()})")
        reply = json.loads(line)
        if "error" in reply:
            raise InfoGANError(f"the {self.job['loop']} loop could not start: {reply['error']}")
        return reply

    def ask(self, op: str, **kw) -> dict:
        self._send({"op": op, **kw})
        return self._reply()

    def time(self, steps: int) -> float:
        return self.ask("time", steps=steps)["seconds"]

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


def run(args) -> int:
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InfoGANError("--device cuda: no CUDA device is available")
    options = {"channels_last": args.channels_last, "compile": args.compile, "amp": args.amp,
               "keep_memory": args.keep_memory, "cuda_graph": args.cuda_graph, "tf32": args.tf32,
               "invariance": args.invariance, "device": args.device}
    cfg = resolve(args.preset, {"batch_size": args.batch_size, **options})  # validates before any process starts
    if cfg.image_size != 28:
        raise InfoGANError(f"infogan bench times steps on 28x28 images; preset {args.preset!r} trains on "
                           f"{cfg.image_size}x{cfg.image_size}")
    if cfg.arch != "mnist" and not args.no_reference:
        raise InfoGANError(f"the textbook loop has the paper's MNIST networks, not preset {args.preset!r}'s "
                           f"({cfg.arch}): add --no-reference to time this preset alone")
    job = {"preset": args.preset, "options": {"batch_size": args.batch_size, **options},
           "threads": args.threads or torch.get_num_threads()}
    loops = {"ours": LoopProcess({**job, "loop": "ours"})}
    try:
        if not args.no_reference:
            loops["reference"] = LoopProcess({**job, "loop": "reference"})
        for loop in loops.values():  # warm-up: allocator, kernels, first-step Adam state
            loop.time(5)
        times = {k: [] for k in loops}
        for _ in range(args.repeats):  # in turn, so that drift in the machine's speed hits both alike
            for k, loop in loops.items():
                times[k].append(loop.time(args.steps))
        flops = loops["ours"].ask("flops")["flops"]
        floor = loops["ours"].ask("floor")
        memory = {k: loop.ask("memory")["mb"] for k, loop in loops.items()}
    finally:
        for loop in loops.values():
            loop.close()
    step_s = {k: statistics.median(v) for k, v in times.items()}
    torch.set_num_threads(job["threads"])
    if device.type == "cuda":  # the peak in the precision the loop's float32 products use
        torch.backends.cuda.matmul.allow_tf32 = cfg.tf32
    peak = matmul_peak(device, args.peak_size)
    ips = args.batch_size / step_s["ours"]
    result = {
        "device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
        "threads": job["threads"], "preset": args.preset, "batch_size": args.batch_size,
        "options": {k: getattr(cfg, k) for k in ("adam", "channels_last", "compile", "amp", "keep_memory",
                                                 "cuda_graph", "tf32", "invariance")},
        "images_per_second": round(ips, 1),
        "reference_images_per_second": round(args.batch_size / step_s["reference"], 1) if "reference" in step_s else None,
        "speedup": round(step_s["reference"] / step_s["ours"], 3) if "reference" in step_s else None,
        "spread": {k: [round(args.batch_size / t, 1) for t in v] for k, v in times.items()},
        "flops_per_image": round(flops), "achieved_flops": round(flops * ips),
        "matmul_peak_flops": round(peak), "mfu": round(flops * ips / peak, 4),
        # the step's products and optimiser updates, each replayed alone (floor.py): no
        # rearrangement of the rest of the step can make it faster than this
        "kernel_floor_ms": {k: round(floor[k] * 1000, 2) for k in ("products", "optimiser", "total")},
        "floor_images_per_second": round(args.batch_size / floor["total"], 1),
        "max_speedup": round(step_s["reference"] / floor["total"], 3) if "reference" in step_s else None,
        "peak_memory_mb": round(memory["ours"], 1),
        "reference_peak_memory_mb": round(memory["reference"], 1) if "reference" in memory else None,
    }
    scaling = []
    for b in [int(x) for x in args.scaling.split(",") if x.strip()]:
        loop = LoopProcess({**job, "loop": "ours", "options": {**job["options"], "batch_size": b}})
        try:
            loop.time(3)
            t = statistics.median(loop.time(max(3, args.steps * 64 // b)) for _ in range(3))
            mb = loop.ask("memory")["mb"]
        finally:
            loop.close()
        scaling.append({"batch_size": b, "step_ms": round(t * 1000, 2), "images_per_second": round(b / t, 1),
                        "ms_per_image": round(t * 1000 / b, 4), "peak_memory_mb": round(mb, 1)})
    result["scaling"] = scaling
    if args.json:
        print(json.dumps(result))
    else:
        print(f"device {result['device']} ({result['threads']} threads), preset {args.preset}, batch {args.batch_size}")
        print(f"  infogan step      {result['images_per_second']:>9.1f} images/s   peak {result['peak_memory_mb']:.0f} MB")
        if result["speedup"]:
            print(f"  textbook loop     {result['reference_images_per_second']:>9.1f} images/s   peak "
                  f"{result['reference_peak_memory_mb']:.0f} MB   speedup x{result['speedup']}")
        kf = result["kernel_floor_ms"]
        print(f"  kernel floor      {result['floor_images_per_second']:>9.1f} images/s   ({kf['products']:.1f} ms of "
              f"products + {kf['optimiser']:.1f} ms of optimiser per step, each run alone)"
              + (f"   speedup at most x{result['max_speedup']}" if result["max_speedup"] else ""))
        print(f"  {flops / 1e9:.3f} GFLOP/image, {flops * ips / 1e9:.1f} GFLOP/s = {result['mfu']:.0%} of a "
              f"{peak / 1e9:.0f} GFLOP/s matmul")
        for row in scaling:
            print(f"  batch {row['batch_size']:>4}: {row['step_ms']:>8.1f} ms/step {row['images_per_second']:>8.1f} images/s "
                  f"{row['ms_per_image']:.3f} ms/image, peak {row['peak_memory_mb']:.0f} MB")
    return 0
