"""Training in several processes (GPUs, nodes, or CPU process groups) with torchrun and DDP.

    torchrun --standalone --nproc_per_node 4 -m infogan train --preset mnist
    torchrun --nnodes 2 --node_rank R --master_addr HOST --master_port 29500 \\
             --nproc_per_node 8 -m infogan train --preset mnist

torchrun starts the processes and sets RANK, WORLD_SIZE and LOCAL_RANK; `infogan train` sees
them and joins the process group (NCCL on GPUs, one GPU per process by LOCAL_RANK; gloo on
CPUs). --batch-size is per process: each step every process takes its own slice of one
global batch of world x batch-size images (the epoch's permutation is the same everywhere),
draws its own noise and codes, and PyTorch's DistributedDataParallel averages the gradients
in each phase's backward, so all processes keep the same weights. Rank 0 alone writes the
run folder (logs, pictures, checkpoints, the model, the evaluation); on several nodes
--outdir must be a shared folder for --resume to find the checkpoints.

Which network goes through DDP where (step.train_step): G's forward runs in DDP(G), so its
gradients are averaged in G's phase; D's phase runs D in DDP(D); G's phase runs the plain D,
because it asks autograd for G's gradients only and DDP(D) would wait for D gradients that
never come. Batch norm normalises each process's own batch (as the single-process step
normalises each chunk), and DDP broadcasts rank 0's running statistics at each forward.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Group:
    """This process's place in the job: rank of world (local_rank: its GPU on its node)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


SINGLE = Group()


def from_env() -> Group:
    """The group torchrun describes in the environment (a single process when it does not)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return SINGLE
    return Group(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))


def current() -> Group:
    """The group this process has joined (SINGLE when none)."""
    if not (dist.is_available() and dist.is_initialized()):
        return SINGLE
    return Group(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def join(device: str) -> Group:
    """Join torchrun's process group when there is one; device is the config's (auto|cpu|cuda)."""
    group = from_env()
    if not group.enabled or dist.is_initialized():
        return current()
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if use_cuda:
        torch.cuda.set_device(group.local_rank)
    dist.init_process_group("nccl" if use_cuda else "gloo")
    return group


def leave() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def device_for(group: Group, device: torch.device) -> torch.device:
    """One GPU per process on a node; CPU processes share the CPU."""
    if group.enabled and device.type == "cuda":
        return torch.device("cuda", group.local_rank)
    return device


def wrap(net: torch.nn.Module, group: Group, device: torch.device) -> torch.nn.Module:
    """net in DistributedDataParallel when the group has several processes (net itself otherwise).
    The wrapper shares net's parameters, so checkpoints and the saved model keep their names."""
    if not group.enabled:
        return net
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)


def share(value, group: Group):
    """Rank 0's value, on every rank (a picklable object: a path, a list)."""
    if not group.enabled:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def largest(value: int, group: Group, device: torch.device) -> int:
    """The largest of every rank's value (one all-reduce of an int: NCCL's on the GPU)."""
    if not group.enabled:
        return value
    box = torch.tensor([value], dtype=torch.long, device=device)
    dist.all_reduce(box, op=dist.ReduceOp.MAX)
    return int(box.item())


def barrier(group: Group) -> None:
    if group.enabled:
        dist.barrier()
