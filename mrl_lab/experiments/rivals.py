"""MRL's prefix against its rivals at equal bytes per stored vector (notebook 07, ``benchmarks/rivals.py``).

Every method starts from all-MiniLM-L6-v2 on notebook 03's data: the published model cut (nothing trained),
PCA fitted on the news corpus searched, the supervised Matryoshka-Adaptor and CSR (both trained on the frozen
vectors of the same training pairs), and notebook 03's MRL fine-tune (the whole encoder trained), also stored
in int8 and in binary with a full-precision re-score. Cost axes, like for like:

- **bytes per stored vector**: a float32 prefix of ``d`` dims costs ``4 d``; int8 ``d``; binary ``d / 8``; a
  CSR code of ``k`` entries ``k`` float32 values plus ``k`` int16 indices (:func:`mrl_lab.experiments.csr.code_bytes`);
- **latency of one query** (:func:`latencies`): CSR's codes as a scipy sparse matrix product, the prefix in a
  FAISS flat index, both exact search, one query at a time, 3 rounds;
- **training time** on this machine (:func:`dense_methods`, and the CSR record).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import scipy.sparse
import torch
import torch.nn.functional as F

from mrl_lab.core.checks import (
    check_count,
    check_counts,
    check_embeddings,
    check_has,
    check_instance,
    check_keys,
    check_settings,
    check_table,
    check_texts,
)
from mrl_lab.core.nesting import truncate
from mrl_lab.evaluation.baselines import pca_rotation
from mrl_lab.evaluation.intervals import lead
from mrl_lab.evaluation.results import items, row, table, verdict
from mrl_lab.evaluation.timing import speed_words
from mrl_lab.experiments import adaptor, csr, pretrained
from mrl_lab.experiments.check import rescored, stored_search
from mrl_lab.models.sentence_encoder import load_encoder
from mrl_lab.serving.ann import latency

MRL = "fine-tuned MRL"
CSR_MODEL = "pass the model csr.train returned"  # the fix when a CSR model is not one
# the quantized prefixes, and how many dims they store in the bytes of one float32 dim
QUANTIZED = {f"{MRL}, int8 + re-score": 4, f"{MRL}, binary + re-score": 32}


def frozen_vectors(settings: pretrained.Settings, data: pretrained.Data) -> tuple[dict, dict]:
    """The published model's full-width vectors: of the evaluation texts, and of the training pairs
    (``{"q": titles, "d": descriptions}``), which CSR and the adaptor train on."""
    check_settings(settings, pretrained.Settings, "frozen_vectors")
    pretrained.check_data(data, "frozen_vectors")
    frozen = load_encoder(data.folder, settings.max_tokens)
    key = pretrained.base_key(settings, data)
    base = pretrained.embed_all(frozen, pretrained.eval_texts(data), key)
    pairs = pretrained.embed_all(frozen, {"q": data.train.titles, "d": data.train.descriptions}, key)
    return base, pairs


def dense_methods(budget, settings: pretrained.Settings, data: pretrained.Data, base: dict, pairs: dict):
    """``(vectors, seconds)``: each dense method's full-width vectors of the evaluation texts
    (``{method: {"titles", ...}}``) and its training time in seconds on this machine (a cached model's is the
    time it took when it was trained)."""
    check_settings(settings, pretrained.Settings, "dense_methods")
    pretrained.check_data(data, "dense_methods")
    check_keys(base, pretrained.PARTS, "base", "dense_methods", "pass frozen_vectors' first result")
    check_keys(pairs, ["q", "d"], "pairs", "dense_methods", "pass frozen_vectors' second result")
    width = check_embeddings(base["descriptions"], "dense_methods: base['descriptions']").shape[1]
    for name, vectors in (("base", base), ("pairs", pairs)):
        for part, z in vectors.items():
            check_embeddings(z, f"dense_methods: {name}[{part!r}]", dim=width)
    seconds = {}
    started = time.perf_counter()
    rotate = pca_rotation(base["descriptions"])
    seconds["PCA fitted on the news corpus"] = time.perf_counter() - started
    started = time.perf_counter()
    fitted = adaptor.train_all(adaptor.settings(budget), adaptor.Data(base["descriptions"], pairs["q"], pairs["d"]))
    seconds["adaptor, supervised (both stages)"] = time.perf_counter() - started
    tuned = pretrained.train_all(settings, data, only=["MRL"])["MRL"]
    seconds[MRL] = tuned["meta"]["seconds"]
    vectors = {
        "base, cut": base,
        "PCA fitted on the news corpus": {part: rotate(z) for part, z in base.items()},
        "adaptor, supervised": {part: adaptor.adapt(fitted["supervised"], z) for part, z in base.items()},
        MRL: tuned["vectors"],
    }
    return vectors, seconds


def equal_prefixes(sparse: csr.Settings, model) -> dict[int, int]:
    """``{k: d}``: for each CSR ``k``, the float32 prefix ``d`` that costs the same bytes.

    Example:
        >>> equal_prefixes(csr.settings("smoke"), type("M", (), {"hidden_dim": 1536}))
        {8: 12, 32: 48}
    """
    check_settings(sparse, csr.Settings, "equal_prefixes")
    check_has(model, ["hidden_dim"], "model", "equal_prefixes", CSR_MODEL)
    return {k: csr.code_bytes(k, model.hidden_dim) // 4 for k in sparse.ks}


def quantized(vectors: dict, method: str, budgets: list[int], shortlist: int = 100) -> pd.DataFrame:
    """recall@10 of ``method``'s prefix stored in int8 (``d`` = bytes) and in binary (``d`` = 8 x bytes, up to
    the full width), each found in those codes and then re-scored: the shortlist's full float32 vectors
    (kept beside the index, not in it) re-rank its top ``shortlist`` (sentence-transformers' quantization,
    as :func:`mrl_lab.experiments.check.stored_search` stores it)."""
    check_keys(vectors, ["titles", "descriptions"], "vectors", "quantized", "pass a method's full-width vectors")
    titles, descriptions = vectors["titles"], vectors["descriptions"]
    check_count(shortlist, "shortlist", "quantized", low=10)  # re-scored down to the top 10
    if len(descriptions) < 10:
        raise ValueError(f"quantized: {len(descriptions)} descriptions to search; recall@10 needs at least 10")
    budgets = check_counts(budgets, "budgets", "quantized")
    own, rows, sizes = torch.arange(len(titles)), [], []
    for b in budgets:
        for precision, d in (("int8", b), ("binary", 8 * b)):
            if d > titles.shape[1]:
                continue
            q, c = truncate(titles, d), truncate(descriptions, d)
            top = rescored(stored_search(q, c, precision, min(shortlist, len(c))), titles, descriptions, 10)
            hits = (top == own[:, None]).any(dim=1)
            rows.append(row(f"{method}, {precision} + re-score", d, "recall@10", hits, interval=True))
            sizes.append(b)
    out = table(rows)
    out["bytes"] = sizes
    return out


def compare(budget, settings, data, sparse: csr.Settings, model, base: dict, dense: dict) -> pd.DataFrame:
    """One results table (with a ``bytes`` column) of every method: the dense ones at the nesting sizes and at
    the prefixes of CSR's bytes, CSR at each ``k``, and the quantized MRL prefixes at those bytes."""
    check_settings(settings, pretrained.Settings, "compare")
    pretrained.check_data(data, "compare")
    check_settings(sparse, csr.Settings, "compare")
    check_has(model, ["hidden_dim", "input_dim"], "model", "compare", CSR_MODEL)
    check_keys(base, pretrained.PARTS, "base", "compare", "pass frozen_vectors' first result")
    check_keys(dense, [MRL], "dense", "compare", "pass dense_methods' first result")
    equal = equal_prefixes(sparse, model)
    sizes = sorted(set(pretrained.measured_sizes(settings)) | set(equal.values()))
    results = pretrained.evaluate(settings, data, dense, sizes)
    results["bytes"] = results["size"] * 4
    parts = [results, csr.evaluate(sparse, model, base, data.sts.scores),
             quantized(dense[MRL], MRL, [4 * d for d in equal.values()])]  # fmt: skip
    return pd.concat(parts, ignore_index=True)


def csr_leads(results: pd.DataFrame, equal: dict[int, int], dense_names, sts_scores) -> pd.DataFrame:
    """CSR minus each other method at equal bytes, per metric and ``k``, with a paired 95 % interval and its
    verdict (the quantized prefixes for recall@10 only: their re-score is a retrieval step)."""
    check_table(results, ["method", "metric", "size", "items"], "csr_leads", "pass compare's table")
    dense_names = check_texts(dense_names, "csr_leads: dense_names", "method name")
    rows = []
    for metric, gold in (("recall@10", None), ("STS-B Spearman", sts_scores)):
        sparse_items = items(results, metric, "CSR")
        for k, d in equal.items():
            for method in list(dense_names) + (list(QUANTIZED) if gold is None else []):
                dims = d * QUANTIZED.get(method, 1)  # the dims that fit in 4 x d bytes at the method's precision
                there = items(results, metric, method)
                if dims in there and k in sparse_items:
                    x, low, high = lead(sparse_items[k], there[dims], gold=gold)
                    rows.append(dict(metric=metric, k=k, bytes=4 * d, method=method, dims=dims, lead=x, low=low,
                                     high=high, verdict=verdict(low, high)))  # fmt: skip
    return pd.DataFrame(rows)


def top10_sparse(corpus, query):
    """The 10 best rows of ``corpus`` (codes as a scipy sparse matrix) for one dense query code (``query``, shape
    ``(1, hidden)``): a sparse matrix-vector product, then a partial sort."""
    _check_codes(corpus, query, "top10_sparse")
    return _top10(corpus, query)


def _top10(corpus, query):
    """:func:`top10_sparse` unchecked: what :func:`latencies` times, its arguments checked once before."""
    scores = corpus @ query[0]
    return np.argpartition(-scores, min(10, len(scores) - 1))[:10]


def _check_codes(corpus, queries, where: str) -> None:
    """A corpus of at least 10 sparse codes and queries as wide as they are, else an error naming ``where``."""
    if not scipy.sparse.issparse(corpus) or len(corpus.shape) != 2:
        raise TypeError(f"{where}: corpus has type {type(corpus).__name__}; pass the codes as a scipy sparse matrix, "
                        "e.g. scipy.sparse.csr_matrix(codes)")  # fmt: skip
    if corpus.shape[0] < 10:
        raise ValueError(f"{where}: corpus has {corpus.shape[0]} rows; the top 10 needs at least 10")
    check_instance(queries, np.ndarray, "query", where, "pass a NumPy array of codes, e.g. codes.numpy()")
    if queries.ndim != 2 or len(queries) < 1 or queries.shape[1] != corpus.shape[1]:
        raise ValueError(f"{where}: query must have shape (1, {corpus.shape[1]}), a code as wide as the corpus's; "
                         f"got shape {queries.shape}")  # fmt: skip


def latencies(model, base: dict, prefix: dict, equal: dict[int, int]) -> pd.DataFrame:
    """One query at a time against the held-out descriptions, at each equal byte budget: CSR's codes as a scipy
    sparse matrix (``k`` non-zeros a row) against ``prefix`` (full-width vectors, ``{"titles", "descriptions"}``)
    cut to the same bytes in a FAISS flat inner-product index; median, fastest and slowest of 3 rounds in ms
    (:func:`mrl_lab.serving.ann.latency`) and the speed verdict from their spread."""
    import faiss

    check_has(model, ["hidden_dim", "input_dim"], "model", "latencies", CSR_MODEL)
    for name, vectors in (("base", base), ("prefix", prefix)):
        check_keys(vectors, ["titles", "descriptions"], name, "latencies", "pass full-width vectors of both text sets")
        width = check_embeddings(vectors["titles"], f"latencies: {name}['titles']").shape[1]
        check_embeddings(vectors["descriptions"], f"latencies: {name}['descriptions']", dim=width)
    check_instance(equal, dict, "equal", "latencies", "pass {k: d}, e.g. equal_prefixes(sparse, model)")
    if not equal:
        raise ValueError("latencies: equal is empty; pass {k: d} of at least one budget (equal_prefixes)")
    for k, d in equal.items():
        check_count(k, "k (a key of equal)", "latencies", high=model.hidden_dim)
        check_count(d, "d (a value of equal)", "latencies", high=prefix["titles"].shape[1])
    if len(base["descriptions"]) < 10:
        raise ValueError(f"latencies: base['descriptions'] has {len(base['descriptions'])} rows; the top 10 needs "
                         "at least 10")  # fmt: skip
    rows = []
    for k, d in equal.items():
        corpus = scipy.sparse.csr_matrix(F.normalize(csr.encode(model, base["descriptions"], k), dim=1).numpy())
        queries = F.normalize(csr.encode(model, base["titles"], k), dim=1).numpy()
        _check_codes(corpus, queries, "latencies")  # once, before the timed loop: it times the search alone
        sparse_ms = _ms(latency(lambda q, c=corpus: _top10(c, q), queries, repeats=3))
        index = faiss.IndexFlatIP(d)
        index.add(np.ascontiguousarray(truncate(prefix["descriptions"], d).numpy()))
        short = truncate(prefix["titles"], d).numpy()
        dense_ms = _ms(latency(lambda q, ix=index: ix.search(q, 10), short, repeats=3))
        rows.append(dict(k=k, bytes=4 * d, rows=corpus.shape[0], csr_ms=sparse_ms["median"],
                         csr_low=sparse_ms["low"], csr_high=sparse_ms["high"], prefix_dims=d,
                         prefix_ms=dense_ms["median"], prefix_low=dense_ms["low"], prefix_high=dense_ms["high"],
                         csr_is=speed_words(sparse_ms, dense_ms)))  # fmt: skip
    return pd.DataFrame(rows)


def _ms(t: dict) -> dict:
    return {"median": t["median_ms"], "low": t["low_ms"], "high": t["high_ms"]}


def versus_prefix(results: pd.DataFrame, rival: str, metric: str = "recall@10", gold=None) -> pd.DataFrame:
    """``rival`` minus the MRL fine-tune's float32 prefix of the same bytes (``d = bytes / 4``), at every byte
    budget the rival was measured at: the difference with a paired 95 % interval and its verdict.

    Args:
        gold: the STS-B human scores, when ``metric`` is ``"STS-B Spearman"``.
    """
    check_table(results, ["method", "metric", "size", "items", "bytes"], "versus_prefix", "pass compare's table")
    chosen = results[(results["method"] == rival) & (results["metric"] == metric)]
    if chosen.empty:
        known = sorted(results.loc[results["metric"] == metric, "method"].unique())
        raise ValueError(f"versus_prefix: no {metric!r} rows for rival={rival!r}; choose one of {known}")
    prefix = items(results, metric, MRL)
    rows = []
    for r in chosen.itertuples():
        d = int(r.bytes) // 4
        if d in prefix:
            x, low, high = lead(r.items, prefix[d], gold=gold)
            rows.append(dict(rival=rival, metric=metric, bytes=int(r.bytes), size=int(r.size), prefix_dims=d,
                             lead=x, low=low, high=high, verdict=verdict(low, high)))  # fmt: skip
    return pd.DataFrame(rows)


def tally(leads: pd.DataFrame, what: str) -> str:
    """One line counting the verdicts of a leads table: where ``what`` is ahead, tied and behind.

    Example:
        >>> tally(pd.DataFrame({"verdict": ["ahead", "tied", "behind", "behind"]}), "byte budget")
        'ahead at 1, tied at 1, behind at 2 of 4 byte budgets'
    """
    check_table(leads, ["verdict"], "tally", "pass a leads table (csr_leads, versus_prefix)")
    counts = leads["verdict"].value_counts()
    parts = [f"{word} at {counts.get(word, 0)}" for word in ("ahead", "tied", "behind")]
    return f"{', '.join(parts)} of {len(leads)} {what}{'s' if len(leads) != 1 else ''}"
