"""The command line: ``python -m mrl_lab doctor``, ``python -m mrl_lab train cifar|text`` and
``python -m mrl_lab check SOURCE --corpus FILE``.

``doctor`` says what this machine has (versions, device, budget, which datasets were found where)
and what to do about anything missing. ``train`` fills the model cache with an experiment's models
at the budget in ``MRL_LAB_BUDGET``, so the notebooks then load them. Started by ``torchrun``, it
trains each model on all the processes together (see :mod:`mrl_lab.training.distributed`), e.g.
on two GPUs::

    MRL_LAB_BUDGET=gpu torchrun --standalone --nproc_per_node 2 -m mrl_lab train cifar

``check`` measures how short your own embeddings can be cut, and at what precision, on your corpus
(:mod:`mrl_lab.experiments.check`); bad input ends with one line saying what to fix, and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import sys

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


def check_command(args) -> int:
    """``python -m mrl_lab check``: measure, print the summary and the table, then write ``--out``."""
    from mrl_lab.experiments import check
    from mrl_lab.lab.report import html_report, kept_table, line_name

    changes = {name: getattr(args, name) for name in ("k", "keep", "shortlist") if getattr(args, name) is not None}
    settings = check.settings(get_budget(), **changes)
    data = check.load_data(settings, args.source, args.corpus, args.queries, args.pairs, args.column)
    table = check.evaluate(settings, data, args.sizes)
    summary = check.summary(settings, data, table)
    shown = [line_name("prefix", p, r) for p in check.PRECISIONS for r in (False, True) if p != "float32" or not r]
    shown += [line_name(m, "float32", False) for m in ("PCA", "adaptor")]
    kept = kept_table(table, summary["metric"])
    print("\n".join(summary["lines"]))
    print(f"\nShare of full-width {summary['metric']} kept, % [95 % interval], by size:")
    print(kept[[c for c in shown if c in kept.columns]].to_string())
    if args.out is not None:
        folder = check.write(args.out, settings, data, table, summary, html_report(summary, table))
        print(f"\nWrote {folder / 'results.csv'}, results.json and report.html")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mrl_lab", description="mrl-lab helpers")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("doctor", help="versions, device, budget and which datasets were found where")
    trainer = sub.add_parser("train", help="train an experiment's models into the cache (torchrun: on all processes)")
    trainer.add_argument("experiment", choices=["cifar", "text"])
    trainer.add_argument("--only", nargs="+", help="just these models, e.g. MRL normal")
    trainer.add_argument("--retrain", action="store_true", help="train even if the cache has the model")
    checker = sub.add_parser("check", help="how short can your embeddings be cut, and at what precision?")
    checker.add_argument("source", help="a sentence-transformers model (folder or Hub name), or a .npy of embeddings")
    checker.add_argument("--corpus", required=True, help="the documents: one a line, or a CSV/TSV (see --column)")
    checker.add_argument("--queries", help="query texts (with a .npy SOURCE: a .npy of query vectors)")
    checker.add_argument("--pairs", help="each query's relevant document: a CSV/TSV 'document' column (row or text)")
    checker.add_argument("--column", help="the column holding the texts in a CSV/TSV corpus or queries file")
    checker.add_argument("--sizes", type=int, nargs="+", help="sizes to measure (default: powers of two, 1/8, ...)")
    checker.add_argument("--k", type=int, help="neighbours compared per query (default 10)")
    checker.add_argument("--keep", type=float, help="share of full width to keep (default 0.95)")
    checker.add_argument("--shortlist", type=int, help="candidates re-scored at full precision (default 100)")
    checker.add_argument("--out", help="folder for results.csv, results.json and report.html")
    args = parser.parse_args(argv)
    if args.command == "check":
        try:
            return check_command(args)
        except (ValueError, FileNotFoundError) as e:  # bad input: say what to fix, no traceback
            print(f"python -m mrl_lab check: error: {e}", file=sys.stderr)
            return 2
    if args.command == "train":
        train(args.experiment, args.only, args.retrain)
        return 0
    text_report, ok = report()
    print(text_report)
    return 0 if ok else 1
