"""Benchmark the text experiment: training speed and every metric at every nesting size.

    python benchmarks/text.py --budget cpu            # normal, MRL and the budget's per-size models
    python benchmarks/text.py --budget smoke --json results.json

Always trains from scratch (and refreshes the notebook's model cache). Prints sentences/s (title
and description pairs per second, two texts each), wall time and one table per metric, and writes
the same as JSON with --json. Offline, AG News is a split of its 7,600-row test file: the output
says which split was used.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import asdict

import torch

from mrl_lab.data.text import load_ag_news, load_sts_benchmark
from mrl_lab.evaluation.results import curves
from mrl_lab.experiments import text
from mrl_lab.lab.plots import curves_table
from mrl_lab.runtime.budget import BUDGETS, get_budget


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", choices=BUDGETS, default=None, help="default: $MRL_LAB_BUDGET or auto")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args()

    budget = get_budget(args.budget)
    device = (
        torch.cuda.get_device_name(0) if budget.device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    )
    print(f"{budget}\ndevice: {device}; torch {torch.__version__}; Python {platform.python_version()}")

    start = time.perf_counter()
    settings = text.settings(budget)
    data = text.load_data(settings, load_ag_news(), load_sts_benchmark("test"))
    print(f"data: {len(data.train)} training pairs, {len(data.test)} test pairs; {data.note}\n{data.tok}")

    encoders = text.train_all(settings, data, device=budget.device, retrain=True)
    timing = {}
    for method, (_, meta) in encoders.items():
        per_s = 2 * meta["examples_per_s"]
        timing[method] = dict(seconds=meta["seconds"], sentences_per_s=per_s)
        print(f"{method:7s} {per_s:7.0f} sentences/s {meta['seconds']:6.1f} s")

    results = text.evaluate(settings, data, encoders)
    reference = text.tfidf_reference(data.train, data.test, data.sts)
    metrics = [m for m in dict.fromkeys(results["metric"]) if m != "recall@10, every size"]
    for metric in metrics:
        shown = curves_table(curves(results, metric)).to_string(float_format=lambda a: f"{a:.3f}", na_rep="")
        print(f"\n{metric} (TF-IDF reference, {reference['width']:,} dims: {reference[metric]:.3f})\n{shown}")
    wall = time.perf_counter() - start
    print(f"\nwall time, data to final tables: {wall:.1f} s")
    if args.json:
        result = dict(
            budget=budget.name, device=device, data=data.note, settings=asdict(settings), timing=timing,
            metrics={m: curves(results, m) for m in metrics}, dense_recall10=curves(results, "recall@10, every size"),
            tfidf=reference, wall_seconds=wall,
        )  # fmt: skip
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1, default=str)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
