"""``python -m mrl_lab doctor``: what this machine has, and what to do about anything missing."""

from __future__ import annotations

import importlib.metadata
import os
import platform

import torch

from .budget import get_budget
from .cache import cache_dir
from .data import data_roots, locate_datasets

PACKAGES = [
    "torch", "torchvision", "numpy", "scikit-learn", "sentence-transformers", "plotly", "pandas", "ipywidgets",
    "jupyterlab", "nbval",
]  # fmt: skip


def report() -> tuple[str, bool]:
    """The doctor's report as text, and whether everything needed was found.

    Example:
        >>> text, ok = report()
        >>> "Budget:" in text
        True
    """
    lines, ok = (
        [f"mrl-lab doctor - Python {platform.python_version()} on {platform.system()} {platform.machine()}"],
        True,
    )
    lines.append("Packages:")
    for name in PACKAGES:
        try:
            lines.append(f"  {name:13s} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            ok = False
            lines.append(f"  {name:13s} MISSING - run the README's install command (./lab start) or pip install {name}")
    if torch.cuda.is_available():
        lines.append(f"Device: CUDA GPU {torch.cuda.get_device_name(0)} (torch CUDA {torch.version.cuda})")
    else:
        lines.append(f"Device: CPU ({os.cpu_count()} cores, torch uses {torch.get_num_threads()} threads); no CUDA GPU")
    try:
        budget = get_budget()
        lines.append(f"Budget: {budget.name} ({budget.reason}); set MRL_LAB_BUDGET=smoke|cpu|gpu to change it")
    except ValueError as e:
        ok = False
        lines.append(f"Budget: ERROR - {e}")
    lines.append(f"Data folders searched: {', '.join(str(r) for r in data_roots())}")
    lines.append(f"Cache (decoded arrays, downloads): {cache_dir()}")
    lines.append("Datasets:")
    for name, path in locate_datasets().items():
        if path is None:
            ok = False
            lines.append(
                f"  {name:9s} not found - it downloads on first use if you are online; offline, "
                "set MRL_LAB_DATA to a folder that holds it (e.g. MRL_LAB_DATA=../shared/data)"
            )
        else:
            what = ""
            if name == "AG News" and not path.with_name("train.csv").exists():
                what = " (test split only: the loader makes its own train/val/test split)"
            elif name == "CIFAR-10" and path.name == "test":
                what = " (image-folder copy: JPEG pixels, accuracy a little below the originals)"
            lines.append(f"  {name:9s} found at {path}{what}")
    try:
        from .pretrained import MODEL, find_encoder

        lines.append(f"  encoder   {MODEL} found at {find_encoder(download=False)}")
    except Exception as e:  # not found, or sentence-transformers missing
        ok = False
        lines.append(
            f"  encoder   not found ({type(e).__name__}) - notebook 05 downloads it on first use if you are online; "
            "offline, copy it to $MRL_LAB_DATA/models/all-MiniLM-L6-v2"
        )
    lines.append(
        "All good: start with notebooks/00_quickstart.ipynb" if ok else "Fix the lines above, then run me again."
    )
    return "\n".join(lines), ok
