"""A compact trainer: seeded, one plain loop, fast on a GPU, honest about failures.

Images use channels-last memory everywhere (faster convolutions on GPUs and CPUs). On CUDA it
keeps the data on the GPU when it fits, augments there, runs in bf16 autocast and never waits on
the GPU inside an epoch except every ``check_every`` steps, when it reads the loss to report
progress and to stop on NaN/inf. On a CPU the same code runs in float32.
"""

from __future__ import annotations

import contextlib
import math
import random
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from mrl_lab.core.checks import check_count
from mrl_lab.runtime.budget import default_device
from mrl_lab.training.distributed import mean_over_ranks, rank_and_world


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch (CPU and CUDA) so a run can be repeated.

    Example:
        >>> seed_everything(0); a = torch.rand(2)
        >>> seed_everything(0); torch.equal(a, torch.rand(2))
        True
    """
    seed = check_count(seed, "seed", "seed_everything", low=0)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _autocast(device: torch.device):
    """bf16 mixed precision on CUDA; plain float32 elsewhere."""
    return torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else contextlib.nullcontext()


def _fits_on(device: torch.device, *tensors: torch.Tensor) -> bool:
    if device.type != "cuda":
        return True
    free, _ = torch.cuda.mem_get_info(device)
    return sum(t.nbytes for t in tensors) < 0.5 * free


@dataclass
class TrainLog:
    """What a training run did: mean loss every ``check_every`` steps, wall time, throughput."""

    steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    examples_per_s: float = 0.0


def train(
    model: nn.Module,
    loss_fn: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor | None,
    *,
    epochs: int,
    batch_size: int,
    lr: float = 3e-3,
    weight_decay: float = 5e-4,
    warmup: float = 0.25,
    augment=None,
    device=None,
    seed: int = 0,
    check_every: int = 20,
    desc: str = "training",
    progress: bool = True,
    report=None,
) -> TrainLog:
    """Train ``model`` in place to minimise ``loss_fn(model(x), y)``; return a :class:`TrainLog`.

    With ``targets=None`` (pairs, no labels) the model returns a tuple such as ``(anchors,
    positives)`` and the loss is ``loss_fn(*model(x))``, e.g. a contrastive loss.

    Under ``torchrun`` (see :mod:`mrl_lab.training.distributed`) each process trains on its share of every
    batch of ``batch_size`` rows (the global batch) through ``DistributedDataParallel``, which
    averages the gradients, so the steps are those of one process on the whole batch when the
    loss is a mean over rows (cross-entropy). In-batch contrastive losses then see only their own
    rank's rows as negatives; batch norms keep statistics per rank. Only rank 0 shows progress.

    AdamW with a one-cycle learning-rate schedule (linear warm-up, then linear decay to 0). AdamW's steps do not
    depend on the scale of the loss, so a Matryoshka loss (a sum over sizes) and a plain loss
    train at the same learning rate: a fair comparison. The model is left in ``eval()`` mode.

    Args:
        model: the network; its output goes to ``loss_fn``.
        loss_fn: e.g. ``nn.CrossEntropyLoss()`` or ``MatryoshkaLoss(...)``.
        inputs, targets: the whole training set as tensors (uint8 images are fine); ``targets``
            may be ``None`` (see above).
        epochs: passes over the data; batch_size: examples per step (the last partial batch of
            each epoch is dropped).
        lr: peak learning rate; weight_decay: AdamW's decoupled weight decay; warmup: the share of
            the steps over which the learning rate rises linearly to ``lr`` (then it falls to 0).
        augment: a function applied to each input batch on the device, e.g. :func:`random_crop_flip`,
            or a list of such functions, one per epoch (e.g. small images first).
        device: default CUDA when available, else CPU.
        seed: seeds everything (see :func:`seed_everything`), so runs repeat.
        check_every: steps between loss read-outs (progress bar, NaN/inf check).
        desc: label of the progress bar; progress: show it (one bar per run, updated every step,
            and a line per epoch, or per few epochs when there are more than 10, with its mean
            loss and the time so far).
        report: optional ``report(step, total, line)``, called after every step with ``line=None``
            and after each printed epoch with that epoch's line; it lets a process that trains in the
            background show its progress elsewhere (see ``cifar.train_models``).

    Raises:
        FloatingPointError: the loss became NaN or infinite; training stops at once.

    Example:
        >>> model = nn.Linear(4, 2)
        >>> x, y = torch.randn(64, 4), torch.randint(0, 2, (64,))
        >>> log = train(model, nn.CrossEntropyLoss(), x, y, epochs=2, batch_size=16, progress=False)
        >>> len(log.losses) > 0
        True
    """
    check_count(epochs, "epochs", "train")
    check_count(batch_size, "batch_size", "train")
    if not lr > 0 or not weight_decay >= 0 or not 0 < warmup < 1:
        raise ValueError(
            f"train: lr={lr}, weight_decay={weight_decay}, warmup={warmup}; need lr > 0, weight_decay >= 0 "
            "and 0 < warmup < 1 (a share of the steps)"
        )
    pairs = targets is None
    if pairs:
        targets = torch.zeros(len(inputs), dtype=torch.long)  # a placeholder, never given to the loss
    if len(inputs) != len(targets):
        raise ValueError(f"train: {len(inputs)} inputs but {len(targets)} targets; pass one target per input")
    per_epoch = isinstance(augment, (list, tuple))
    if per_epoch and len(augment) != epochs:
        raise ValueError(f"train: {len(augment)} augmentations for {epochs} epochs; give one per epoch or one in all")
    steps_per_epoch = len(inputs) // batch_size
    if steps_per_epoch == 0:
        raise ValueError(f"train: batch_size={batch_size} is larger than the {len(inputs)} examples; lower it")
    rank, world = rank_and_world()  # (0, 1) unless started by torchrun
    if batch_size % world:
        raise ValueError(
            f"train: batch_size={batch_size} does not split over {world} processes; use a multiple of {world}"
        )
    shard = batch_size // world  # each process's rows of every global batch
    progress = progress and rank == 0
    seed_everything(seed)
    device = torch.device(device) if device is not None else default_device()
    cuda = device.type == "cuda"
    model.to(device, memory_format=torch.channels_last)  # faster convolutions on GPUs and on CPUs
    if _fits_on(device, inputs, targets):  # keep the whole dataset on the device: no loader needed
        inputs, targets = inputs.to(device), targets.to(device)
    # The fused AdamW kernel (CPU and CUDA) is several times faster for large embedding tables.
    fused = device.type in ("cpu", "cuda")
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay, fused=fused)
    total = epochs * steps_per_epoch
    schedule = one_cycle(optimizer, total, warmup)
    net = model  # what the steps call: the model, or under torchrun its DDP wrapper (same weights)
    if world > 1:
        sampled = getattr(loss_fn, "n_dims_per_step", None) is not None  # some heads then get no gradient
        net = nn.parallel.DistributedDataParallel(model, device_ids=[device] if cuda else None,
                                                  find_unused_parameters=sampled)  # fmt: skip
    autocast = _autocast(device)
    log, running, start = TrainLog(), torch.zeros((), device=device), time.perf_counter()
    every_nth = math.ceil(epochs / 10)  # epochs between the printed lines
    model.train()
    with tqdm(total=total, desc=desc, disable=not progress, leave=True) as bar:
        for epoch in range(epochs):
            epoch_loss = torch.zeros((), device=device)
            order = torch.randperm(len(inputs), device=inputs.device)
            augment_now = augment[epoch] if per_epoch else augment
            for i in range(steps_per_epoch):
                idx = order[i * batch_size + rank * shard : i * batch_size + (rank + 1) * shard]
                x = inputs[idx].to(device, non_blocking=True)
                y = targets[idx].to(device, non_blocking=True)
                if augment_now is not None:
                    x = augment_now(x)
                if x.ndim == 4:
                    x = x.contiguous(memory_format=torch.channels_last)
                with autocast:
                    loss = loss_fn(*net(x)) if pairs else loss_fn(net(x), y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                running += loss.detach().float()
                epoch_loss += loss.detach().float()
                step = epoch * steps_per_epoch + i + 1
                if step % check_every == 0 or step == total:  # read the loss: a wait on a GPU, so not every step
                    mean = mean_over_ranks(running).item() / (step - (log.steps[-1] if log.steps else 0))
                    running.zero_()
                    _stop_if_not_finite(mean, epoch, step, lr)
                    log.steps.append(step)
                    log.losses.append(mean)
                    bar.set_postfix(epoch=epoch + 1, loss=f"{mean:.3f}", refresh=False)
                bar.update(1)
                if report is not None:
                    report(step, total, None)
            if (epoch + 1) % every_nth == 0 or epoch + 1 == epochs:  # a line per epoch, at most ~10 in all
                seconds, mean = time.perf_counter() - start, mean_over_ranks(epoch_loss).item() / steps_per_epoch
                line = f"{desc}: epoch {epoch + 1}/{epochs}, mean loss {mean:.3f}, {seconds:.0f} s"
                if progress:
                    bar.write(line)
                if report is not None:
                    report(step, total, line)
    if cuda:
        torch.cuda.synchronize(device)
    log.seconds = time.perf_counter() - start
    log.examples_per_s = total * batch_size / log.seconds
    model.eval()
    return log


def one_cycle(optimizer, total: int, warmup: float):
    """The learning rate rises linearly over the first ``warmup`` share of ``total`` steps, then falls
    linearly, reaching 0 just after the last step (a one-cycle schedule).

    Example:
        >>> opt = torch.optim.SGD(nn.Linear(1, 1).parameters(), lr=1.0)
        >>> schedule, seen = one_cycle(opt, total=8, warmup=0.25), []
        >>> for _ in range(8):
        ...     seen.append(round(opt.param_groups[0]["lr"], 2)); opt.step(); schedule.step()
        >>> seen
        [0.5, 1.0, 1.0, 0.83, 0.67, 0.5, 0.33, 0.17]
    """
    rise = max(1, int(total * warmup))
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min((step + 1) / rise, (total - step) / max(1, total - rise))
    )


def _stop_if_not_finite(mean: float, epoch: int, step: int, lr: float) -> None:
    if not math.isfinite(mean):
        raise FloatingPointError(
            f"train: the loss became {mean} at epoch {epoch + 1}, step {step}; training stopped. Lower the "
            f"learning rate (lr={lr:g}), check the inputs for NaN/inf, or check the loss weights"
        )


@torch.no_grad()
def encode(module: nn.Module, inputs: torch.Tensor, batch_size: int | None = None, device=None, desc=None):
    """Run ``module`` over ``inputs`` in eval mode and batches; return float32 CPU results.

    A module that returns a tuple (such as :class:`MRLHead`) gives a tuple of concatenated tensors.
    ``batch_size`` defaults to 1024 on a GPU and 256 on a CPU, where smaller activations stay
    nearer the caches (the CIFAR encoder ran 1.7x faster per image at 256 than at 1024 here).
    ``desc``, if given, names a progress bar over the batches.

    Example:
        >>> encode(nn.Linear(4, 3), torch.randn(10, 4), batch_size=4).shape
        torch.Size([10, 3])
    """
    if len(inputs) == 0:
        raise ValueError(f"encode: inputs are empty (shape {tuple(inputs.shape)}); pass at least one row")
    if device is None:  # where the module's weights are (the CPU for a module without any)
        device = next(module.parameters(), torch.empty(0)).device
    device = torch.device(device)
    default = 1024 if device.type == "cuda" else 256
    batch_size = check_count(default if batch_size is None else batch_size, "batch_size", "encode")
    autocast = _autocast(device)
    was_training = module.training
    module.eval()
    outs = []
    for i in tqdm(range(0, len(inputs), batch_size), desc=desc, disable=desc is None, leave=False):
        x = inputs[i : i + batch_size].to(device)
        if x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast:
            out = module(x)
        outs.append(tuple(o.float().cpu() for o in out) if isinstance(out, tuple) else out.float().cpu())
    module.train(was_training)
    if isinstance(outs[0], tuple):
        return tuple(torch.cat(parts) for parts in zip(*outs))
    return torch.cat(outs)
