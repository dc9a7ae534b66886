"""`infogan bench`: images/s of the real training step against the textbook loop, same run.

    result = bench("mnist", batch_size=64, steps=20, repeats=5)   # the JSON `infogan bench --json` prints

Both loops train the same networks on the same synthetic uint8 images (speed does not depend
on what the digits look like), each in a process of its own (LoopProcess). Repeats alternate
between the two so that drift in the machine's speed hits both alike; each figure is the
median over repeats, after warm-up.
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import time

import torch

from infogan import speed
from infogan.config import resolve
from infogan.errors import InfoGANError

from .floor import kernel_floor


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
        from infogan.step import Stepper

        self.stepper = Stepper(cfg, images, device)
        self.B, self.i = cfg.batch_size, 0

    def step(self):
        self.i += 1
        return self.stepper.step_once(self.i - 1)

    def eager_step(self):  # a CUDA graph's replay runs no operator that a FLOP counter sees
        self.i += 1
        return self.stepper.step_once(self.i - 1, eager=True)


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
    from .reference_loop import ReferenceInfoGAN

    # the textbook loop computes the preset's objective: with its invariance term if it has one
    return ReferenceInfoGAN(bench_images(), cfg.batch_size, cfg.invariance, device), device


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
        command = [sys.executable, "-c", "from infogan_benchmarks.bench import serve; serve()"]
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
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


# the default objective's terms that the textbook loop does not implement: off when it is timed too
TEXTBOOK_LACKS = {"consistency": 0.0, "self_label": 0.0, "balance": 0.0, "ema": 0.0}


def bench(preset: str = "mnist", *, batch_size: int = 64, steps: int = 20, repeats: int = 5, device: str = "cpu",
          scaling: tuple[int, ...] = (32, 64, 128, 256, 512), reference: bool = True, peak_size: int = 2048,
          threads: int | None = None, compare: str | None = None, **options) -> dict:
    """Time the preset's step against the textbook loop; options: TrainConfig speed options
    (and invariance) by name; compare: another preset whose step is timed in the same turns
    (e.g. the capsule networks against the paper's). Returns what `infogan bench --json` prints."""
    if torch.device(device).type == "cuda" and not torch.cuda.is_available():
        raise InfoGANError("--device cuda: no CUDA device is available")
    if min(steps, repeats, peak_size, 1 if threads is None else threads) < 1:
        raise InfoGANError("--steps, --repeats, --peak-size and --threads must be >= 1")
    if scaling and min(scaling) < 2:
        raise InfoGANError("--scaling's batch sizes must be >= 2 (batch norm needs two samples)")
    options = {**{k: v for k, v in options.items() if v is not None}, "device": device}
    if reference:  # time the objective both loops compute: the textbook loop has no Q on real images, no average
        options = {**options, **TEXTBOOK_LACKS}
    cfg = resolve(preset, {"batch_size": batch_size, **options})  # validates before any process starts
    device = torch.device(device)
    if cfg.image_size != 28:
        raise InfoGANError(f"infogan bench times steps on 28x28 images; preset {preset!r} trains on "
                           f"{cfg.image_size}x{cfg.image_size}")
    if cfg.arch != "mnist" and reference:
        raise InfoGANError(f"the textbook loop has the paper's MNIST networks, not preset {preset!r}'s "
                           f"({cfg.arch}): add --no-reference to time this preset alone")
    job = {"preset": preset, "options": {"batch_size": batch_size, **options},
           "threads": threads or torch.get_num_threads()}
    loops = {"ours": LoopProcess({**job, "loop": "ours"})}
    try:
        if reference:
            loops["reference"] = LoopProcess({**job, "loop": "reference"})
        if compare:
            resolve(compare)  # a one-line error for an unknown preset, before its process starts
            loops["compare"] = LoopProcess({**job, "preset": compare, "loop": "ours"})
        for loop in loops.values():  # warm-up: allocator, kernels, first-step Adam state
            loop.time(5)
        times = {k: [] for k in loops}
        for _ in range(repeats):  # in turn, so that drift in the machine's speed hits both alike
            for k, loop in loops.items():
                times[k].append(loop.time(steps))
        flops = loops["ours"].ask("flops")["flops"]
        floor = loops["ours"].ask("floor")
        memory = {k: loop.ask("memory")["mb"] for k, loop in loops.items()}
    finally:
        for loop in loops.values():
            loop.close()
    step_s = {k: statistics.median(v) for k, v in times.items()}
    torch.set_num_threads(job["threads"])
    if device.type == "cuda":  # the peak in the precision the loop's float32 products use
        speed.set_tf32(cfg.tf32)
    peak = matmul_peak(device, peak_size)
    ips = batch_size / step_s["ours"]
    result = {
        "device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
        "threads": job["threads"], "preset": preset, "batch_size": batch_size,
        "options": {k: getattr(cfg, k) for k in ("adam", "channels_last", "compile", "compile_routing", "amp",
                                                 "keep_memory", "cuda_graph", "tf32", "invariance",
                                                 *TEXTBOOK_LACKS)},
        "amp_used": speed.amp_mode(cfg, device),
        "images_per_second": round(ips, 1),
        "reference_images_per_second": round(batch_size / step_s["reference"], 1) if "reference" in step_s else None,
        "speedup": round(step_s["reference"] / step_s["ours"], 3) if "reference" in step_s else None,
        "spread": {k: [round(batch_size / t, 1) for t in v] for k, v in times.items()},
        "flops_per_image": round(flops), "achieved_flops": round(flops * ips),
        "matmul_peak_flops": round(peak), "mfu": round(flops * ips / peak, 4),
        # the step's products and optimiser updates, each replayed alone (floor.py): no
        # rearrangement of the rest of the step can make it faster than this
        "kernel_floor_ms": {k: round(floor[k] * 1000, 2) for k in ("products", "optimiser", "total")},
        "floor_images_per_second": round(batch_size / floor["total"], 1),
        "max_speedup": round(step_s["reference"] / floor["total"], 3) if "reference" in step_s else None,
        "peak_memory_mb": round(memory["ours"], 1),
        "reference_peak_memory_mb": round(memory["reference"], 1) if "reference" in memory else None,
    }
    if compare:  # the other preset's step, timed in the same turns
        result["compare"] = {"preset": compare, "images_per_second": round(batch_size / step_s["compare"], 1),
                             "ratio": round(step_s["compare"] / step_s["ours"], 3)}
    rows = []
    for b in scaling:
        loop = LoopProcess({**job, "loop": "ours", "options": {**job["options"], "batch_size": b}})
        try:
            loop.time(3)
            t = statistics.median(loop.time(max(3, steps * 64 // b)) for _ in range(3))
            mb = loop.ask("memory")["mb"]
        finally:
            loop.close()
        rows.append({"batch_size": b, "step_ms": round(t * 1000, 2), "images_per_second": round(b / t, 1),
                     "ms_per_image": round(t * 1000 / b, 4), "peak_memory_mb": round(mb, 1)})
    result["scaling"] = rows
    return result


def format_result(r: dict) -> str:
    lines = [f"device {r['device']} ({r['threads']} threads), preset {r['preset']}, batch {r['batch_size']}",
             f"  infogan step      {r['images_per_second']:>9.1f} images/s   peak {r['peak_memory_mb']:.0f} MB"]
    if r["speedup"]:
        lines.append(f"  textbook loop     {r['reference_images_per_second']:>9.1f} images/s   peak "
                     f"{r['reference_peak_memory_mb']:.0f} MB   speedup x{r['speedup']}")
    if r.get("compare"):
        c = r["compare"]
        lines.append(f"  {c['preset'] + ' step':<17} {c['images_per_second']:>9.1f} images/s   {r['preset']} runs at "
                     f"{c['ratio']:.0%} of its rate")
    kf = r["kernel_floor_ms"]
    lines.append(f"  kernel floor      {r['floor_images_per_second']:>9.1f} images/s   ({kf['products']:.1f} ms of "
                 f"products + {kf['optimiser']:.1f} ms of optimiser per step, each run alone)"
                 + (f"   speedup at most x{r['max_speedup']}" if r["max_speedup"] else ""))
    lines.append(f"  {r['flops_per_image'] / 1e9:.3f} GFLOP/image, {r['achieved_flops'] / 1e9:.1f} GFLOP/s = "
                 f"{r['mfu']:.0%} of a {r['matmul_peak_flops'] / 1e9:.0f} GFLOP/s matmul")
    for row in r["scaling"]:
        lines.append(f"  batch {row['batch_size']:>4}: {row['step_ms']:>8.1f} ms/step {row['images_per_second']:>8.1f} "
                     f"images/s {row['ms_per_image']:.3f} ms/image, peak {row['peak_memory_mb']:.0f} MB")
    return "\n".join(lines)
