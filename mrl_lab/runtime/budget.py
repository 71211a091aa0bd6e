"""Budgets: one code path, three sizes.

``MRL_LAB_BUDGET`` picks how much data and training every notebook and script uses:

- ``smoke``: seconds. Tiny subsets of the real data, still real training. What CI runs.
- ``cpu``: minutes on a laptop or Binder. Curves that already show the lesson.
- ``gpu``: the full datasets and the real curves, on a CUDA GPU.

Unset, it is ``gpu`` when CUDA is available and ``cpu`` otherwise.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

import torch

BUDGETS = ("smoke", "cpu", "gpu")


@dataclass(frozen=True)
class Budget:
    """Which budget a run uses, the device it runs on, and why.

    What a budget means for an experiment (how many images, epochs, ...) lives in that experiment's
    settings table (``SETTINGS`` in each module of :mod:`mrl_lab.experiments`), one row per budget.

    Attributes:
        name: ``"smoke"``, ``"cpu"`` or ``"gpu"``.
        device: where models train (``cuda`` when available, else ``cpu``).
        reason: why this budget and device were chosen, in words.
        processes: small models trained side by side, each on its own core: 2 on a CPU (small
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


def resolve_device(device=None) -> torch.device:
    """``device`` as a ``torch.device``, or :func:`default_device` when it is None: the one place the lab picks one.

    Example:
        >>> resolve_device("cpu")
        device(type='cpu')
    """
    return default_device() if device is None else torch.device(device)


def settings_for(table: dict, budget, changes: dict, where: str):
    """An experiment's settings at ``budget``: its row of ``table`` (a frozen dataclass), with ``changes`` applied.

    This is the one way every experiment reads its settings, so a changed value is honoured
    everywhere (and, being part of the settings, in the model cache's key).

    Args:
        table: ``{budget name: settings}``; budget: a :class:`Budget` or a budget's name.
        changes: fields to change, e.g. ``{"epochs": 3}``; where: the caller's name, for errors.

    Example:
        >>> from dataclasses import dataclass
        >>> @dataclass(frozen=True)
        ... class Demo:
        ...     epochs: int = 2
        >>> settings_for({"smoke": Demo()}, get_budget("smoke"), {"epochs": 3}, "demo")
        Demo(epochs=3)
        >>> settings_for({"smoke": Demo()}, "smoke", {"epoch": 3}, "demo")
        Traceback (most recent call last):
        ...
        ValueError: demo: unknown setting 'epoch'; the settings are ['epochs']

    A value the settings refuse (in their ``__post_init__``) is named with ``where``, the function called:

        >>> @dataclass(frozen=True)
        ... class Checked:
        ...     epochs: int = 2
        ...     def __post_init__(self):
        ...         if self.epochs < 1:
        ...             raise ValueError(f"demo.Checked: epochs={self.epochs}; it must be >= 1")
        >>> settings_for({"smoke": Checked()}, "smoke", {"epochs": 0}, "demo.settings")
        Traceback (most recent call last):
        ...
        ValueError: demo.settings: epochs=0; it must be >= 1
    """
    name = budget.name if isinstance(budget, Budget) else budget
    if name not in table:
        raise ValueError(f"{where}: unknown budget {name!r}; choose one of {sorted(table)}")
    row = table[name]
    known = [f.name for f in dataclasses.fields(row)]
    for key in changes:
        if key not in known:
            raise ValueError(f"{where}: unknown setting {key!r}; the settings are {sorted(known)}")
    try:
        return dataclasses.replace(row, **changes)
    except (TypeError, ValueError) as error:  # "text.Settings: lr must be > 0" becomes "text.settings: lr ..."
        named, _, rest = str(error).partition(": ")
        raise type(error)(f"{where}: {rest if named.endswith(type(row).__name__) else error}") from None
