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
import json
import platform
import time

import torch

from mrl_lab.evaluation.intervals import interval_curves
from mrl_lab.experiments import cifar
from mrl_lab.lab.plots import curves_table
from mrl_lab.runtime.budget import BUDGETS, get_budget


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", choices=BUDGETS, default=None, help="default: $MRL_LAB_BUDGET or auto")
    parser.add_argument("--all", action="store_true", help="train every model of the notebook, not only MRL")
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument(
        "--processes", type=int, default=1, help="on a CPU, models trained side by side, one process each (default 1)"
    )
    args = parser.parse_args()

    budget = get_budget(args.budget)
    config = cifar.experiment_config(budget)
    if not args.all:
        config["per_size"] = []
    device = (
        torch.cuda.get_device_name(0) if budget.device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    )
    print(f"{budget}\ndevice: {device}; torch {torch.__version__}; Python {platform.python_version()}")

    start = time.perf_counter()
    train_set, test_set = cifar.load_data(config, budget)
    seconds = time.perf_counter() - start
    print(f"data: {len(train_set)} train / {len(test_set)} test images from {train_set.source} ({seconds:.1f} s)")

    chosen = cifar.methods(config) if args.all else ["MRL"]
    started = time.perf_counter()
    config_models = cifar.train_models(
        config, train_set, device=budget.device, retrain=True, only=chosen, processes=args.processes
    )
    training_seconds = time.perf_counter() - started
    print(f"training: {training_seconds:.1f} s wall for {len(chosen)} models, {args.processes} at a time")
    timing = {}
    for method, (_, meta) in config_models.items():
        per_epoch = meta["seconds"] / config["epochs"]
        timing[method] = dict(seconds=meta["seconds"], images_per_s=meta["examples_per_s"], seconds_per_epoch=per_epoch)
        print(f"{method:7s} {meta['examples_per_s']:5.0f} images/s {per_epoch:6.1f} s/epoch {meta['seconds']:6.1f} s")

    heads, correct = {}, {}
    for method, (model, _) in config_models.items():
        correct[method] = cifar.heads_correct(model, test_set.images, test_set.labels)
        heads[method] = {d: c.float().mean().item() for d, c in correct[method].items()}
    spans = interval_curves(correct)
    print(f"\ntrained-head test accuracy in % on {len(test_set):,} images [95 % bootstrap interval]:")
    print(curves_table(heads, spans).to_string())
    result = dict(budget=budget.name, device=device, data=train_set.source, config=config, timing=timing, head=heads)
    result.update(training_seconds=training_seconds, processes=args.processes, head_interval=spans)
    if args.all:
        evaluation = cifar.evaluate(config_models, train_set, test_set, config)
        for kind in ("head", "knn"):
            spans = interval_curves(evaluation["correct"][kind])
            what = {"head": "trained classifiers (with PCA + linear)", "knn": "1-NN, centred cosine"}[kind]
            print(f"\n{what}: test accuracy in % [95 % bootstrap interval]:")
            print(curves_table(evaluation[kind], spans).to_string())
            result[f"evaluate_{kind}"], result[f"evaluate_{kind}_interval"] = evaluation[kind], spans
    result["wall_seconds"] = time.perf_counter() - start
    print(f"\nwall time, data to final table: {result['wall_seconds']:.1f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1, default=str)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
