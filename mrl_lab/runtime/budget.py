"""Budgets: one code path, three sizes.

``MRL_LAB_BUDGET`` picks how much data and training every notebook and script uses:

- ``smoke``: seconds. Tiny subsets of the real data, still real training. What CI runs.
- ``cpu``: minutes on a laptop or Binder. Curves that already show the lesson.
- ``gpu``: the full datasets and the real curves, on a CUDA GPU.

Unset, it is ``gpu`` when CUDA is available and ``cpu`` otherwise.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

BUDGETS = ("smoke", "cpu", "gpu")


@dataclass(frozen=True)
class Budget:
    """Which budget a run uses, the device it runs on, and why.

    What a budget means for an experiment (how many images, epochs, ...) lives in that experiment's
    settings table: :data:`mrl_lab.experiments.cifar.SETTINGS`, :data:`mrl_lab.experiments.text.SETTINGS`,
    :data:`mrl_lab.experiments.pretrained.SETTINGS`, each with one row per budget.

    Attributes:
        name: ``"smoke"``, ``"cpu"`` or ``"gpu"``.
        device: where models train (``cuda`` when available, else ``cpu``).
        reason: why this budget and device were chosen, in words.
        processes: CIFAR models trained side by side, each in its own process: 2 on a CPU (small
            networks keep two cores busier that way), 1 on a GPU.
    """

    name: str
    device: torch.device
    reason: str
    processes: int

    def __str__(self) -> str:
        return f"budget={self.name} on device={self.device} ({self.reason}); processes={self.processes}"


def get_budget(name: str | None = None) -> Budget:
    """Choose the budget and device, and say why.

    Args:
        name: ``"smoke"``, ``"cpu"`` or ``"gpu"``; default ``$MRL_LAB_BUDGET``, and when that is
            unset, ``"gpu"`` with CUDA and ``"cpu"`` without.

    Returns:
        A :class:`Budget`; ``print(budget)`` says what was chosen and why.

    Example:
        >>> b = get_budget("smoke")
        >>> b.name, b.device.type in ("cpu", "cuda")
        ('smoke', True)
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
    device = default_device()
    reason = source
    if name == "gpu" and not cuda:
        reason += "; no CUDA GPU, so the full-size run will be very slow on the CPU"
    return Budget(name=name, device=device, reason=reason, processes=2 if device.type == "cpu" else 1)


def default_device() -> torch.device:
    """``cuda`` when a CUDA GPU is available, else ``cpu``."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def settings_at(table: dict, budget: Budget, changes: dict, where: str) -> dict:
    """An experiment's settings at ``budget`` (its row of ``table``), with ``changes`` applied.

    Example:
        >>> settings_at({"smoke": {"epochs": 2, "lr": 0.1}}, get_budget("smoke"), {"epochs": 3}, "demo")
        {'epochs': 3, 'lr': 0.1}
    """
    row = table[budget.name]
    unknown = sorted(set(changes) - set(row))
    if unknown:
        raise ValueError(f"{where}: unknown settings {unknown}; the settings are {sorted(row)}")
    return dict(row, **changes)
