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

import torch

from mrl_lab.data.text import load_ag_news, load_sts_benchmark
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
    news, sts = load_ag_news(), load_sts_benchmark("test")
    train_set, config, tok = text.setup(budget, news)
    print(f"data: {len(train_set)} training pairs, {len(news.test)} test pairs; {news.note}\n{tok}")

    encoders = text.train_models(config, train_set, tok, device=budget.device, retrain=True)
    timing = {}
    for method, (_, meta) in encoders.items():
        per_s = 2 * meta["examples_per_s"]
        timing[method] = dict(seconds=meta["seconds"], sentences_per_s=per_s)
        print(f"{method:7s} {per_s:7.0f} sentences/s {meta['seconds']:6.1f} s")

    results = text.evaluate(encoders, tok, train_set, news.test, sts, config)
    reference = text.tfidf_reference(train_set, news.test, sts)
    for metric, curves in results["metrics"].items():
        table = curves_table(curves).to_string(float_format=lambda a: f"{a:.3f}", na_rep="")
        print(f"\n{metric} (TF-IDF reference, {reference['width']:,} dims: {reference[metric]:.3f})\n{table}")
    wall = time.perf_counter() - start
    print(f"\nwall time, data to final tables: {wall:.1f} s")
    if args.json:
        result = dict(
            budget=budget.name, device=device, data=news.note, config=config, timing=timing,
            metrics=results["metrics"], dense_recall10=results["dense"], tfidf=reference, wall_seconds=wall,
        )  # fmt: skip
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1, default=str)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
