"""Each speed option computes the plain step's losses and update (within tolerance)."""

import contextlib
import dataclasses
import subprocess
import sys

import pytest
import torch

from infogan import speed, step
from infogan.config import resolve
from infogan.errors import InfoGANError
from infogan.nets.caps import RoutedCapsules
from infogan.step import Stepper


def _stepper(device="cpu", **options):
    options.setdefault("tf32", False)  # the plain step: float32 matrix products everywhere
    cfg = dataclasses.replace(resolve("tiny"), invariance=1.0, **options)
    images = torch.randint(0, 256, (64, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    return Stepper(cfg, images, torch.device(device))


def _run(steps=2, device="cpu", **options):
    stepper = _stepper(device, **options)
    losses = [{k: v.clone() for k, v in stepper.step_once(i).items()} for i in range(steps)]
    return losses, {k: v.detach().clone() for k, v in stepper.model.state_dict().items()}


def _close(a, b, atol, weight_atol=1e-4):
    # weights after Adam: a gradient near zero turns float noise into a visible update, so
    # the weights get a looser tolerance than the losses
    (la, sa), (lb, sb) = a, b
    for step_a, step_b in zip(la, lb):
        assert step_a.keys() == step_b.keys()
        for k in step_a:
            assert torch.allclose(step_a[k].float(), step_b[k].float(), atol=atol), (k, step_a[k], step_b[k])
    for k in sa:
        if sa[k].is_floating_point():
            assert torch.allclose(sa[k], sb[k].contiguous(), atol=weight_atol), k


def test_channels_last_step_equals_the_plain_step():
    _close(_run(), _run(channels_last=True), atol=1e-5)


@pytest.mark.parametrize("adam", ["foreach", "loop"])
def test_adam_kernels_give_the_fused_update(adam):
    _close(_run(), _run(adam=adam), atol=1e-5)


def test_bf16_autocast_stays_within_noise_of_float32():
    plain, amp = _run(), _run(amp="bf16")
    for k in ("loss_D", "loss_G", "loss_info"):
        assert abs(plain[0][0][k].item() - amp[0][0][k].item()) < 0.05, k


def test_compiled_step_equals_the_eager_step():
    pytest.importorskip("torch._inductor")
    _close(_run(), _run(compile="default"), atol=1e-4)


def test_the_compiled_routing_step_equals_the_eager_one():
    pytest.importorskip("torch._inductor")
    _close(_run(arch="caps", compile_routing=False), _run(arch="caps"), atol=1e-4)
    images = torch.zeros(64, 1, 28, 28, dtype=torch.uint8)
    D = Stepper(dataclasses.replace(resolve("tiny"), arch="caps"), images, torch.device("cpu")).model.D
    assert all(caps.compiled is not None for caps in D.modules() if isinstance(caps, RoutedCapsules))


def test_g_phase_runs_d_frozen_which_changes_nothing_learned(monkeypatch):
    # G's phase only trains G: with D's weights frozen while it runs, the compiled routing is
    # compiled without their gradients (it computed them all, unused, before). D trains again after
    seen = []
    forward = RoutedCapsules.forward
    monkeypatch.setattr(RoutedCapsules, "forward", lambda self, u: seen.append(self.weight.requires_grad) or forward(self, u))
    stepper = _stepper(arch="caps", compile_routing=False)
    stepper.step_once(0)
    assert seen and seen == [True] * (len(seen) // 2) + [False] * (len(seen) // 2)
    assert all(p.requires_grad for p in stepper.model.D.parameters())
    monkeypatch.undo()
    losses, weights = _run(arch="caps", compile_routing=False)
    monkeypatch.setattr(step, "frozen", lambda net: contextlib.nullcontext())
    losses_unfrozen, weights_unfrozen = _run(arch="caps", compile_routing=False)
    assert all(torch.equal(a[k], b[k]) for a, b in zip(losses, losses_unfrozen) for k in a)
    assert weights.keys() == weights_unfrozen.keys()
    assert all(torch.equal(weights[k], weights_unfrozen[k]) for k in weights)  # the same step, to the bit


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@needs_cuda
@pytest.mark.parametrize("amp", ["off", "bf16"])
def test_cuda_graph_steps_equal_the_eager_steps(amp):
    # 3 eager warm-up steps, the capture, then 3 replays: each must be the eager step
    graphed, eager = _run(6, "cuda", cuda_graph=True, amp=amp), _run(6, "cuda", cuda_graph=False, amp=amp)
    if amp == "off":
        _close(graphed, eager, atol=1e-4)
    else:  # cuBLAS may choose other bf16 kernels under capture; Adam turns that rounding on
        # near-zero gradients into whole lr-sized steps, so only the losses are compared
        _close((graphed[0], {}), (eager[0], {}), atol=2e-2)


@needs_cuda
def test_tf32_stays_within_noise_of_float32():
    plain, tf32 = _run(2, "cuda", cuda_graph=False), _run(2, "cuda", cuda_graph=False, tf32=True)
    for k in ("loss_D", "loss_G", "loss_info"):
        assert abs(plain[0][0][k].item() - tf32[0][0][k].item()) < 0.01, k


def test_tf32_switches_products_and_convolutions_together():
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    try:
        for enabled in (False, True, False):  # PyTorch's own defaults are mixed: products off, convolutions on
            speed.set_tf32(enabled)
            assert torch.backends.cuda.matmul.allow_tf32 is enabled and torch.backends.cudnn.allow_tf32 is enabled
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def test_measurements_run_in_float32_and_training_s_setting_comes_back():
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    try:
        speed.set_tf32(True)
        with speed.float32_products():
            assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
        assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


@needs_cuda
def test_cuda_graph_replays_fresh_inputs():
    # replays must read each step's new batch and codes, not the captured ones
    losses, _ = _run(8, "cuda", cuda_graph=True)
    assert len({round(out["loss_info"].item(), 6) for out in losses[3:]}) == 5


def test_a_capturable_optimiser_state_resumes_on_the_cpu(tmp_path):
    # a checkpoint written by a CUDA-graph run carries Adam's capturable flag; the resuming
    # run's own implementation choice wins, so the CPU step still works
    from infogan import checkpoint

    cfg = dataclasses.replace(resolve("tiny"), invariance=1.0)
    images = torch.randint(0, 256, (64, 1, 28, 28), dtype=torch.uint8)
    a = Stepper(cfg, images, torch.device("cpu"))
    a.step_once(0)
    speed.make_capturable(a.opt_d, a.opt_g)
    for opt in (a.opt_d, a.opt_g):  # as on a GPU: capturable, not fused
        for group in opt.param_groups:
            group["fused"] = None
    path = checkpoint.save(tmp_path, 1, a.model, a.opt_d, a.opt_g, {"latent": a.latent_gen.get_state()}, {})
    b = Stepper(cfg, images, torch.device("cpu"))
    checkpoint.load(path, b.model, b.opt_d, b.opt_g)
    assert all(g["fused"] and not g.get("capturable") for g in b.opt_d.param_groups + b.opt_g.param_groups)
    for k, v in a.opt_d.state_dict()["state"][0].items():
        assert torch.equal(v, b.opt_d.state_dict()["state"][0][k]), k
    b.step_once(1)  # would raise if capturable Adam were asked to update CPU parameters


@pytest.mark.parametrize("mode", ["default", "reduce-overhead"])
def test_compile_on_cuda_is_refused_before_anything_runs(mode):
    cfg = dataclasses.replace(resolve("tiny"), compile=mode)
    with pytest.raises(InfoGANError, match="CUDA graph"):
        Stepper(cfg, torch.zeros(64, 1, 28, 28, dtype=torch.uint8), torch.device("cuda"))


def test_every_amp_mode_has_a_dtype():
    from infogan import config

    assert set(speed.AMP_DTYPES) == set(config.AMP_MODES) - {"auto"}


@pytest.mark.parametrize("has_units", [True, False])
def test_amp_auto_is_bf16_on_a_cpu_with_bf16_units_and_off_elsewhere(monkeypatch, has_units):
    monkeypatch.setattr(speed, "cpu_has_bf16_units", lambda: has_units)
    cfg = dataclasses.replace(resolve("tiny"), amp="auto")
    assert speed.amp_mode(cfg, torch.device("cpu")) == ("bf16" if has_units else "off")
    assert speed.amp_dtype(cfg, torch.device("cpu")) == (torch.bfloat16 if has_units else None)
    assert speed.amp_mode(cfg, torch.device("cuda")) == "off"
    for fixed in ("off", "bf16"):  # an explicit choice is kept on every device
        assert speed.amp_mode(dataclasses.replace(cfg, amp=fixed), torch.device("cuda")) == fixed
    assert speed.bf16_hint(cfg, torch.device("cpu")) is None  # auto already decides


def test_amp_auto_steps_as_the_mode_it_chose(monkeypatch):
    monkeypatch.setattr(speed, "cpu_has_bf16_units", lambda: True)
    auto, bf16 = _run(amp="auto"), _run(amp="bf16")
    for a, b in zip(auto[0], bf16[0]):  # the same losses, step for step
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("field,value", [("compile", "fast"), ("amp", "fp8")])
def test_unknown_speed_options_are_refused(field, value):
    from infogan.config import validate

    with pytest.raises(InfoGANError, match=field):
        validate(dataclasses.replace(resolve("tiny"), **{field: value}))


FAULTS_PER_STEP = """
import resource, sys, torch
from infogan import speed
from infogan.config import resolve
from infogan.step import Stepper
if sys.argv[1] == "off":
    # glibc's thresholds at their starting values, held there: left to itself glibc raises
    # them each time it frees a mapped block, and in some runs they had passed every buffer
    # of the step by step 32, so the "off" run stopped faulting on its own (it measured
    # [0, 0, 392] once); held, every run measures what --keep-memory guards against
    assert speed.set_malloc_thresholds(speed.MMAP_THRESHOLD_START, speed.MMAP_THRESHOLD_START)
cfg = resolve("mnist", {"batch_size": 64, "device": "cpu", "threads": 2, "keep_memory": sys.argv[1] == "on"})
stepper = Stepper(cfg, torch.randint(0, 256, (256, 1, 28, 28), dtype=torch.uint8))
# the heap grows to the step's high-water mark: with the default objective (Q's terms on real
# images, the weights' average) that takes more steps than with the paper's; after 8, two of
# three windows still met a new mark in about a third of the runs, after 32 one window in 18
WARM = 32
for i in range(WARM):
    stepper.step_once(i)
windows = []
for w in range(3):  # faults per step in 3 windows of 4 steps
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for i in range(WARM + 4 * w, WARM + 4 + 4 * w):
        stepper.step_once(i)
    windows.append((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 4)
print(*windows)
"""


@pytest.mark.skipif(not speed.has_mallopt(), reason="the C library has no glibc mallopt")
def test_keep_memory_stops_the_per_step_page_faults():
    # paper-size networks: their 25 MB weight gradients are what glibc hands back by default
    windows = {}
    for setting in ("off", "on"):
        out = subprocess.run([sys.executable, "-c", FAULTS_PER_STEP, setting], capture_output=True, text=True,
                             check=True)
        windows[setting] = sorted(float(x) for x in out.stdout.split())
    # without the setting (glibc's starting thresholds) every step faults its big buffers in
    # again; with it the heap stops growing, so most windows fault nothing (one may still
    # catch a new high-water mark)
    off, on = sum(windows["off"]) / 3, windows["on"][1]  # mean; median
    assert off > 1000, windows
    assert on < off / 100, windows


def test_bf16_hint_only_where_the_cpu_has_bf16_units_and_amp_is_off(monkeypatch):
    cfg, cpu = resolve("tiny"), torch.device("cpu")
    monkeypatch.setattr(speed, "cpu_has_bf16_units", lambda: True)
    assert "--amp auto" in speed.bf16_hint(cfg, cpu)
    assert speed.bf16_hint(dataclasses.replace(cfg, amp="bf16"), cpu) is None
    assert speed.bf16_hint(cfg, torch.device("cuda")) is None
    monkeypatch.setattr(speed, "cpu_has_bf16_units", lambda: False)
    assert speed.bf16_hint(cfg, cpu) is None
