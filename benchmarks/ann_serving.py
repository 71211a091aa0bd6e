"""Benchmark serving a Matryoshka prefix from a FAISS index, one query at a time, against exact search.

    python benchmarks/ann_serving.py --budget smoke              # 10k rows: seconds
    python benchmarks/ann_serving.py --budget cpu --sizes 100000 --json $OUT/ann.json

Vectors: notebook 05's fine-tunes of all-MiniLM-L6-v2 (trained here if not cached), MRL and, as the
control, normal, plus the normal vectors rotated by PCA fitted on the corpus. The corpus is every
AG News description of the offline copy (7,600); where a database is larger, the other rows are
drawn around the real vectors' k-means centres (``mrl_lab.ann.clustered_like``: topics kept, no
copies). Queries are real held-out headlines. For each model and database size it prints, per
index: median and p95 latency of one query alone, batch throughput, build time, index size and
relative recall@10 (the share of exact full-width search's top 10 returned).
"""

from __future__ import annotations

import argparse
import json
import platform
from itertools import groupby

import torch

import mrl_lab
from mrl_lab import pretrained
from mrl_lab.ann import PrefixIndex, clustered_like, latency
from mrl_lab.metrics import topk_overlap

SIZES = {"smoke": [10_000], "cpu": [100_000, 1_000_000], "gpu": [100_000, 1_000_000]}
# (index kind, prefix size or None for full width, shortlist, effort): AdANNS-style prefix indexes with
# re-ranking, and the same index types at full width (the rigid baseline).
CONFIGS = [("hnsw", d, n, n) for d in (32, 64) for n in (50, 100, 200, 400)]
CONFIGS += [("hnsw", None, 10, e) for e in (16, 32, 64, 128, 256)]
CONFIGS += [("ivf", 64, 200, p) for p in (4, 16, 64)] + [("ivf", None, 10, p) for p in (4, 16, 64)]


def vectors(budget, queries: int) -> tuple[dict, dict, str]:
    """Full-width corpus and query vectors per model: MRL, normal and normal rotated by PCA."""
    news = mrl_lab.load_ag_news()
    s = pretrained.setup(budget, news, mrl_lab.load_sts_benchmark("test"), mrl_lab.load_sts_benchmark("train"))
    corpus = news.train.descriptions + news.val.descriptions + news.test.descriptions
    tuned = pretrained.fine_tune(s, only=["MRL", "normal"], keep=("MRL", "normal"))
    db, q = {}, {}
    for name in ("MRL", "normal"):
        db[name] = pretrained.embed(tuned[name]["model"], corpus, tuned[name]["key"])
        q[name] = tuned[name]["vectors"]["titles"][:queries]
    rotate = pretrained.pca_rotation(db["normal"])
    db["normal + PCA"], q["normal + PCA"] = rotate(db["normal"]), rotate(q["normal"])
    return db, q, f"{len(corpus):,} real AG News descriptions ({news.note}); {queries} real held-out headlines"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", choices=mrl_lab.budget.BUDGETS, default=None, help="which fine-tunes and sizes")
    parser.add_argument("--sizes", type=int, nargs="+", help="database rows (default: 10k at smoke, 100k and 1M)")
    parser.add_argument("--queries", type=int, default=200, help="real queries, each searched alone")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args()

    budget = mrl_lab.get_budget(args.budget)
    import faiss

    print(f"{budget}\ndevice: CPU ({faiss.omp_get_max_threads()} FAISS threads), {platform.processor() or 'cpu'}; "
          f"faiss {faiss.__version__}, torch {torch.__version__}")  # fmt: skip
    db, queries, note = vectors(budget, args.queries)
    print(f"data: {note}")
    rows = []
    for n in args.sizes or SIZES[budget.name]:
        for model in db:
            real = db[model]
            extra = clustered_like(real, n - len(real)) if n > len(real) else real[:0]
            data, q = torch.cat([real, extra])[:n], queries[model]
            exact = PrefixIndex(data, data.shape[1], kind="flat")
            truth = exact.search(q, 10)
            base = dict(model=model, rows=n, real_rows=min(n, len(real)))
            rows.append(measure_one(exact, q, truth, base, 10, None))  # exact search: the first row, speed-up 1
            for (kind, d), settings in groupby(CONFIGS, key=lambda c: c[:2]):  # one index, several searches
                index = PrefixIndex(data, d or data.shape[1], kind=kind)
                rows += [measure_one(index, q, truth, base, shortlist, effort) for _, _, shortlist, effort in settings]
                del index
            print_table([r for r in rows if r["model"] == model and r["rows"] == n])
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(budget=budget.name, data=note, rows=rows), f, indent=1)
        print(f"wrote {args.json}")


def measure_one(index: PrefixIndex, q, truth, base: dict, shortlist: int, effort) -> dict:
    """One search setting of a built index: relative recall@10 and latency."""
    found = index.search(q, 10, shortlist=shortlist, effort=effort)
    width = index.full.shape[1]
    name = f"{index.kind} on {index.d} dims" + (
        f", re-rank {shortlist} at full width" if index.d < width else " (full width)"
    )
    return dict(base, index=name, d=index.d, shortlist=shortlist, effort=effort, build_s=index.build_seconds,
                index_mb=index.index_bytes / 2**20, recall=topk_overlap(truth, found, 10),
                **latency(lambda x: index.search(x, 10, shortlist=shortlist, effort=effort), q))  # fmt: skip


def print_table(rows: list[dict]) -> None:
    import pandas as pd

    r = rows[0]
    print(f"\n{r['model']}: {r['rows']:,} rows ({r['real_rows']:,} real); one query at a time unless 'batch'")
    table = pd.DataFrame(rows)[["index", "effort", "recall", "median_ms", "p95_ms", "batch_qps", "build_s", "index_mb"]]
    exact_ms = rows[0]["median_ms"]
    table["speed-up"] = exact_ms / table["median_ms"]
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}" if v < 10 else f"{v:,.0f}"))


if __name__ == "__main__":
    main()
