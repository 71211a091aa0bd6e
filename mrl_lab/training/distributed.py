"""Training on several processes (GPUs, or CPU cores, or machines) with PyTorch's DistributedDataParallel.

Nothing here runs unless you start the program with ``torchrun``: then each process (a *rank*)
trains a copy of the model on its shard of every global batch, DDP averages the gradients, and
every copy takes the same step. :func:`~mrl_lab.training.trainer.train` and
:func:`~mrl_lab.training.model_cache.save` ask this module who they are: only rank 0 prints and writes
the model cache. For example, two GPUs on one machine::

    torchrun --standalone --nproc_per_node 2 -m mrl_lab train cifar

NCCL carries the gradients between GPUs, gloo between CPU processes.

References:
    PyTorch, "Getting started with DistributedDataParallel" and "torchrun (Elastic Launch)".
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def rank_and_world() -> tuple[int, int]:
    """``(this process's rank, number of processes)``; ``(0, 1)`` when not distributed.

    Example:
        >>> rank_and_world()
        (0, 1)
    """
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main() -> bool:
    """True on rank 0 (and when not distributed): the process that prints and writes files."""
    return rank_and_world()[0] == 0


def barrier() -> None:
    """Wait until every rank gets here (nothing to wait for when not distributed)."""
    if rank_and_world()[1] > 1:
        dist.barrier()


def start_from_env() -> torch.device:
    """Join the process group ``torchrun`` describes in the environment; return this rank's device.

    With CUDA each rank takes the GPU ``LOCAL_RANK`` and NCCL; without, the CPU and gloo (each rank
    then uses one thread, so two ranks share two cores instead of fighting over them). Outside
    ``torchrun`` (no ``WORLD_SIZE`` in the environment) it does nothing and returns the default device.
    """
    if "WORLD_SIZE" not in os.environ:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if torch.cuda.is_available():
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        device, backend = torch.device("cpu"), "gloo"
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // int(os.environ["LOCAL_WORLD_SIZE"])))
    if not dist.is_initialized():
        dist.init_process_group(backend)
    return device


def mean_over_ranks(x: torch.Tensor) -> torch.Tensor:
    """The mean of ``x`` over all ranks (``x`` itself when not distributed), e.g. a logged loss."""
    if rank_and_world()[1] == 1:
        return x
    x = x.clone()
    dist.all_reduce(x)
    return x / dist.get_world_size()
