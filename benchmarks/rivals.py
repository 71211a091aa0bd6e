"""MRL against its newest rivals (issue 39): CSR and quantized prefixes at equal bytes per stored vector, and
2D Matryoshka (cutting the encoder's depth as well as the vector's width).

    python benchmarks/rivals.py --budget cpu
    python benchmarks/rivals.py --budget smoke --json $OUT/rivals.json
    python benchmarks/rivals.py --budget cpu --set scale=20 --set steps=1000   # try CSR settings
    python benchmarks/rivals.py --budget cpu --only layers                     # 2D Matryoshka alone

Equal bytes (:mod:`mrl_lab.experiments.rivals`): every method starts from all-MiniLM-L6-v2 on notebook 03's
data: the published model cut (nothing trained), PCA fitted on the news corpus searched, the supervised
Matryoshka-Adaptor and CSR (both trained on the frozen vectors of the same training pairs), and notebook 03's
MRL fine-tune, also in int8 and binary with a full-precision re-score. CSR at each k costs ``k`` float32 values
and ``k`` int16 indices; each dense method is measured at the prefix of the same bytes in float32 (``d = bytes
/ 4``). Prints recall@10 and STS-B Spearman per method and bytes, CSR's lead over each at equal bytes with a
paired 95 % interval, the latency of one query (CSR as a scipy sparse product, the prefix in a FAISS flat
index, 3 rounds, a verdict only where the rounds do not overlap) and each method's training time.

Layers (:mod:`mrl_lab.experiments.layers`): the MRL and the 2D Matryoshka fine-tunes (same pairs, steps and
seed; only the layer loss differs) and the published model, each at every layer count x size, and the
encoding time of one text at each layer count. ``--html`` writes the charts.
"""

from __future__ import annotations

import argparse
import ast
import json
import platform
from dataclasses import asdict
from pathlib import Path

import pandas as pd
import torch

from mrl_lab.data.text import load_ag_news, load_sts_benchmark
from mrl_lab.experiments import csr, layers, pretrained, rivals
from mrl_lab.lab.plots import plot_layers, plot_vs_bytes
from mrl_lab.models.sentence_encoder import load_encoder
from mrl_lab.runtime.budget import BUDGETS, get_budget
from mrl_lab.runtime.cache import save_atomic


def equal_bytes(budget, changes: dict) -> dict:
    """Print and return the equal-bytes comparison: quality by bytes, CSR's leads, latency, training time."""
    settings, sparse = pretrained.settings(budget), csr.settings(budget, **changes)
    print(f"CSR settings: {sparse}")
    data = pretrained.load_data(settings, load_ag_news(), load_sts_benchmark("test"), load_sts_benchmark("train"))
    base, pairs = rivals.frozen_vectors(settings, data)
    dense, seconds = rivals.dense_methods(budget, settings, data, base, pairs)
    model, record = csr.train(sparse, csr.Data(pairs["q"], pairs["d"]))
    seconds["CSR"] = record["seconds"]
    results = rivals.compare(budget, settings, data, sparse, model, base, dense)
    equal = rivals.equal_prefixes(sparse, model)
    for metric in ("recall@10", "STS-B Spearman"):
        shown = results[results["metric"] == metric].pivot_table(index=["method"], columns="bytes", values="value")
        print(f"\n{metric} by bytes per stored vector (dense: float32 prefix, d = bytes / 4; CSR: k = bytes / 6)")
        print(shown.round(3).to_string(na_rep=""))
    leads = rivals.csr_leads(results, equal, list(dense), data.sts.scores)
    print("\nCSR minus each method at equal bytes (paired 95 % intervals):")
    for r in leads.itertuples():
        print(f"  {r.metric}, CSR k={r.k} vs {r.method} at {r.dims} dims ({r.bytes} bytes): {100 * r.lead:+.1f} pt "
              f"[{100 * r.low:+.1f}, {100 * r.high:+.1f}]: CSR {r.verdict}")  # fmt: skip
    timing = rivals.latencies(model, base, dense[rivals.MRL], equal)
    print(f"\nlatency of one query, {torch.get_num_threads()} threads (median of 3 rounds; verdict from their spread):")
    for r in timing.itertuples():
        print(f"  k={r.k} ({r.bytes} bytes), {r.rows:,} rows: CSR (scipy sparse product) {r.csr_ms:.3f} ms, "
              f"MRL prefix at {r.prefix_dims} dims (FAISS flat) {r.prefix_ms:.3f} ms: CSR {r.csr_is}")  # fmt: skip
    print("\ntraining time on this machine (a cached model: the time it took when trained):")
    for name, s in seconds.items():
        print(f"  {name:50s} {s:8.1f} s")
    return {"csr_settings": asdict(sparse), "results": results, "leads": leads, "latency": timing, "seconds": seconds}


def depth_and_width(budget) -> dict:
    """Print and return 2D Matryoshka against MRL and the published model at every layer count x size."""
    s = layers.settings(budget)
    print(f"\n2D Matryoshka settings: {s}")
    data = layers.load_data(s, load_ag_news(), load_sts_benchmark("test"), load_sts_benchmark("train"))
    vectors, records = layers.vectors_all(s, data)
    results = layers.evaluate(s, data, vectors)
    for metric in ("recall@10", "STS-B Spearman"):
        shown = results[results["metric"] == metric].pivot_table(index=["method", "layers"], columns="size",
                                                                 values="value")  # fmt: skip
        counts = f"{len(data.test):,} held-out titles; {len(data.sts):,} STS-B pairs"
        print(f"\n{metric} by layers run x dims kept ({counts})")
        print(shown.round(3).to_string())
    gaps = layers.leads(results, "2D MRL", "MRL", data.sts.scores)
    print("\n2D MRL minus MRL (paired 95 % intervals):")
    for r in gaps.itertuples():
        print(f"  {r.metric}, {r.layers} layers, {r.size} dims: {100 * r.lead:+.1f} pt [{100 * r.low:+.1f}, "
              f"{100 * r.high:+.1f}]: 2D MRL {r.verdict}")  # fmt: skip
    published = load_encoder(data.folder, s.max_tokens)
    timing = layers.encoding_ms(published, data.test.titles[: s.timing_texts], s.layers)
    threads = torch.get_num_threads()
    print(f"\nencoding time per text ({s.timing_texts} titles, 32 at a time, {threads} threads; median of 3, ms):")
    print(timing.round(3).to_string(index=False))
    seconds = {method: r["seconds"] for method, r in records.items()}
    print("training time on this machine:", ", ".join(f"{m} {x:.1f} s" for m, x in seconds.items()))
    return {"settings": asdict(s), "results": results, "leads": gaps, "encoding_ms": timing, "seconds": seconds}


def write_charts(found: dict, path: str) -> None:
    """The charts of what ran, in one HTML file (plotly.js once, inline: it opens offline)."""
    figures = []
    if "bytes" in found:
        figures += [plot_vs_bytes(found["bytes"]["results"], m) for m in ("recall@10", "STS-B Spearman")]
    if "layers" in found:
        figures += [plot_layers(found["layers"]["results"], m, "2D MRL", reference="MRL")
                    for m in ("recall@10", "STS-B Spearman")]  # fmt: skip
    parts = [fig.to_html(full_html=False, include_plotlyjs=i == 0) for i, fig in enumerate(figures)]
    save_atomic(Path(path), lambda f: f.write(("<html><body>" + "".join(parts) + "</body></html>").encode()))
    print(f"charts: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", choices=BUDGETS, default=None, help="default: $MRL_LAB_BUDGET or auto")
    parser.add_argument("--only", choices=("bytes", "layers"), help="run one part: equal bytes, or 2D Matryoshka")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="change one setting of csr.SETTINGS, e.g. scale=20 (repeatable)")  # fmt: skip
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--html", help="also write the charts to this HTML file")
    args = parser.parse_args()
    budget = get_budget(args.budget)
    print(f"{budget}\ntorch {torch.__version__}, {torch.get_num_threads()} threads; Python {platform.python_version()}")
    changes = {key: ast.literal_eval(value) for key, value in (item.split("=", 1) for item in args.set)}
    found = {}
    if args.only in (None, "bytes"):
        found["bytes"] = equal_bytes(budget, changes)
    if args.only in (None, "layers"):
        found["layers"] = depth_and_width(budget)
    if args.html:
        write_charts(found, args.html)
    if args.json:
        out = {"budget": budget.name, **{part: {k: plain(v) for k, v in d.items()} for part, d in found.items()}}
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1, default=str)


def plain(x):
    """A results table as JSON records (without the per-item results); anything else as it is."""
    return x.drop(columns=["items"], errors="ignore").to_dict(orient="records") if isinstance(x, pd.DataFrame) else x


if __name__ == "__main__":
    main()
