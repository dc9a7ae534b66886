"""The kernel floor records a step's products and optimiser updates and replays them apart."""

import dataclasses

import pytest
import torch

from infogan.config import resolve
from infogan_benchmarks.floor import kernel_floor
from infogan.step import Stepper


def _stepper(adam="fused"):
    cfg = dataclasses.replace(resolve("tiny"), invariance=1.0, adam=adam)
    images = torch.randint(0, 256, (64, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    return Stepper(cfg, images, torch.device("cpu"))


def _weights(stepper):
    return {k: v.detach().clone() for k, v in stepper.model.state_dict().items()}


@pytest.mark.parametrize("adam", ["fused", "foreach"])
def test_floor_times_products_and_the_optimiser_without_touching_the_model(adam):
    recorded, twin = _stepper(adam), _stepper(adam)
    floor = kernel_floor(lambda: recorded.step_once(0), torch.device("cpu"), repeats=2)
    twin.step_once(0)
    # the recorded step is the real step, once: replays on copies leave the model where one step left it
    after = _weights(recorded)
    for k, v in _weights(twin).items():
        assert torch.equal(v, after[k]), k

    assert floor["products"] > 0 and floor["optimiser"] > 0
    assert floor["total"] == pytest.approx(floor["products"] + floor["optimiser"])


def test_floor_is_below_the_step_it_measures():
    import time

    stepper = _stepper()
    for i in range(3):
        stepper.step_once(i)
    times = []
    for i in range(5):
        t = time.perf_counter()
        stepper.step_once(i)
        times.append(time.perf_counter() - t)
    floor = kernel_floor(lambda: stepper.step_once(0), torch.device("cpu"), repeats=3)
    # the step runs these kernels and more (batch norm, activations, losses, sampling)
    assert floor["total"] < sorted(times)[2]
