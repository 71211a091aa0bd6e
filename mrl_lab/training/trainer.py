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
from dataclasses import dataclass, field, fields

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from mrl_lab.core.checks import check_callable, check_count, check_number, check_tensor
from mrl_lab.runtime.budget import resolve_device
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


@dataclass(frozen=True)
class TrainSettings:
    """What the trainer needs to know besides the model, the loss and the data.

    An experiment's settings table has fields of the same names; :func:`train` reads them from
    it directly (see :meth:`of`), so a notebook passes ``cifar.SETTINGS["cpu"]`` as it is.

    Attributes:
        epochs: passes over the data.
        batch_size: examples per step; the last partial batch of each epoch is dropped.
        lr: peak learning rate (AdamW); weight_decay: AdamW's decoupled weight decay.
        warmup: the share of the steps over which the learning rate rises to ``lr`` (then falls to 0).
        seed: seeds everything (see :func:`seed_everything`), so runs repeat.
        check_every: steps between loss read-outs (progress, the NaN/inf check); it does not change the weights.

    Example:
        >>> TrainSettings(epochs=2, batch_size=16)
        TrainSettings(epochs=2, batch_size=16, lr=0.003, weight_decay=0.0005, warmup=0.25, seed=0, check_every=20)
    """

    epochs: int
    batch_size: int
    lr: float = 3e-3
    weight_decay: float = 5e-4
    warmup: float = 0.25
    seed: int = 0
    check_every: int = 20

    def __post_init__(self):
        check_count(self.epochs, "epochs", "train")
        check_count(self.batch_size, "batch_size", "train")
        check_count(self.check_every, "check_every", "train")
        check_count(self.seed, "seed", "train", low=0)
        check_number(self.lr, "lr", "train", low=0, open_low=True)
        check_number(self.weight_decay, "weight_decay", "train", low=0)
        check_number(self.warmup, "warmup (a share of the steps)", "train", 0, 1, open_low=True, open_high=True)

    @classmethod
    def of(cls, settings) -> TrainSettings:
        """The trainer's settings read from any object with fields of the same names (an experiment's table)."""
        if isinstance(settings, cls):
            return settings
        names = [f.name for f in fields(cls)]
        missing = [n for n in names if n != "check_every" and not hasattr(settings, n)]  # no silent defaults
        if missing:
            raise TypeError(
                f"train: settings={settings!r} has no {', '.join(missing)}; pass TrainSettings(epochs=..., "
                "batch_size=...) or an experiment's settings, which name every value of its recipe"
            )
        return cls(**{n: getattr(settings, n) for n in names if hasattr(settings, n)})


@dataclass
class TrainLog:
    """What a training run did: mean loss every ``check_every`` steps, wall time, throughput."""

    steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    examples_per_s: float = 0.0


def train(model: nn.Module, loss_fn: nn.Module, inputs: torch.Tensor, targets: torch.Tensor | None, settings, *,
          augment=None, device=None, progress="training") -> TrainLog:  # fmt: skip
    """Train ``model`` in place to minimise ``loss_fn(model(x), y)``; return a :class:`TrainLog`.

    With ``targets=None`` (pairs, no labels) the model returns a tuple such as ``(anchors,
    positives)`` and the loss is ``loss_fn(*model(x))``, e.g. a contrastive loss.

    AdamW with a one-cycle learning-rate schedule (linear warm-up, then linear decay to 0). AdamW's
    steps do not depend on the scale of the loss, so a Matryoshka loss (a sum over sizes) and a
    plain loss train at the same learning rate: a fair comparison. The model is left in ``eval()`` mode.

    Under ``torchrun`` (see :mod:`mrl_lab.training.distributed`) each process trains on its share of
    every batch (the global batch) through ``DistributedDataParallel``, which averages the
    gradients, so the steps are those of one process on the whole batch when the loss is a mean
    over rows. In-batch contrastive losses then see only their own rank's rows as negatives;
    batch norms keep statistics per rank. Only rank 0 shows progress.

    Args:
        model: the network; its output goes to ``loss_fn``.
        loss_fn: e.g. ``nn.CrossEntropyLoss()`` or ``MatryoshkaLoss(...)``.
        inputs, targets: the whole training set as tensors (uint8 images are fine); ``targets``
            may be ``None`` (see above).
        settings: a :class:`TrainSettings`, or an experiment's settings with the same fields.
        augment: a function applied to each input batch on the device, e.g.
            :func:`~mrl_lab.training.augment.random_crop_flip`, or a list of them, one per epoch.
        device: default CUDA when available, else CPU.
        progress: a label: one bar so named, updated every step, and a line every epoch (at most
            about 10 lines in all) with its mean loss and the time so far; ``None``: nothing shown;
            a function ``report(step, total, line)``: called after every step with ``line=None`` and
            with each epoch's line (``"epoch 2/7, mean loss ..."``), so that a process training in the
            background can show its progress elsewhere (see :mod:`mrl_lab.training.side_by_side`).

    Raises:
        FloatingPointError: the loss became NaN or infinite; training stops at once.

    Example:
        >>> model = nn.Linear(4, 2)
        >>> x, y = torch.randn(64, 4), torch.randint(0, 2, (64,))
        >>> log = train(model, nn.CrossEntropyLoss(), x, y, TrainSettings(epochs=2, batch_size=16), progress=None)
        >>> len(log.losses) > 0
        True
    """
    s = TrainSettings.of(settings)
    check_callable(model, "model", "train", "nn.Linear(4, 2)")
    check_callable(loss_fn, "loss_fn", "train", "nn.CrossEntropyLoss()")
    check_tensor(inputs, "train: inputs")
    if targets is not None:
        check_tensor(targets, "train: targets")
    pairs = targets is None
    if pairs:
        targets = torch.zeros(len(inputs), dtype=torch.long)  # a placeholder, never given to the loss
    augments = _augmentations(augment, s.epochs)
    steps_per_epoch, shard = _batches(len(inputs), len(targets), s.batch_size)
    seed_everything(s.seed)
    device = resolve_device(device)
    model.to(device, memory_format=torch.channels_last)  # faster convolutions on GPUs and on CPUs
    if _fits_on(device, inputs, targets):  # keep the whole dataset on the device: no loader needed
        inputs, targets = inputs.to(device), targets.to(device)
    fused = device.type in ("cpu", "cuda")  # the fused AdamW kernel: several times faster for large embedding tables
    optimizer = torch.optim.AdamW(model.parameters(), lr=s.lr, weight_decay=s.weight_decay, fused=fused)
    schedule = one_cycle(optimizer, s.epochs * steps_per_epoch, s.warmup)

    net = _parallel(model, loss_fn, device)  # the model, or under torchrun its DDP wrapper (same weights)

    def step(x, y):  # one optimiser step; returns the loss, still on the device
        with _autocast(device):
            loss = loss_fn(*net(x)) if pairs else loss_fn(net(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        return loss.detach().float()

    start, show = time.perf_counter(), _Progress(progress, s.epochs * steps_per_epoch, s.epochs)
    model.train()
    with show:
        log = _epochs(step, inputs, targets, augments, s, steps_per_epoch, shard, show)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    log.seconds = time.perf_counter() - start
    log.examples_per_s = s.epochs * steps_per_epoch * s.batch_size / log.seconds
    model.eval()
    return log


def _augmentations(augment, epochs: int) -> list:
    """One augmentation (or None) per epoch."""
    augments = list(augment) if isinstance(augment, (list, tuple)) else [augment] * epochs
    if len(augments) != epochs:
        raise ValueError(f"train: {len(augments)} augmentations for {epochs} epochs; give one per epoch or one in all")
    for a in augments:
        if a is not None:
            check_callable(a, "augment", "train", "random_crop_flip, or None")
    return augments


def _batches(n_inputs: int, n_targets: int, batch_size: int) -> tuple[int, int]:
    """Steps per epoch, and each process's rows of every global batch."""
    if n_inputs != n_targets:
        raise ValueError(f"train: {n_inputs} inputs but {n_targets} targets; pass one target per input")
    if n_inputs // batch_size == 0:
        raise ValueError(f"train: batch_size={batch_size} is larger than the {n_inputs} examples; lower it")
    _, world = rank_and_world()  # (0, 1) unless started by torchrun
    if batch_size % world:
        raise ValueError(
            f"train: batch_size={batch_size} does not split over {world} processes; use a multiple of {world}"
        )
    return n_inputs // batch_size, batch_size // world


def _parallel(model: nn.Module, loss_fn: nn.Module, device: torch.device) -> nn.Module:
    """The model itself, or under torchrun the DistributedDataParallel wrapper that averages its gradients."""
    if rank_and_world()[1] == 1:
        return model
    sampled = getattr(loss_fn, "n_dims_per_step", None) is not None  # some heads then get no gradient
    ids = [device] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids, find_unused_parameters=sampled)


def _epochs(step, inputs, targets, augments, s: TrainSettings, steps_per_epoch: int, shard: int, show) -> TrainLog:
    """Every epoch of shuffled batches through ``step``, reading the loss every ``check_every`` steps."""
    rank, _ = rank_and_world()
    log, device = TrainLog(), targets.device
    running, total = torch.zeros((), device=device), s.epochs * steps_per_epoch
    for epoch, augment in enumerate(augments):
        epoch_loss = torch.zeros((), device=device)
        order = torch.randperm(len(inputs), device=inputs.device)
        for i in range(steps_per_epoch):
            idx = order[i * s.batch_size + rank * shard : i * s.batch_size + (rank + 1) * shard]
            x, y = inputs[idx].to(device, non_blocking=True), targets[idx].to(device, non_blocking=True)
            if augment is not None:
                x = augment(x)
            if x.ndim == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            loss = step(x, y)
            running += loss
            epoch_loss += loss
            done = epoch * steps_per_epoch + i + 1
            if done % s.check_every == 0 or done == total:  # read the loss: a wait on a GPU, so not every step
                mean = mean_over_ranks(running).item() / (done - (log.steps[-1] if log.steps else 0))
                running.zero_()
                _stop_if_not_finite(mean, epoch, done, s.lr)
                log.steps.append(done)
                log.losses.append(mean)
                show.loss(epoch, mean)
            show.step(done)
        show.epoch(epoch, done, mean_over_ranks(epoch_loss).item() / steps_per_epoch)
    return log


class _Progress:
    """The trainer's progress: a tqdm bar and a line per epoch, a ``report`` function, or nothing."""

    def __init__(self, progress, total: int, epochs: int):
        if progress is not None and not isinstance(progress, str) and not callable(progress):
            raise TypeError(f"train: progress={progress!r}; pass a label, a function report(step, total, line) or None")
        self.report = progress if callable(progress) else None
        label = progress if isinstance(progress, str) else None
        self.label = label or "training"
        shown = label is not None and rank_and_world()[0] == 0
        self.bar = tqdm(total=total, desc=self.label, disable=not shown, leave=True)
        self.total, self.epochs, self.every = total, epochs, math.ceil(epochs / 10)  # epochs between printed lines
        self.start, self.shown = time.perf_counter(), shown

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.bar.close()

    def loss(self, epoch: int, mean: float) -> None:
        self.bar.set_postfix(epoch=epoch + 1, loss=f"{mean:.3f}", refresh=False)

    def step(self, done: int) -> None:
        self.bar.update(1)
        if self.report is not None:
            self.report(done, self.total, None)

    def epoch(self, epoch: int, done: int, mean: float) -> None:
        if (epoch + 1) % self.every and epoch + 1 != self.epochs:
            return
        seconds = time.perf_counter() - self.start
        line = f"epoch {epoch + 1}/{self.epochs}, mean loss {mean:.3f}, {seconds:.0f} s"
        if self.shown:
            self.bar.write(f"{self.label}: {line}")
        if self.report is not None:
            self.report(done, self.total, line)


def progress_for(name: str, progress):
    """What :func:`train` shows for a model called ``name``: ``True``: a bar so named; ``False``: nothing;
    a label or a ``report`` function: itself.

    Example:
        >>> progress_for("MRL", True), progress_for("MRL", False), progress_for("MRL", "fine-tune MRL")
        ('MRL', None, 'fine-tune MRL')
    """
    return name if progress is True else (None if progress is False else progress)


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
    nearer the caches, which is faster per image (see ``benchmarks/RESULTS.md``).
    ``desc``, if given, names a progress bar over the batches.

    Example:
        >>> encode(nn.Linear(4, 3), torch.randn(10, 4), batch_size=4).shape
        torch.Size([10, 3])
    """
    check_callable(module, "module", "encode", "a trained model")
    check_tensor(inputs, "encode: inputs")
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
