"""Benchmark adaptive retrieval as it is served: a Matryoshka prefix in an ANN index, one query at a time.

    python benchmarks/adaptive_retrieval.py --budget smoke                # the real rows, then 10k: seconds
    python benchmarks/adaptive_retrieval.py --budget cpu --json $OUT/adaptive.json   # + 100k and 1M rows
    python benchmarks/adaptive_retrieval.py --budget cpu --sizes 1000000 --kinds ivf --repeats 3   # IVF alone
    python benchmarks/adaptive_retrieval.py --budget gpu --gpu-only --save-vectors vec   # on a GPU machine, then
    python benchmarks/adaptive_retrieval.py --budget cpu --vectors vec   # serve the gpu fine-tunes on this CPU

Vectors: notebook 03's fine-tunes of all-MiniLM-L6-v2 (trained here if not cached), MRL and, as the
control, normal, plus the normal vectors centred and rotated by PCA fitted on the corpus. The corpus is every
AG News description of the offline copy (7,600); where a database is larger, the other rows are
drawn around the real vectors' k-means centres (``clustered_like``: topics kept, no
copies, about as many local dimensions as the real rows: printed). Queries are real held-out
headlines. The first database is the real rows alone.

Per model and database size it measures exact full-width search (FAISS ``IndexFlatIP``: the
baseline), the lab's torch brute-force funnel (``AdaptiveIndex``: the readable
reference), HNSW and IVF indexes built on a prefix with the shortlist re-ranked at full width
(AdANNS-style) and the same index types built at full width (the rigid baseline). For each: the
median and p95 latency of one query alone, batch throughput, build time, index size and relative
recall@10 (the share of exact full-width search's top 10 returned). Then the fastest prefix index
at relative recall >= 0.95 and >= 0.99, against exact search and the same index type at full width.

With CUDA it adds the GPU rows: the torch brute force on the GPU, exact at full width and the
funnel on a 64-dim prefix (shortlist 400, re-ranked at full width), at each size
(``--gpu-only``: those alone, without FAISS).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from mrl_lab.data.text import load_ag_news, load_sts_benchmark
from mrl_lab.evaluation.metrics import topk_overlap
from mrl_lab.experiments import pretrained
from mrl_lab.runtime.budget import BUDGETS, get_budget
from mrl_lab.runtime.cache import save_atomic
from mrl_lab.serving.ann import SERVING, clustered_like, describe_best, latency, local_dimension, serving_table
from mrl_lab.serving.funnel import AdaptiveIndex

SIZES = {"smoke": [10_000], "cpu": [100_000, 1_000_000], "gpu": [100_000, 1_000_000]}
CORPUS_ROWS = {"smoke": 1_000, "cpu": None, "gpu": None}  # real descriptions embedded (None: all 7,600)
TARGETS = (0.95, 0.99)
MODELS = ("MRL", "normal", "normal + PCA")  # the vectors pretrained.served_vectors gives
SAVED = MODELS[:2]  # what --save-vectors stores: the PCA control is fitted again on load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", choices=BUDGETS, default=None, help="which fine-tunes and sizes")
    parser.add_argument("--sizes", type=int, nargs="+", help="database rows after the real ones (default: per budget)")
    parser.add_argument(
        "--queries", type=int, help="real queries, each searched alone (default: 200, or all that --vectors holds)"
    )
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS), help="which vectors to serve")
    parser.add_argument("--kinds", nargs="+", choices=("hnsw", "ivf"), default=["hnsw", "ivf"],
                        help="which ANN index types to build (default: both)")  # fmt: skip
    parser.add_argument("--repeats", type=int, default=3, help="rounds of timing every query (at least 3; default 3)")
    parser.add_argument("--gpu-only", action="store_true", help="only the GPU rows (needs CUDA, not FAISS)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--save-vectors", metavar="DIR", help="also save the served vectors, one file per fine-tune")
    parser.add_argument(
        "--vectors", metavar="DIR", help="serve vectors saved by --save-vectors (e.g. gpu fine-tunes, served on a CPU)"
    )
    args = parser.parse_args()

    budget = get_budget(args.budget)
    if args.repeats < 3:
        parser.error(f"--repeats {args.repeats}: give at least 3")
    if args.queries is not None and args.queries < 1:
        parser.error(f"--queries {args.queries}: give at least 1 (or leave it out: 200, or all that --vectors holds)")
    if args.gpu_only and not torch.cuda.is_available():
        parser.error("--gpu-only: no CUDA device here; run without it for the CPU tables")
    if not args.gpu_only:
        import faiss

        threads = f"{faiss.omp_get_max_threads()} FAISS threads, {torch.get_num_threads()} torch threads"
        print(f"device: CPU ({threads}), {platform.processor() or 'cpu'}; faiss {faiss.__version__}")
    print(f"{budget}; torch {torch.__version__}")
    if args.vectors:
        db, queries, note = load_vectors(args.vectors)
        if args.queries and args.queries > len(queries["MRL"]):
            parser.error(f"--queries {args.queries}: {args.vectors} holds {len(queries['MRL'])} queries; "
                         f"save more with --save-vectors and --queries {args.queries}")  # fmt: skip
        queries = {model: q[: args.queries] for model, q in queries.items()}  # None: all of them
        note += f"; {len(queries['MRL'])} of its queries served"
    else:
        news = load_ag_news()
        settings = pretrained.settings(budget)
        data = pretrained.load_data(settings, news, load_sts_benchmark("test"), load_sts_benchmark("train"))
        db, queries = pretrained.served_vectors(
            settings, data, news, CORPUS_ROWS[budget.name], args.queries or 200, device=budget.device
        )
        recipe = f"{len(data.train)} training pairs, " + ", ".join(
            f"{k} {getattr(settings, k)}" for k in ("epochs", "lr", "frozen_layers", "max_tokens", "start")
        )
        note = (f"{len(db['MRL']):,} real AG News descriptions ({news.note}); {len(queries['MRL'])} real held-out "
                f"headlines; 03's {budget.name} fine-tunes ({recipe}), embedded on {budget.device}")  # fmt: skip
    print(f"data: {note}")
    if args.save_vectors:
        save_vectors(args.save_vectors, db, queries, note)
    rows, sizes = [], args.sizes or SIZES[budget.name]
    for n in [] if args.gpu_only else [None] + sizes:  # None: the real rows alone
        for model in args.models:
            real = db[model]
            n_rows = n or len(real)
            data = database(real, n_rows)
            if n_rows > len(real):  # is the fill as hard to search as real data? (a fog is much harder)
                real_lid, fill_lid = local_dimension(real), local_dimension(data[len(real) : 2 * len(real)])
                print(f"\n{model}: local intrinsic dimension, real rows {real_lid:.1f}, drawn rows {fill_lid:.1f}")
            configs = [c for c in SERVING if c[0] in args.kinds]
            table = serving_table(data, queries[model], configs, model != "normal + PCA", repeats=args.repeats)
            table = [dict(r, model=model, rows=n_rows, real_rows=min(n_rows, len(real))) for r in table]
            print_table(table)
            rows += table
    if torch.cuda.is_available():  # the GPU rows: the torch brute force on the GPU
        rows += gpu_rows({m: db[m] for m in args.models}, queries, sizes)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(budget=budget.name, data=note, rows=rows), f, indent=1)
        print(f"wrote {args.json}")


def save_vectors(folder: str, db: dict, queries: dict, note: str) -> None:
    """``<folder>/MRL.pt`` and ``<folder>/normal.pt``: each fine-tune's corpus and query vectors (float32)
    and where they came from. The PCA control is fitted again when they are loaded."""
    for model in SAVED:
        path = Path(folder) / f"{model}.pt"
        saved = {"corpus": db[model].clone(), "queries": queries[model].clone(), "note": note}  # no wider storage
        save_atomic(path, lambda f, saved=saved: torch.save(saved, f))
        print(f"wrote {path}")


def load_vectors(folder: str) -> tuple[dict, dict, str]:
    """The vectors :func:`save_vectors` wrote, plus the normal ones centred and rotated by PCA fitted on them."""
    db, queries = {}, {}
    for model in SAVED:
        path = Path(folder) / f"{model}.pt"
        if not path.exists():
            raise SystemExit(f"load_vectors: {path} not found; write it first with --save-vectors {folder}")
        saved = torch.load(path, map_location="cpu", weights_only=True)
        db[model], queries[model] = saved["corpus"], saved["queries"]
    db, queries = pretrained.with_pca_control(db, queries)
    return db, queries, f"{saved['note']} (loaded from {folder})"


def database(real: torch.Tensor, n: int) -> torch.Tensor:
    """``n`` rows: the real ones first, then rows drawn around their clusters (or the first ``n`` real ones)."""
    if n <= len(real):  # clustered_like(n=0) raises
        return real[:n]
    return torch.cat([real, clustered_like(real, n - len(real))])


def print_table(rows: list[dict], title: str = "") -> None:
    import pandas as pd

    r = rows[0]
    where = f" {title}" if title else ""
    print(f"\n{r['model']}: {r['rows']:,} rows ({r['real_rows']:,} real){where}; one query at a time unless 'batch'")
    table = pd.DataFrame(rows)[["index", "effort", "recall", "median_ms", "p95_ms", "batch_qps", "build_s", "index_mb"]]
    table["effort"] = table["effort"].astype("Int64")  # efSearch or nprobe; empty for exact and torch rows
    table["speed-up"] = rows[0]["median_ms"] / table["median_ms"]
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}" if v < 10 else f"{v:,.0f}"))
    for target in TARGETS if rows[0]["kind"] == "flat" else ():  # a FAISS table: its best prefix index
        print(describe_best(rows, target))


def gpu_rows(db: dict, queries: dict, sizes: list[int], funnel: tuple[int, int] = (64, 400)) -> list[dict]:
    """The torch brute force on the GPU, per size and model: exact at full width, and the funnel
    (``funnel = (d, shortlist)``: every row scored on d dims, the shortlist re-ranked at full width),
    with its relative recall@10 against the exact search."""
    rows = []
    for n in sizes:
        for model in db:
            real = db[model]
            data, start = database(real, n), time.perf_counter()
            # the whole database in one chunk: the GPU holds every score of a batch at once
            index = AdaptiveIndex(data.cuda(), coarse_dims=[funnel[0]], chunk=n)
            torch.cuda.synchronize()
            build_s, q = time.perf_counter() - start, queries[model].cuda()
            truth = index.search(q, 10).cpu()
            for name, stages, d in (("exact, torch on the GPU", [], index.dim),
                                    (f"torch funnel on the GPU, {funnel[0]} dims, re-rank {funnel[1]}", [funnel],
                                     funnel[0])):  # fmt: skip

                def search(x, stages=stages, index=index):
                    out = index.search(x, 10, stages)
                    torch.cuda.synchronize()
                    return out

                recall = topk_overlap(truth, search(q).cpu(), 10)
                mb = n * (index.dim + (funnel[0] if stages else 0)) * 4 / 2**20  # full vectors (+ the prefix copy)
                rows.append(dict(model=model, rows=n, real_rows=min(n, len(real)), index=name, kind="torch-gpu", d=d,
                                 shortlist=stages[0][1] if stages else 10, effort=None, recall=recall,
                                 build_s=build_s, index_mb=mb, **latency(search, q)))  # fmt: skip
            print_table(rows[-2:], title=f"on {torch.cuda.get_device_name()}")
            del index, q
            torch.cuda.empty_cache()
    return rows


if __name__ == "__main__":
    main()
