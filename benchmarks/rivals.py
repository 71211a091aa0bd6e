"""MRL against its sparse rival, CSR, at equal bytes per stored vector (issue 39, first part).

    python benchmarks/rivals.py --budget cpu
    python benchmarks/rivals.py --budget smoke --json $OUT/rivals.json
    python benchmarks/rivals.py --budget cpu --set scale=20 --set steps=1000   # try CSR settings

Every method starts from all-MiniLM-L6-v2 on notebook 03's data: the published model cut (nothing
trained), PCA fitted on the news corpus searched, the supervised Matryoshka-Adaptor and CSR (both trained
on the frozen vectors of the same training pairs), and notebook 03's MRL fine-tune (the whole encoder
trained). CSR at each k of its settings costs ``k`` float32 values and ``k`` int16 indices
(:func:`mrl_lab.experiments.csr.code_bytes`); each dense method is measured at the prefix of the same bytes
in float32 (``d = bytes / 4``) and at the nesting sizes. Prints recall@10 (held-out titles finding their
description) and STS-B Spearman per method and size, then CSR's lead over each dense method at equal
bytes with a paired 95 % interval, the latency of one query at each equal byte budget (CSR's codes as a
scipy sparse matrix product, the MRL prefix in a FAISS flat index: exact search for both, 3 rounds, a speed
verdict only where the rounds do not overlap), and each method's training time on this machine. ``--html``
writes the charts.
"""

from __future__ import annotations

import argparse
import ast
import json
import platform
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse
import torch
import torch.nn.functional as F

from mrl_lab.core.nesting import truncate
from mrl_lab.data.text import load_ag_news, load_sts_benchmark
from mrl_lab.evaluation.baselines import pca_rotation
from mrl_lab.evaluation.intervals import lead
from mrl_lab.evaluation.results import items, row, table, verdict
from mrl_lab.evaluation.timing import speed_words
from mrl_lab.experiments import adaptor, csr, pretrained
from mrl_lab.experiments.check import rescored, stored_search
from mrl_lab.lab.plots import plot_vs_size
from mrl_lab.models.sentence_encoder import load_encoder
from mrl_lab.runtime.budget import BUDGETS, get_budget
from mrl_lab.runtime.cache import save_atomic
from mrl_lab.serving.ann import latency

# the quantized prefixes, and how many dims they store in the bytes of one float32 dim
QUANTIZED = {"fine-tuned MRL, int8 + re-score": 4, "fine-tuned MRL, binary + re-score": 32}


def quantized(vectors: dict, method: str, budgets: list[int], shortlist: int = 100) -> pd.DataFrame:
    """recall@10 of ``method``'s prefix stored in int8 (``d`` = bytes) and in binary (``d`` = 8 x bytes, up to
    the full width), each found in those codes and then re-scored: the shortlist's full float32 vectors
    (kept beside the index, not in it) re-rank its top ``shortlist`` (sentence-transformers' quantization,
    as :func:`mrl_lab.experiments.check.stored_search` stores it)."""
    titles, descriptions = vectors["titles"], vectors["descriptions"]
    own, rows, sizes = torch.arange(len(titles)), [], []
    for b in budgets:
        for precision, d in (("int8", b), ("binary", 8 * b)):
            if d > titles.shape[1]:
                continue
            q, c = truncate(titles, d), truncate(descriptions, d)
            top = rescored(stored_search(q, c, precision, shortlist), titles, descriptions, 10)
            hits = (top == own[:, None]).any(dim=1)
            rows.append(row(f"{method}, {precision} + re-score", d, "recall@10", hits, interval=True))
            sizes.append(b)
    out = table(rows)
    out["bytes"] = sizes
    return out


def per_query_ms(search, queries) -> dict:
    """One query searched alone, every query in turn, 3 rounds (:func:`mrl_lab.serving.ann.latency`), as
    :func:`mrl_lab.evaluation.timing.speed_words` compares it: ``{"median", "low", "high"}`` in ms."""
    t = latency(search, queries, repeats=3)
    return {"median": t["median_ms"], "low": t["low_ms"], "high": t["high_ms"]}


def latencies(model, base: dict, dense: dict, equal: dict) -> list[str]:
    """One query at a time against the held-out descriptions: CSR's codes as a scipy sparse matrix (each query's
    code times the corpus's, ``k`` non-zeros a row), each dense method's prefix of the same bytes in a FAISS flat
    inner-product index; lines with a speed verdict from the rounds' spread."""
    import faiss

    lines = []
    for k, d in equal.items():
        corpus = scipy.sparse.csr_matrix(F.normalize(csr.encode(model, base["descriptions"], k), dim=1).numpy())
        queries = F.normalize(csr.encode(model, base["titles"], k), dim=1).numpy()
        sparse_ms = per_query_ms(lambda q, c=corpus: top10_sparse(c, q), queries)
        prefix = truncate(dense["fine-tuned MRL"]["descriptions"], d).numpy()
        index = faiss.IndexFlatIP(d)
        index.add(prefix)
        titles = truncate(dense["fine-tuned MRL"]["titles"], d).numpy()
        dense_ms = per_query_ms(lambda q, ix=index: ix.search(q, 10), titles)
        lines.append(f"  k={k} ({4 * d} bytes), {corpus.shape[0]:,} rows: CSR (scipy sparse product) "
                     f"{sparse_ms['median']:.3f} ms, MRL prefix at {d} dims (FAISS flat) {dense_ms['median']:.3f} ms: "
                     f"CSR {speed_words(sparse_ms, dense_ms)}")  # fmt: skip
    return lines


def top10_sparse(corpus, query):
    """The 10 best corpus rows for one dense query code: a sparse matrix-vector product, then a partial sort."""
    scores = corpus @ query[0]
    return np.argpartition(-scores, 10)[:10]


def write_charts(results: pd.DataFrame, path: str) -> None:
    """recall@10 and STS-B Spearman against bytes per stored vector, one line per method, with 95 % intervals
    where the results carry them (recall@10), in one HTML file."""
    parts = []
    for metric in ("recall@10", "STS-B Spearman"):
        chosen = results[results["metric"] == metric]
        lines = {m: dict(zip(g["bytes"], g["value"])) for m, g in chosen.groupby("method", sort=False)}
        bars = {m: dict(zip(g["bytes"], zip(g["low"], g["high"]))) for m, g in chosen.groupby("method", sort=False)
                if g["low"].notna().all()}  # fmt: skip
        fig = plot_vs_size(lines, metric=metric, intervals=bars or None, percent=metric == "recall@10",
                           axis="bytes per stored vector (log2 scale)",
                           title=f"{metric} against bytes per vector")  # fmt: skip
        parts.append(fig.to_html(full_html=False, include_plotlyjs=not parts))  # plotly.js once, inline: offline
    save_atomic(Path(path), lambda f: f.write(("<html><body>" + "".join(parts) + "</body></html>").encode()))
    print(f"charts: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", choices=BUDGETS, default=None, help="default: $MRL_LAB_BUDGET or auto")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="change one setting of csr.SETTINGS, e.g. scale=20 (repeatable)")  # fmt: skip
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--html", help="also write the charts (quality against bytes per vector) to this HTML file")
    args = parser.parse_args()
    budget = get_budget(args.budget)
    print(f"{budget}\ntorch {torch.__version__}, {torch.get_num_threads()} threads; Python {platform.python_version()}")

    changes = {key: ast.literal_eval(value) for key, value in (item.split("=", 1) for item in args.set)}
    settings, sparse = pretrained.settings(budget), csr.settings(budget, **changes)
    print(f"CSR settings: {sparse}")
    data = pretrained.load_data(settings, load_ag_news(), load_sts_benchmark("test"), load_sts_benchmark("train"))
    frozen = load_encoder(data.folder, settings.max_tokens)
    key = pretrained.base_key(settings, data)
    base = pretrained.embed_all(frozen, pretrained.eval_texts(data), key)
    train_pairs = pretrained.embed_all(frozen, {"q": data.train.titles, "d": data.train.descriptions}, key)
    del frozen

    seconds = {}
    started = time.perf_counter()
    rotate = pca_rotation(base["descriptions"])
    seconds["PCA fitted on the news corpus"] = time.perf_counter() - started
    started = time.perf_counter()
    fitted = adaptor.train_all(adaptor.settings(budget), adaptor.Data(base["descriptions"], train_pairs["q"],
                                                                      train_pairs["d"]))  # fmt: skip
    seconds["adaptor, supervised (both stages)"] = time.perf_counter() - started
    model, record = csr.train(sparse, csr.Data(train_pairs["q"], train_pairs["d"]))
    seconds["CSR" + (" (cached: its training time then)" if record["cached"] else "")] = record["seconds"]
    tuned = pretrained.train_all(settings, data, only=["MRL"])["MRL"]
    seconds["fine-tuned MRL (cached: its training time then)" if tuned["meta"]["cached"] else "fine-tuned MRL"] = tuned[
        "meta"
    ]["seconds"]

    dense = {
        "base, cut": base,
        "PCA fitted on the news corpus": {part: rotate(z) for part, z in base.items()},
        "adaptor, supervised": {part: adaptor.adapt(fitted["supervised"], z) for part, z in base.items()},
        "fine-tuned MRL": tuned["vectors"],
    }
    equal = {k: csr.code_bytes(k, model.hidden_dim) // 4 for k in sparse.ks}  # CSR's k -> the prefix of its bytes
    sizes = sorted(set(pretrained.measured_sizes(settings)) | set(equal.values()))
    results = pretrained.evaluate(settings, data, dense, sizes)
    results["bytes"] = results["size"] * 4
    results = pd.concat([results, csr.evaluate(sparse, model, base, data.sts.scores),
                         quantized(tuned["vectors"], "fine-tuned MRL", [4 * d for d in equal.values()])],
                        ignore_index=True)  # fmt: skip

    for metric in ("recall@10", "STS-B Spearman"):
        shown = results[results["metric"] == metric].pivot_table(index=["method"], columns="bytes", values="value")
        print(f"\n{metric} by bytes per stored vector (dense: float32 prefix, d = bytes / 4; CSR: k = bytes / 6)")
        print(shown.round(3).to_string(na_rep=""))
    print("\nCSR minus each dense method at equal bytes (paired 95 % intervals):")
    leads = []
    for metric, gold in (("recall@10", None), ("STS-B Spearman", data.sts.scores)):
        sparse_items = items(results, metric, "CSR")
        for k, d in equal.items():
            for method in list(dense) + (list(QUANTIZED) if gold is None else []):  # quantized: recall only
                dims = d * QUANTIZED.get(method, 1)  # the dims that fit in 4 x d bytes at the method's precision
                there = items(results, metric, method)
                if dims not in there:
                    continue
                x, low, high = lead(sparse_items[k], there[dims], gold=gold)
                leads.append(dict(metric=metric, k=k, bytes=4 * d, method=method, dims=dims, lead=x, low=low,
                                  high=high, verdict=verdict(low, high)))  # fmt: skip
                print(f"  {metric}, CSR k={k} vs {method} at {dims} dims ({4 * d} bytes): {100 * x:+.1f} pt "
                      f"[{100 * low:+.1f}, {100 * high:+.1f}]: CSR {verdict(low, high)}")  # fmt: skip
    print(f"\nlatency of one query, {torch.get_num_threads()} threads (median of 3 rounds; verdict from their spread):")
    print("\n".join(latencies(model, base, dense, equal)))
    print("\ntraining time on this machine:")
    for name, s in seconds.items():
        print(f"  {name:50s} {s:8.1f} s")
    if args.html:
        write_charts(results, args.html)
    if args.json:
        out = {"budget": budget.name, "csr_settings": asdict(sparse),
               "results": results.drop(columns=["items"]).to_dict(orient="records"), "leads": leads,
               "seconds": seconds}  # fmt: skip
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1, default=str)


if __name__ == "__main__":
    main()
