"""Benchmark adaptive retrieval: funnel search with MRL prefixes vs exact full-width search.

    python benchmarks/adaptive_retrieval.py --budget cpu                 # databases of 10k, 100k and 1M vectors
    python benchmarks/adaptive_retrieval.py --sizes 10000 --json out.json

The vectors are real: the AG News descriptions embedded by the text notebook's MRL model (trained
here if it is not in the cache). Where a database is larger than the real corpus, the remaining
rows are drawn from a Gaussian with the real vectors' mean and covariance
(``mrl_lab.retrieval.synthetic_like``); the queries are always real test headlines. For each
database size it prints, per funnel, the wall-clock time of one batch of queries, the speed-up over
exact full-width search on the same machine and the relative recall@10 (the share of the exact
top 10 returned), and the fastest funnel with relative recall >= 0.99.
"""

from __future__ import annotations

import argparse
import json
import platform

import torch

import mrl_lab
from mrl_lab import text
from mrl_lab.retrieval import AdaptiveIndex, measure, synthetic_like

COARSE = [8, 16, 32, 64]
SHORTLISTS = [50, 100, 200, 400, 800, 1600]


def configs(full: int) -> list:
    """Two-stage funnels (coarse size x shortlist) and a few multi-stage ones, as in the paper."""
    two = [[(d, n)] for d in COARSE for n in SHORTLISTS]
    funnels = [[(8, 1600), (32, 400), (64, 100)], [(16, 800), (64, 200)], [(8, 800), (16, 400), (32, 100)]]
    return two + funnels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", choices=mrl_lab.budget.BUDGETS, default=None, help="which text model to use")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000], help="database rows")
    parser.add_argument("--queries", type=int, default=256, help="queries per batch (real test headlines)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args()

    budget = mrl_lab.get_budget(args.budget)
    print(f"{budget}\ndevice: CPU ({torch.get_num_threads()} threads), {platform.processor() or platform.machine()}; "
          f"torch {torch.__version__}")  # fmt: skip
    news = mrl_lab.load_ag_news()
    train_set = text.training_pairs(news, budget)
    config = text.experiment_config(budget, train_rows=len(train_set))
    tok = text.tokenizer(config, train_set)
    encoder = text.train_models(config, train_set, tok, device="cpu", only=["MRL"])["MRL"][0]
    corpus = train_set.descriptions + news.val.descriptions + news.test.descriptions
    real = text.embed(encoder, tok, corpus)
    queries = text.embed(encoder, tok, news.test.titles[: args.queries])
    print(f"real corpus: {len(real):,} AG News descriptions ({news.note}); {len(queries)} real queries")

    results = []
    for n in args.sizes:
        extra = max(0, n - len(real))
        database = real[:n] if not extra else torch.cat([real, synthetic_like(real, extra, seed=0)])
        index = AdaptiveIndex(database, coarse_dims=COARSE)
        rows = measure(index, queries, configs(real.shape[1]), k=10)
        print(f"\n{n:,} vectors ({min(n, len(real)):,} real, {extra:,} synthetic), D = {real.shape[1]}:")
        print(f"{'stages (size, shortlist)':40s} {'seconds':>8s} {'speed-up':>9s} {'rel. recall@10':>15s}")
        for r in rows:
            name = " -> ".join(f"({d}, {m})" for d, m in r["stages"]) or "exact, full width"
            print(f"{name:40s} {r['seconds']:8.3f} {r['speedup']:8.1f}x {r['relative_recall']:15.3f}")
        good = [r for r in rows[1:] if r["relative_recall"] >= 0.99]
        best = max(good, key=lambda r: r["speedup"]) if good else None
        if best:
            print(f"fastest at relative recall@10 >= 0.99: {best['stages']}, {best['speedup']:.1f}x")
        else:
            print("no funnel reached relative recall@10 >= 0.99")
        results.append(dict(rows=n, real=min(n, len(real)), synthetic=extra, table=rows, best=best))
        del index, database
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(budget=budget.name, queries=len(queries), results=results), f, indent=1)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
