"""Benchmark the CIFAR-10 experiment: training speed and accuracy at every nesting size.

    python benchmarks/cifar10.py --budget cpu          # the MRL model only
    python benchmarks/cifar10.py --budget gpu --all    # every model of notebook 01, plus 1-NN baselines
    python benchmarks/cifar10.py --budget smoke --json results.json
    python benchmarks/cifar10.py --budget cpu --all --processes 2   # two models at a time (CPU only)

Always trains from scratch (and refreshes the notebook's model cache). Prints images/s, time per
epoch, wall time and the accuracy table, and writes the same as JSON with --json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import time

import torch

from mrl_lab.evaluation.results import curves, row, spans, table
from mrl_lab.experiments import cifar
from mrl_lab.lab.plots import curves_table
from mrl_lab.runtime.budget import BUDGETS, get_budget


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", choices=BUDGETS, default=None, help="default: $MRL_LAB_BUDGET or auto")
    parser.add_argument("--all", action="store_true", help="train every model of the notebook, not only MRL")
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument(
        "--processes", type=int, default=1, help="on a CPU, models trained side by side, one core each (default 1)"
    )
    args = parser.parse_args()

    budget = get_budget(args.budget)
    settings = cifar.settings(budget)
    device = (
        torch.cuda.get_device_name(0) if budget.device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    )
    print(f"{budget}\ndevice: {device}; torch {torch.__version__}; Python {platform.python_version()}")

    start = time.perf_counter()
    data = cifar.load_data(settings)
    seconds = time.perf_counter() - start
    print(f"data: {len(data.train)} train / {len(data.test)} test images from {data.train.source} ({seconds:.1f} s)")

    chosen = cifar.methods(settings) if args.all else ["MRL"]
    started = time.perf_counter()
    models = cifar.train_all(settings, data, only=chosen, device=budget.device, retrain=True, processes=args.processes)
    training_seconds = time.perf_counter() - started
    print(f"training: {training_seconds:.1f} s wall for {len(chosen)} models, {args.processes} at a time")
    timing = {}
    for method, (_, meta) in models.items():
        per_epoch = meta["seconds"] / settings.epochs
        timing[method] = dict(seconds=meta["seconds"], images_per_s=meta["examples_per_s"], seconds_per_epoch=per_epoch)
        print(f"{method:7s} {meta['examples_per_s']:5.0f} images/s {per_epoch:6.1f} s/epoch {meta['seconds']:6.1f} s")

    heads = table(
        row(method, d, "head accuracy", right, interval=True)
        for method, (model, _) in models.items()
        for d, right in cifar.heads_correct(model, data.test.images, data.test.labels).items()
    )
    head, head_spans = curves(heads, "head accuracy"), spans(heads, "head accuracy")
    print(f"\ntrained-head test accuracy in % on {len(data.test):,} images [95 % bootstrap interval]:")
    print(curves_table(head, head_spans).to_string())
    config = dict(dataclasses.asdict(settings), dims=settings.dims, num_classes=settings.num_classes)
    result = dict(budget=budget.name, device=device, data=data.train.source, config=config, timing=timing, head=head)
    result.update(training_seconds=training_seconds, processes=args.processes, head_interval=head_spans)
    if args.all:
        results = cifar.evaluate(settings, data, models)
        for kind, metric in (("head", "head accuracy"), ("knn", "1-NN accuracy")):
            what = {"head": "trained classifiers (with PCA + linear)", "knn": "1-NN, centred cosine"}[kind]
            print(f"\n{what}: test accuracy in % [95 % bootstrap interval]:")
            print(curves_table(curves(results, metric), spans(results, metric)).to_string())
            result[f"evaluate_{kind}"], result[f"evaluate_{kind}_interval"] = (
                curves(results, metric),
                spans(results, metric),
            )
    result["wall_seconds"] = time.perf_counter() - start
    print(f"\nwall time, data to final table: {result['wall_seconds']:.1f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1, default=str)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
