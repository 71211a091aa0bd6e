"""Benchmark MRL from a pretrained sentence encoder (notebook 03): every method at every size.

    python benchmarks/pretrained_text.py --budget cpu
    python benchmarks/pretrained_text.py --budget gpu --json $OUT/pretrained.json
    python benchmarks/pretrained_text.py --budget cpu --set lr=2e-5 --set train_pairs=2048   # try a setting
    python benchmarks/pretrained_text.py --budget cpu --methods MRL --set start=pretrained  # from the published model

Methods, all from all-MiniLM-L6-v2 on the same data: the frozen model cut; PCA fitted on the
corpus searched and on other text (STS-B sentences); the Matryoshka-Adaptor, unsupervised and
supervised; fine-tunes with InfoNCE at 384 dims (normal), with MatryoshkaLoss (MRL) and at one size
(FF-d); references: TF-IDF and notebook 02's MRL model trained from scratch. Prints the time of
each step and one table per metric (recall@10, MRR, STS-B Spearman), the MRL fine-tune's lead
over the baselines and the share of its STS-B Spearman each method keeps at 48 dims, both with 95 %
bootstrap intervals, and writes it all as JSON with --json. Models and embeddings are cached
(``--set`` values change the cache key), so a second run only measures.
"""

from __future__ import annotations

import argparse
import ast
import json
import platform
import time
from dataclasses import asdict

import torch

from mrl_lab.data.text import load_ag_news, load_sts_benchmark
from mrl_lab.evaluation.baselines import pca_rotation
from mrl_lab.evaluation.intervals import share_kept
from mrl_lab.evaluation.results import curves, items, lead_table
from mrl_lab.experiments import adaptor, pretrained, text
from mrl_lab.lab.plots import curves_table
from mrl_lab.models.sentence_encoder import load_encoder
from mrl_lab.runtime.budget import BUDGETS, get_budget


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", choices=BUDGETS, default=None, help="default: $MRL_LAB_BUDGET or auto")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="change one setting of pretrained.SETTINGS, e.g. lr=2e-5 (repeatable)")  # fmt: skip
    parser.add_argument("--methods", nargs="+", help="fine-tune only these, e.g. --methods MRL (default: all)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args()

    budget = get_budget(args.budget)
    cuda = budget.device.type == "cuda"
    device = torch.cuda.get_device_name(0) if cuda else f"CPU ({torch.get_num_threads()} threads)"
    print(f"{budget}\ndevice: {device}; torch {torch.__version__}; Python {platform.python_version()}")
    changes = {}
    for item in args.set:
        key, value = item.split("=", 1)
        try:
            changes[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):  # a plain word, e.g. start=pretrained
            changes[key] = value
    try:
        settings = pretrained.settings(budget, **changes)
    except ValueError as e:
        parser.error(f"--set: {e}")

    clock, timing = time.perf_counter(), {}

    def lap(step):
        nonlocal clock
        timing[step] = time.perf_counter() - clock
        print(f"[{step}: {timing[step]:.1f} s]")
        clock = time.perf_counter()

    news = load_ag_news()
    data = pretrained.load_data(settings, news, load_sts_benchmark("test"), load_sts_benchmark("train"))
    print(f"data: {data.note}\nsettings: {settings}")
    base_model = load_encoder(data.folder, settings.max_tokens, device=budget.device)
    key = pretrained.base_key(settings, data)
    texts = pretrained.eval_texts(data)
    base = pretrained.embed_all(base_model, texts, key)
    train_texts = {"titles": data.train.titles, "descriptions": data.train.descriptions}
    train_pairs = pretrained.embed_all(base_model, train_texts, key)
    other = pretrained.embed(base_model, data.other_text, key)
    lap("embed with the frozen model")

    vectors = {"base, cut": base}
    for name, fit_on in (("PCA fitted on the corpus", base["descriptions"]), ("PCA fitted on STS-B", other)):
        rotate = pca_rotation(fit_on)
        vectors[name] = {k: rotate(z) for k, z in base.items()}
    lap("PCA")
    frozen = adaptor.Data(base["descriptions"], train_pairs["titles"], train_pairs["descriptions"])
    for name, f in adaptor.train_all(adaptor.settings(budget), frozen).items():
        vectors[f"adaptor, {name}"] = {k: adaptor.adapt(f, z) for k, z in base.items()}
    lap("adaptors")
    tuned = pretrained.train_all(settings, data, device=budget.device, only=args.methods)
    for name, result in tuned.items():
        vectors[f"fine-tuned {name}"] = result["vectors"]
    lap("fine-tunes (or the cache) and their embeddings")
    vectors["from scratch (02), MRL"] = pretrained.scratch_reference(budget, news, texts, device=budget.device)
    tfidf = text.tfidf_reference(news.train, data.test, data.sts)
    lap("references")

    sizes = pretrained.measured_sizes(settings)
    results = pretrained.evaluate(settings, data, vectors, sizes)
    lap("evaluation")
    for metric in ("recall@10", "MRR", "STS-B Spearman"):
        shown = curves_table(curves(results, metric)).to_string(float_format=lambda a: f"{a:.3f}", na_rep="")
        print(f"\n{metric} (TF-IDF reference: {tfidf[metric]:.3f})\n{shown}")
    leads = {}
    baselines = ["base, cut", "PCA fitted on the corpus", "PCA fitted on STS-B", "fine-tuned normal"]
    small = [d for d in sizes if d <= 64 or d == max(sizes)]
    for metric, gold in (("recall@10", None), ("STS-B Spearman", data.sts.scores)):
        lead_rows = lead_table(results, metric, "fine-tuned MRL", baselines, small, gold)
        leads[metric] = lead_rows.to_dict("records")
        print(f"\nMRL fine-tune minus each baseline, {metric}, 95 % paired bootstrap interval:")
        print(lead_rows.to_string(index=False, float_format=lambda a: f"{a:+.3f}"))
    kept = {}
    print("\nshare of its full-width STS-B Spearman each method keeps at 48 dims, 95 % paired bootstrap interval:")
    for name, sims in {m: items(results, "STS-B Spearman", m) for m in dict.fromkeys(results["method"])}.items():
        if 48 in sims and max(sizes) in sims:
            kept[name] = share_kept(sims[48], sims[max(sizes)], data.sts.scores)
            print(f"  {name:28s} {kept[name][0]:.1%} [{kept[name][1]:.1%}, {kept[name][2]:.1%}]")
    meta = {name: {k: v for k, v in r["meta"].items()} for name, r in tuned.items()}
    print(f"\nfine-tuning: {json.dumps(meta)}\nwall time: {sum(timing.values()):.1f} s")
    if args.json:
        result = dict(
            budget=budget.name, device=device, data=data.note, settings=asdict(settings), timing=timing,
            fine_tuning=meta, metrics={m: curves(results, m) for m in ("recall@10", "MRR", "STS-B Spearman")},
            tfidf=tfidf, leads=leads, sts_kept_at_48=kept,
        )  # fmt: skip
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1, default=str)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
