"""Budgets: one code path, three sizes.

``MRL_LAB_BUDGET`` picks how much data and training every notebook and script uses:

- ``smoke``: seconds. Tiny subsets of the real data, still real training. What CI runs.
- ``cpu``: minutes on a laptop or Binder. Curves that already show the lesson.
- ``gpu``: the full datasets and the real curves, on a CUDA GPU.

Unset, it is ``gpu`` when CUDA is available and ``cpu`` otherwise.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields

import torch

BUDGETS = ("smoke", "cpu", "gpu")


@dataclass(frozen=True)
class Budget:
    """The sizes a notebook uses at one budget, and the device it runs on.

    Attributes:
        name: ``"smoke"``, ``"cpu"`` or ``"gpu"``.
        device: where models train (``cuda`` when available, else ``cpu``).
        reason: why this budget and device were chosen, in words.
        cifar_train, cifar_test: CIFAR-10 images used for training and for evaluation.
        epochs: passes over the CIFAR-10 training images.
        progressive: train the CIFAR-10 models on smaller images first (16x16, then 24x24 crops,
            the last epoch at full size): cheaper epochs, so more of them fit in the time.
        batch_size: training batch size.
        width: base channel width of the convolutional networks.
        text_train: AG News training pairs (``None``: all available).
        text_epochs: passes over the text pairs.
    """

    name: str
    device: torch.device
    reason: str
    cifar_train: int
    cifar_test: int
    epochs: int
    progressive: bool
    batch_size: int
    width: int
    text_train: int | None
    text_epochs: int

    def __str__(self) -> str:
        sizes = ", ".join(f"{f.name}={getattr(self, f.name)}" for f in fields(self)[3:])
        return f"budget={self.name} on device={self.device} ({self.reason}); {sizes}"


_SIZES = {
    "smoke": dict(
        cifar_train=800,
        cifar_test=400,
        epochs=2,
        progressive=True,
        batch_size=100,
        width=16,
        text_train=2000,
        text_epochs=2,
    ),
    "cpu": dict(
        cifar_train=10000,
        cifar_test=10000,
        epochs=7,
        progressive=True,
        batch_size=128,
        width=16,
        text_train=10000,
        text_epochs=20,
    ),
    "gpu": dict(
        cifar_train=50000,
        cifar_test=10000,
        epochs=10,
        progressive=False,
        batch_size=512,
        width=64,
        text_train=None,
        text_epochs=20,
    ),
}


def get_budget(name: str | None = None) -> Budget:
    """Choose the budget and device, and say why.

    Args:
        name: ``"smoke"``, ``"cpu"`` or ``"gpu"``; default ``$MRL_LAB_BUDGET``, and when that is
            unset, ``"gpu"`` with CUDA and ``"cpu"`` without.

    Returns:
        A :class:`Budget`; ``print(budget)`` says what was chosen and why.

    Example:
        >>> b = get_budget("smoke")
        >>> b.name, b.cifar_train
        ('smoke', 800)
        >>> get_budget("huge")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: unknown budget 'huge'; choose one of 'smoke', 'cpu', 'gpu' ...
    """
    cuda = torch.cuda.is_available()
    if name is not None:
        source = f"asked for {name!r}"
    elif os.environ.get("MRL_LAB_BUDGET", "").strip():
        name, source = os.environ["MRL_LAB_BUDGET"].strip(), "from MRL_LAB_BUDGET"
    else:
        name = "gpu" if cuda else "cpu"
        source = "MRL_LAB_BUDGET unset, " + ("CUDA available" if cuda else "no CUDA GPU found")
    if name not in BUDGETS:
        raise ValueError(
            f"unknown budget {name!r}; choose one of 'smoke', 'cpu', 'gpu' "
            "(or unset MRL_LAB_BUDGET to pick automatically)"
        )
    device = torch.device("cuda" if cuda else "cpu")
    reason = source
    if name == "gpu" and not cuda:
        reason += "; no CUDA GPU, so the full-size run will be very slow on the CPU"
    return Budget(name=name, device=device, reason=reason, **_SIZES[name])
