"""Benchmark a Matryoshka prefix served from a vector database (Milvus) beside the same funnel in FAISS.

    python benchmarks/vector_database.py --budget smoke                       # 2,000 rows: seconds
    python benchmarks/vector_database.py --budget cpu --json $OUT/database.json   # 100,000 rows
    MRL_LAB_MILVUS_URI=http://localhost:19530 python benchmarks/vector_database.py --budget cpu   # a server

Vectors: notebook 03's MRL fine-tune of all-MiniLM-L6-v2 (trained here if not cached) on every AG News
description of the offline copy (7,600); to reach ``--rows`` the rest are drawn around the real vectors'
k-means centres (``clustered_like``, as in notebook 04). Queries are real held-out headlines.

The same unit rows go into FAISS (``PrefixIndex``) and into one Milvus collection per pattern
(``PrefixCollection``: Milvus Lite on a local file by default, or the server ``MRL_LAB_MILVUS_URI``
names), with the same HNSW settings: an index on the first ``--d`` dims with the ``--shortlist``
re-ranked at full width (in FAISS by ``IndexRefineFlat``; in Milvus by the engine, then by the client),
and an index at full width. For each: relative recall@10 against exact search, the latency of one query
alone (median of the rounds' medians, with the fastest and slowest round), build time, and the
megabytes per million rows (FAISS: its index and the re-rank's full vectors, in memory; Milvus Lite:
the collection's files on disk). It also prints this process's peak memory: Milvus Lite runs inside it.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import time
from pathlib import Path

import pandas as pd
import torch

from mrl_lab.data.text import load_ag_news, load_sts_benchmark
from mrl_lab.experiments import pretrained
from mrl_lab.runtime.budget import BUDGETS, get_budget
from mrl_lab.runtime.cache import save_atomic
from mrl_lab.serving.ann import clustered_like
from mrl_lab.serving.database import database_uri, engine_verdicts, engines_table, missing

ROWS = {"smoke": 2_000, "cpu": 100_000, "gpu": 100_000}  # rows in the database (real ones first)
CORPUS_ROWS = {"smoke": 1_000, "cpu": None, "gpu": None}  # real descriptions embedded (None: all 7,600)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", choices=BUDGETS, default=None, help="which fine-tune and database size")
    parser.add_argument("--rows", type=int, help="rows in the database (default: 2,000 at smoke, else 100,000)")
    parser.add_argument("--d", type=int, default=64, help="the prefix the index is built on (default 64)")
    parser.add_argument("--shortlist", type=int, default=200, help="candidates re-ranked at full width (default 200)")
    parser.add_argument("--queries", type=int, default=200, help="real queries, each searched alone (default 200)")
    parser.add_argument("--repeats", type=int, default=3, help="rounds of timing every query (at least 3; default 3)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args()
    budget = get_budget(args.budget)
    if problem := missing():
        parser.error(problem)
    for name in ("rows", "queries", "d", "shortlist"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name} {getattr(args, name)}: give at least 1")
    if args.repeats < 3:
        parser.error(f"--repeats {args.repeats}: give at least 3")
    rows = args.rows or ROWS[budget.name]

    settings = pretrained.settings(budget)
    news = load_ag_news()
    data = pretrained.load_data(settings, news, load_sts_benchmark("test"), load_sts_benchmark("train"))
    corpus, queries = pretrained.served_vectors(settings, data, news, CORPUS_ROWS[budget.name], args.queries)
    real, queries = corpus["MRL"], queries["MRL"]
    if rows > len(real):
        real = torch.cat([real, clustered_like(real, rows - len(real), desc="drawing rows")])
    real = real[:rows]
    print(f"{budget}; {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads")
    print(f"database: {database_uri()}; {len(real):,} rows x {real.shape[1]} dims, {len(queries)} queries")
    start = time.perf_counter()
    table = engines_table(real, queries, args.d, args.shortlist, repeats=args.repeats,
                          name=f"bench_{len(real)}")  # fmt: skip
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.precision", 3):
        print(table.drop(columns=["batch_qps"]).to_string(index=False))
    print("\n".join(engine_verdicts(table)))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # kilobytes on Linux
    took = time.perf_counter() - start
    print(f"took {took:.0f} s; peak memory of this process {peak:.2f} GB (Milvus Lite runs in it)")
    if args.json:
        out = dict(budget=budget.name, rows=len(real), queries=len(queries), d=args.d, shortlist=args.shortlist,
                   uri=database_uri(), peak_gb=peak, table=table.to_dict("records"))  # fmt: skip
        save_atomic(Path(args.json), lambda f: f.write(json.dumps(out, indent=1, default=str).encode()))


if __name__ == "__main__":
    main()
