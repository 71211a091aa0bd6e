"""The command line: ``python -m mrl_lab doctor`` and ``python -m mrl_lab train cifar|text``.

``doctor`` says what this machine has (versions, device, budget, which datasets were found where)
and what to do about anything missing. ``train`` fills the model cache with an experiment's models
at the budget in ``MRL_LAB_BUDGET``, so the notebooks then load them. Started by ``torchrun``, it
trains each model on all the processes together (see :mod:`mrl_lab.training.distributed`), e.g.
on two GPUs::

    MRL_LAB_BUDGET=gpu torchrun --standalone --nproc_per_node 2 -m mrl_lab train cifar
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform

import torch

from mrl_lab.data.catalog import locate_datasets
from mrl_lab.data.locate import data_roots
from mrl_lab.data.text import load_ag_news
from mrl_lab.experiments import cifar, text
from mrl_lab.runtime.budget import get_budget
from mrl_lab.runtime.cache import cache_dir
from mrl_lab.training.distributed import is_main, start_from_env

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
        from mrl_lab.data.locate import find_encoder
        from mrl_lab.experiments.pretrained import MODEL

        lines.append(f"  encoder   {MODEL} found at {find_encoder(download=False)}")
    except Exception as e:  # not found, or sentence-transformers missing
        ok = False
        lines.append(
            f"  encoder   not found ({type(e).__name__}) - notebook 03 downloads it on first use if you are online; "
            "offline, copy it to $MRL_LAB_DATA/models/all-MiniLM-L6-v2"
        )
    lines.append(
        "All good: start with notebooks/00_quickstart.ipynb" if ok else "Fix the lines above, then run me again."
    )
    return "\n".join(lines), ok


def train(experiment: str, only: list[str] | None, retrain: bool) -> None:
    """Train (or find in the cache) the models of one experiment, on this process's device."""
    device, budget = start_from_env(), get_budget()
    if experiment == "cifar":
        settings = cifar.settings(budget)
        models = cifar.train_all(settings, cifar.load_data(settings), only=only, device=device, retrain=retrain)
    else:
        settings = text.settings(budget)
        data = text.load_data(settings, load_ag_news())
        models = text.train_all(settings, data, only, device=device, retrain=retrain)
    if is_main():
        for name, (_, meta) in models.items():
            done = "found in the cache" if meta["cached"] else f"trained in {meta['seconds']:.0f} s"
            print(f"{experiment} {name}: {done} (budget {budget.name}, device {device})")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mrl_lab", description="mrl-lab helpers")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("doctor", help="versions, device, budget and which datasets were found where")
    trainer = sub.add_parser("train", help="train an experiment's models into the cache (torchrun: on all processes)")
    trainer.add_argument("experiment", choices=["cifar", "text"])
    trainer.add_argument("--only", nargs="+", help="just these models, e.g. MRL normal")
    trainer.add_argument("--retrain", action="store_true", help="train even if the cache has the model")
    args = parser.parse_args(argv)
    if args.command == "train":
        train(args.experiment, args.only, args.retrain)
        return 0
    text_report, ok = report()
    print(text_report)
    return 0 if ok else 1
