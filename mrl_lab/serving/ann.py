"""Serving a Matryoshka prefix from an approximate-nearest-neighbour index (FAISS).

:mod:`mrl_lab.serving.funnel` scans *every* stored row with the short prefix; on a CPU that scan is
bound by writing and ranking one score per row, so it barely beats exact search. Served systems
do not scan: an ANN index (an HNSW graph, or IVF lists) finds a shortlist by visiting a small part
of the database. Build that index on the first ``d`` dims of each vector (a ``d``-dim index is
``D / d`` times smaller and faster to walk), then re-rank the shortlist on the stored full vectors.
That is the paper's adaptive retrieval as AdANNS serves it; with ``d = D`` the same class is the
rigid baseline (an index at full width, no re-ranking).

References:
    Kusupati et al., "Matryoshka Representation Learning", NeurIPS 2022, section 4.3;
    Rege et al., "AdANNS: A Framework for Adaptive Semantic Search", NeurIPS 2023;
    Malkov and Yashunin, "Efficient and robust approximate nearest neighbor search using
    Hierarchical Navigable Small World graphs", 2018 (HNSW); Douze et al., "The Faiss library", 2024.
"""

from __future__ import annotations

import math
import time
from functools import partial
from itertools import groupby

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from mrl_lab.core.checks import (
    check_callable,
    check_count,
    check_embeddings,
    check_number,
    check_records,
    check_tensor,
)
from mrl_lab.evaluation.metrics import topk_overlap
from mrl_lab.evaluation.timing import SAME, speed_words, spread
from mrl_lab.runtime.memory import give_freed_memory_back
from mrl_lab.serving.funnel import AdaptiveIndex, unit_rows

KINDS = ("flat", "hnsw", "ivf")
ADD_BLOCK = 20_000  # rows added to an index at a time, so that a large build can show progress
# The served database per budget (notebook 04): rows in all, real AG News descriptions among them
# (None: all 7,600; the rest drawn by clustered_like) and real held-out headlines searched.
DATABASES = {
    "smoke": dict(rows=10_000, real_rows=300, queries=30),
    "cpu": dict(rows=100_000, real_rows=None, queries=200),
    "gpu": dict(rows=1_000_000, real_rows=None, queries=200),
}


class PrefixIndex:
    """A FAISS index on the re-normalised first ``d`` dims of unit vectors; shortlists re-ranked at full width.

    Args:
        vectors: ``(N, D)`` database embeddings (a Matryoshka model's, to cut them well).
        d: the prefix the index is built on; ``D`` gives the full-width index (no re-ranking).
        kind: ``"hnsw"`` (a graph: each row linked to ``m`` neighbours), ``"ivf"`` (rows in
            ``nlist`` k-means lists; a query visits the ``nprobe`` nearest lists) or ``"flat"``
            (exact scan of the prefix: the brute-force funnel, in FAISS).
        m, ef_construction: HNSW's links per row and build-time search width.
        nlist: IVF's lists (default ``4 * sqrt(N)``, FAISS's rule of thumb).
        seed: IVF's k-means seed; report: optional ``report(rows_added, N)``, called after each
            block of ``ADD_BLOCK`` rows is added (for a progress bar).

    Below full width FAISS composes the funnel from its own parts: an ``IndexPreTransform`` cuts each
    vector (database row or query) to its first ``d`` dims and re-normalises them, the HNSW, IVF or
    flat index searches those, and an ``IndexRefineFlat`` re-ranks the shortlist by the inner product
    of the full vectors, which it keeps (a copy: ``N x D`` floats). It is the same funnel as
    :class:`~mrl_lab.serving.funnel.AdaptiveIndex` (every row scanned, in torch: the readable reference),
    without a Python step per query.

    Attributes:
        index: the FAISS index searched; base: the index on the prefix (its ``efSearch`` or ``nprobe``
        is the effort); build_seconds: time to train and fill the index; index_bytes: the base
        index's size (its prefix copy and links or lists; the full vectors for re-ranking come on top).

    Example:
        >>> _ = torch.manual_seed(0)
        >>> db = torch.randn(2000, 64)
        >>> index = PrefixIndex(db, d=16, kind="hnsw")  # a graph on the first 16 of 64 dims
        >>> q = db[:5] + 0.1 * torch.randn(5, 64)
        >>> index.search(q, k=1, shortlist=200, effort=200)[:, 0].tolist()  # each query finds its own row
        [0, 1, 2, 3, 4]
    """

    def __init__(self, vectors: torch.Tensor, d: int, kind: str = "hnsw", m: int = 32, ef_construction: int = 40,
                 nlist: int | None = None, seed: int = 0, report=None):  # fmt: skip
        import faiss

        check_embeddings(vectors, "PrefixIndex: vectors")
        if kind not in KINDS:
            raise ValueError(f"PrefixIndex: kind={kind!r}; choose one of {KINDS}")
        n, width = vectors.shape
        self.d, self.kind = check_count(d, "d", "PrefixIndex", high=width), kind
        full = unit_rows(vectors).numpy()
        start = time.perf_counter()
        if kind == "flat":
            self.base = faiss.IndexFlatIP(self.d)
        elif kind == "hnsw":
            self.base = faiss.IndexHNSWFlat(self.d, check_count(m, "m", "PrefixIndex"), faiss.METRIC_INNER_PRODUCT)
            self.base.hnsw.efConstruction = check_count(ef_construction, "ef_construction", "PrefixIndex")
        else:
            nlist = check_count(nlist or round(4 * math.sqrt(n)), "nlist", "PrefixIndex", high=n)
            self.base = faiss.IndexIVFFlat(faiss.IndexFlatIP(self.d), self.d, nlist, faiss.METRIC_INNER_PRODUCT)
            self.base.cp.seed = seed
        self.index = self.base  # at full width the index is all there is
        if self.d < width:  # FAISS builds the funnel: cut to d dims and re-normalise, index those, re-rank at D
            prefix = faiss.IndexPreTransform(self.base)
            prefix.prepend_transform(faiss.NormalizationTransform(self.d, 2.0))  # applied second
            prefix.prepend_transform(faiss.RemapDimensionsTransform(width, self.d, False))  # keep the first d
            self.index = faiss.IndexRefineFlat(prefix)  # keeps the full vectors; re-ranks by inner product
        if kind == "ivf":
            self.index.train(full)  # k-means on the (cut, re-normalised) rows
        for row in range(0, n, ADD_BLOCK):  # in blocks, so that a caller can show a large build's progress
            self.index.add(full[row : row + ADD_BLOCK])
            if report is not None:
                report(min(row + ADD_BLOCK, n), n)
        self.build_seconds = time.perf_counter() - start
        self.index_bytes = _serialized_size(self.base)

    def __len__(self) -> int:
        return self.index.ntotal

    def search(self, queries: torch.Tensor, k: int, shortlist: int | None = None, effort: int | None = None):
        """The ``k`` best rows per query: a ``shortlist`` from the index, re-ranked on the full vectors.

        Args:
            queries: ``(M, D)`` full-width query embeddings.
            k: results per query; shortlist: candidates the index returns (default ``k``: no
                re-ranking, as for a full-width index).
            effort: how hard the index looks: HNSW's ``efSearch`` (at least ``shortlist``), IVF's
                ``nprobe`` (lists visited); ignored by ``"flat"``.

        Returns:
            ``(M, k)`` int64 row indices, best first (-1 where the index found fewer than ``k``).
        """
        # A served query takes well under a millisecond, so its checks run in NumPy: torch's isfinite and
        # normalize on one row cost more than some searches (benchmarks/adaptive_retrieval.py prints their
        # latency; check_embeddings, slower, is called only to say what is wrong). No normalising: a query's
        # length ranks no row differently.
        ok = isinstance(queries, torch.Tensor) and queries.ndim == 2 and queries.numel() > 0
        q = queries.detach().cpu().float().numpy() if ok else None
        if q is None or not np.isfinite(q).all():
            check_embeddings(queries, "PrefixIndex.search: queries")  # raises, saying what is wrong
        if queries.shape[1] != self.index.d:
            raise ValueError(f"PrefixIndex.search: queries have {queries.shape[1]} dims; the vectors have "
                             f"{self.index.d}")  # fmt: skip
        check_count(k, "k", "PrefixIndex.search")
        shortlist = check_count(shortlist or k, "shortlist", "PrefixIndex.search", high=len(self))
        k = check_count(k, "k", "PrefixIndex.search", high=shortlist)
        if self.kind == "hnsw":
            self.base.hnsw.efSearch = max(shortlist, effort or 0)
        elif self.kind == "ivf":
            self.base.nprobe = check_count(effort or 1, "effort", "PrefixIndex.search", high=self.base.nlist)
        if self.index is not self.base:  # the shortlist is k * k_factor rows (+ 0.5: FAISS rounds down)
            self.index.k_factor = (shortlist + 0.5) / k
        return torch.from_numpy(self.index.search(q, k)[1])


def _serialized_size(index) -> int:
    """The bytes FAISS would write for ``index``, counted as they stream out: ``serialize_index``
    would hold a copy of the whole index in memory."""
    import faiss

    total = 0

    def count(chunk: bytes) -> int:
        nonlocal total
        total += len(chunk)
        return len(chunk)

    faiss.write_index(index, faiss.PyCallbackIOWriter(count))
    return total


def clustered_like(
    vectors: torch.Tensor, n: int, clusters: int | None = None, seed: int = 0, desc: str | None = None
) -> torch.Tensor:
    """``n`` new vectors shaped like ``vectors``: a Gaussian around each k-means centre of the real ones.

    Databases larger than the real corpus need more rows. Copies of real rows (plus a little
    noise) would tie with their originals, so the exact top 10 would be arbitrary; one Gaussian
    over everything loses the topics. Here each new row picks a cluster with the real rows'
    frequencies and is drawn around its centre with the within-cluster covariance (pooled over
    clusters, so it is well estimated in high dimensions).
    Unit-length real rows give unit-length new rows (what cosine search would make of them anyway).
    ``desc`` names a progress bar (k-means, then the rows drawn); None shows none.

    How many clusters matters. Few wide clusters make a fog: its local intrinsic dimension
    (:func:`local_dimension`) is several times the real rows', and every ANN index, full width
    or prefix, finds the true neighbours in a fog much harder than in real data. The default,
    about 8 real rows per cluster, gives new rows whose local dimension is near the real rows'
    (``benchmarks/adaptive_retrieval.py`` prints both) and no nearer to a real row than real rows
    are to each other.

    Example:
        >>> _ = torch.manual_seed(0)
        >>> real = torch.cat([torch.randn(300, 8) + 5, torch.randn(300, 8) - 5])
        >>> fake = clustered_like(real, 1000, clusters=2)
        >>> fake.shape, bool((fake[:, 0].abs() > 2).float().mean() > 0.95)  # two clusters, few rows between
        (torch.Size([1000, 8]), True)
    """
    from sklearn.cluster import KMeans

    check_embeddings(vectors, "clustered_like: vectors")
    n = check_count(n, "n", "clustered_like")
    clusters = check_count(clusters or max(1, len(vectors) // 8), "clusters", "clustered_like", high=len(vectors) // 2)
    bar = tqdm(total=n, desc=desc, unit="row", disable=desc is None)  # seconds at 100,000 rows: show them
    bar.set_postfix_str(f"k-means, {clusters:,} clusters")
    x = vectors.double().numpy()
    kmeans = KMeans(clusters, n_init=1, random_state=seed).fit(x)
    centres, labels = kmeans.cluster_centers_, kmeans.labels_
    residuals = x - centres[labels]
    cov = residuals.T @ residuals / (len(x) - clusters) + 1e-6 * np.eye(x.shape[1])  # a tiny ridge: positive definite
    factor = np.linalg.cholesky(cov).T
    rng = np.random.default_rng(seed)
    picks = rng.choice(clusters, size=n, p=np.bincount(labels, minlength=clusters) / len(x))
    rows = np.empty((n, x.shape[1]), dtype=np.float32)
    bar.set_postfix_str("drawing")
    for i in range(0, n, 16_384):  # in blocks: float64 temporaries for all n rows would be 3x the result
        block = picks[i : i + 16_384]
        rows[i : i + len(block)] = centres[block] + rng.standard_normal((len(block), x.shape[1])) @ factor
        bar.update(len(block))
    bar.close()
    rows = torch.from_numpy(rows)
    unit = torch.allclose(vectors.float().norm(dim=1), torch.ones(len(vectors)), atol=1e-5)
    return F.normalize(rows, dim=1, out=rows) if unit else rows  # unit rows stay unit: cosine search needs no copy


def local_dimension(vectors: torch.Tensor, k: int = 20) -> float:
    """The local intrinsic dimension of a set of vectors: how many directions its neighbourhoods span.

    Levina and Bickel's estimate from each row's ``k`` nearest neighbours (distances
    ``r_1 <= ... <= r_k``): ``1 / mean(log(r_k / r_i))``, the median over rows. Points filling
    a ``d``-dim patch give about ``d`` whatever the width they are stored in. Real embeddings
    are low (tens of dims in 384); a Gaussian fog is high, and ANN search in it is hard.

    Reference: Levina and Bickel, "Maximum likelihood estimation of intrinsic dimension", NeurIPS 2004.

    Example:
        >>> _ = torch.manual_seed(0)
        >>> flat = torch.rand(3000, 4) @ torch.randn(4, 64)  # a 4-dim patch stored in 64 dims
        >>> round(local_dimension(flat))
        4
    """
    import faiss

    check_embeddings(vectors, "local_dimension: vectors")
    k = check_count(k, "k", "local_dimension", high=len(vectors) - 1)
    x = np.ascontiguousarray(vectors.float().numpy())
    index = faiss.IndexFlatL2(x.shape[1])
    index.add(x)
    squared, _ = index.search(x, k + 1)  # the first hit is the row itself
    r = np.sqrt(np.maximum(squared[:, 1:], 1e-12))
    return float(np.median(1 / np.mean(np.log(r[:, -1:] / r[:, :-1]), axis=1)))


def latency(search, queries: torch.Tensor, repeats: int = 3) -> dict:
    """Per-query latency (one query at a time, as a user's request arrives) and batch throughput.

    Args:
        search: ``search(queries) -> results``, e.g. ``lambda q: index.search(q, 10, 200)``.
        queries: ``(M, D)``, a tensor or a NumPy array; each is searched alone, in ``repeats`` rounds over all
            of them (at least 3), then all at once.

    Returns:
        ``{"median_ms", "low_ms", "high_ms", "p95_ms", "batch_qps"}``: the median over the rounds of each
        round's median, the fastest and slowest round's median (the spread that
        :func:`~mrl_lab.evaluation.timing.speed_words` compares), and the 95th percentile of every timing.
    """
    check_callable(search, "search", "latency", "lambda q: index.search(q, 10, 200)")
    as_tensor = torch.as_tensor(queries) if isinstance(queries, np.ndarray) else queries  # no copy
    check_tensor(as_tensor, "latency: queries", ("M", "D"))
    check_count(repeats, "repeats", "latency", low=3)
    search(queries[:1])  # warm-up: first-call allocations are not what a user waits for
    rounds = np.empty((repeats, len(queries)))
    for r in range(repeats):
        for i in range(len(queries)):
            start = time.perf_counter()
            search(queries[i : i + 1])
            rounds[r, i] = time.perf_counter() - start
    start = time.perf_counter()
    search(queries)
    batch = time.perf_counter() - start
    per_round = spread(np.median(rounds, axis=1) * 1000)
    return {
        "median_ms": per_round["median"], "low_ms": per_round["low"], "high_ms": per_round["high"],
        "p95_ms": float(np.percentile(rounds * 1000, 95)), "batch_qps": len(queries) / batch,
    }  # fmt: skip


# (index kind, prefix size or None for full width, shortlist, effort): prefix indexes re-ranked at full
# width, then the same index types at full width (the rigid baseline). Effort: HNSW's efSearch, IVF's nprobe.
SERVING = [("hnsw", d, n, n) for d in (64, 128) for n in (100, 200, 400, 800)]
SERVING += [("hnsw", None, 10, e) for e in (16, 32, 64, 128, 256, 512)]
NPROBE = (8, 12, 16, 24, 32, 48, 64, 96, 128)  # dense, so that "at equal recall" is read off, not guessed
SERVING += [("ivf", 128, 200, p) for p in NPROBE] + [("ivf", 128, 400, p) for p in NPROBE + (256,)]
SERVING += [("ivf", None, 10, p) for p in NPROBE]


def serving_table(data: torch.Tensor, queries: torch.Tensor, configs=SERVING, full_width: bool = True,
                  brute_force=((64, 400), (128, 400)), k: int = 10, desc: str | None = None,
                  repeats: int = 3) -> list[dict]:  # fmt: skip
    """Serve ``queries`` from ``data`` every way in ``configs``, one query at a time; one row per setting.

    The first row is exact full-width search (FAISS ``IndexFlatIP``), the reference for relative
    recall@k (the share of its top ``k`` a setting returns) and for speed-ups. Then the lab's torch
    brute-force funnel (:class:`~mrl_lab.serving.funnel.AdaptiveIndex`, every row scanned at the prefix)
    for each ``(d, shortlist)`` in ``brute_force``, then each ``(kind, d, shortlist, effort)`` of
    ``configs`` (``d=None``: full width; skipped when ``full_width=False``; an IVF setting that
    would visit more lists than the index has, ``2 sqrt(N)``, is skipped too). Each index is built
    once and searched at all its settings; ``desc`` names a progress bar over the settings (it also
    says which index is being built, and how far). ``repeats``: rounds of timing every query (at least 3,
    :func:`latency`), so that each row carries the spread its speed verdicts are read from.

    Returns:
        dicts with ``index`` (a readable name), ``kind``, ``d``, ``shortlist``, ``effort``, ``recall``,
        ``median_ms``, ``p95_ms``, ``batch_qps``, ``build_s`` and ``index_mb``.
    """
    check_embeddings(data, "serving_table: data")
    check_embeddings(queries, "serving_table: queries", dim=data.shape[1])
    check_count(k, "k", "serving_table", high=len(data))
    check_count(repeats, "repeats", "serving_table", low=3)
    width = data.shape[1]
    data = unit_rows(data)  # once: every index below shares these unit vectors
    exact = PrefixIndex(data, width, kind="flat")
    truth = exact.search(queries, k)

    def measure(search, **about) -> dict:  # relative recall@k and latency of one way to search
        return dict(about, recall=topk_overlap(truth, search(queries), k), **latency(search, queries, repeats))

    def sizes(index):  # what building an index cost
        return dict(build_s=index.build_seconds, index_mb=index.index_bytes / 2**20)

    groups = [(key, list(group)) for key, group in groupby(configs, key=lambda c: c[:2])]
    groups = [((kind, d), settings) for (kind, d), settings in groups if d is not None or full_width]
    nlist = round(2 * math.sqrt(len(data)))  # IVF's lists: fewer than 4 sqrt(N), so its k-means is faster
    groups = [(g, [c for c in settings if g[0] != "ivf" or c[3] <= nlist]) for g, settings in groups]
    bar = tqdm(
        total=1 + len(brute_force) + sum(len(s) for _, s in groups), desc=desc, unit="setting", disable=desc is None
    )
    rows = [measure(partial(exact.search, k=k), index="exact (flat, full width)", kind="flat", d=width,
                    shortlist=k, effort=None, **sizes(exact))]  # fmt: skip
    bar.update(1)
    del exact  # each index is freed before the next is built: memory stays at one index and the vectors
    give_freed_memory_back()  # and handed back to the system, not kept in the process's heap
    funnel = AdaptiveIndex(data, coarse_dims=sorted({d for d, _ in brute_force}))
    for d, n in brute_force:
        rows.append(measure(partial(funnel.search, k=k, stages=[(d, n)]), index=f"torch brute force on {d} dims, "
                            f"re-rank {n}", kind="torch", d=d, shortlist=n, effort=None, build_s=0.0,
                            index_mb=len(data) * d * 4 / 2**20))  # fmt: skip
        bar.update(1)
    del funnel
    give_freed_memory_back()
    for (kind, d), settings in groups:

        def building(done, n, what=f"building {kind} on {d or width} dims"):
            bar.set_postfix_str(f"{what}: {done:,} of {n:,} rows")

        index = PrefixIndex(data, d or width, kind=kind, nlist=nlist if kind == "ivf" else None, report=building)
        for _, _, n, effort in settings:
            name = f"{kind} on {index.d} dims" + (f", re-rank {n}" if index.d < width else " (full width)")
            bar.set_postfix_str(f"searching {name}, effort {effort}")
            rows.append(measure(partial(index.search, k=k, shortlist=n, effort=effort), index=name, kind=kind,
                                d=index.d, shortlist=n, effort=effort, **sizes(index)))  # fmt: skip
            bar.update(1)
        del index
        give_freed_memory_back()
    bar.close()
    return rows


def best_at(rows: list[dict], target: float) -> dict | None:
    """The fastest prefix index (HNSW or IVF, re-ranked) in a :func:`serving_table` with recall >= ``target``,
    with ``speedup`` over exact search and, where the same index type at full width reached at least its
    recall, ``rigid_ms``: the full-width index's latency at that same recall, read off its curve (linear
    between the two settings around it, so that a coarse grid of settings does not flatter the prefix),
    ``rigid`` and ``rigid_below`` (the full-width rows around it: finding as much or more, and less) and
    ``speedup_over_rigid``; ``None`` if none reached it.

    Example:
        >>> rows = [dict(kind="flat", d=8, median_ms=10.0, recall=1.0), dict(kind="hnsw", d=2, median_ms=0.5,
        ...         recall=0.96), dict(kind="hnsw", d=2, median_ms=0.2, recall=0.9),
        ...         dict(kind="hnsw", d=8, median_ms=0.4, recall=0.94), dict(kind="hnsw", d=8, median_ms=1.2,
        ...         recall=0.98)]
        >>> best = best_at(rows, 0.95)
        >>> best["median_ms"], best["speedup"], round(best["rigid_ms"], 2), round(best["speedup_over_rigid"], 2)
        (0.5, 20.0, 0.8, 1.6)
    """
    rows = _check_rows(rows, "best_at", ("kind", "d", "median_ms", "recall"))
    check_number(target, "target", "best_at", 0, 1)
    exact, width = rows[0], rows[0]["d"]
    prefix = [r for r in rows if r["kind"] in ("hnsw", "ivf") and r["d"] < width and r["recall"] >= target]
    if not prefix:
        return None
    best = dict(min(prefix, key=lambda r: r["median_ms"]))
    best["speedup"] = exact["median_ms"] / best["median_ms"]
    full = [r for r in rows if r["kind"] == best["kind"] and r["d"] == width]
    above = [r for r in full if r["recall"] >= best["recall"]]
    if above:
        hi = min(above, key=lambda r: r["median_ms"])  # the fastest full-width setting that finds as much
        below = [r for r in full if r["recall"] < best["recall"] and r["median_ms"] <= hi["median_ms"]]
        ms = hi["median_ms"]
        if below:  # and the best one that finds less: the full-width index at equal recall lies between them
            lo = max(below, key=lambda r: r["recall"])
            ms = lo["median_ms"] + (hi["median_ms"] - lo["median_ms"]) * (best["recall"] - lo["recall"]) / (
                hi["recall"] - lo["recall"]
            )
            best["rigid_below"] = lo
        best.update(rigid=hi, rigid_ms=ms, speedup_over_rigid=ms / best["median_ms"])
    return best


def _check_rows(rows, where: str, keys) -> list[dict]:
    """:func:`serving_table`'s rows (exact search first), each with ``keys``; else an error naming ``where``."""
    return check_records(rows, "rows", keys, where, "pass serving_table(...)'s rows (exact search first)")


def _times(row: dict, ms: float | None = None) -> dict:
    """A row's latency as :func:`~mrl_lab.evaluation.timing.speed_words` reads it; ``ms``: the same spread, moved
    to another median (a full-width index read off between two settings)."""
    scale = 1.0 if ms is None else ms / row["median_ms"]
    return {"median": row["median_ms"] * scale, "low": row.get("low_ms", row["median_ms"]) * scale,
            "high": row.get("high_ms", row["median_ms"]) * scale}  # fmt: skip


def _versus(a: dict, b: dict, ratio: float, what: str) -> str:
    """ "3.1x faster than X", "1.4x slower than X", or "no measurable difference from X (1.1x)"."""
    words = speed_words(a, b)
    if words == SAME:
        return f"{SAME} from {what} ({ratio:.1f}x is inside the repeats' spread)"
    return f"{ratio if words == 'faster' else 1 / ratio:.1f}x {words} than {what}"


def describe_best(rows: list[dict], target: float) -> str:
    """One line: the fastest prefix index at relative recall >= target, against exact search and full width.
    Faster or slower only where the repeats' spreads do not overlap (:func:`~mrl_lab.evaluation.timing.speed_words`)."""
    best = best_at(_check_rows(rows, "describe_best", ("index", "kind", "d", "effort", "median_ms", "recall")), target)
    if best is None:
        return f"no prefix index reached relative recall@10 >= {target}"
    exact = _versus(_times(best), _times(rows[0]), best["speedup"], "exact")
    line = (f">= {target}: {best['index']} (effort {best['effort']}): recall {best['recall']:.3f}, "
            f"{best['median_ms']:.2f} ms, {exact}")  # fmt: skip
    if "rigid" not in best:
        return line + f"; no {best['kind']} index at full width measured at that recall"
    rigid, ratio = best["rigid"], best["speedup_over_rigid"]
    versus = _versus(_times(best), _times(rigid, best["rigid_ms"]), ratio, f"{rigid['index']} at the same recall")
    where = f"effort {rigid['effort']}, recall {rigid['recall']:.3f}"
    if "rigid_below" in best:
        below = best["rigid_below"]
        where = f"between effort {below['effort']} (recall {below['recall']:.3f}) and {where}"
    return line + f", {versus}; that index: {best['rigid_ms']:.2f} ms ({where})"
