"""Whose prefix finds the neighbours: MRL's, a normal model's cut, or PCA's, through one prefix index.

A funnel's re-rank cannot bring back a neighbour that its prefix stage missed, so the prefix decides
the funnel's recall. :func:`prefix_recall` puts each method's vectors through the same index, on the
same prefix sizes and shortlists, and keeps each query's relative recall (the share of that
method's own exact full-width top ``k`` the funnel returns) in the lab's results table
(:mod:`mrl_lab.evaluation.results`), so that two methods are compared on the same queries with a
paired interval. :func:`compare` gives those leads and their verdicts, :func:`needed` the shortlist
(and bytes read per query) each method needs to reach a recall target, and :func:`verdict_lines`
one line per regime and baseline: where MRL's prefix is ahead, tied or behind.

Example:
    >>> g = torch.Generator().manual_seed(0)
    >>> scale = torch.linspace(3, 0.1, 32)  # the first dims carry the most: a prefix that works
    >>> db = torch.randn(500, 32, generator=g) * scale
    >>> q = db[:20] + 0.1 * torch.randn(20, 32, generator=g) * scale
    >>> results = prefix_recall({"ordered": db, "reversed": db.flip(1)}, {"ordered": q, "reversed": q.flip(1)},
    ...                         sizes=(4,), shortlists=(50,))
    >>> compare(results, 50, method="ordered", baselines=["reversed"])["verdict"].tolist()
    ['ahead']
"""

from __future__ import annotations

import pandas as pd
import torch
from tqdm.auto import tqdm

from mrl_lab.core.checks import check_count, check_embeddings, check_table, check_tensor, rows_where
from mrl_lab.evaluation.results import curves, lead_table, row, table
from mrl_lab.runtime.memory import give_freed_memory_back
from mrl_lab.serving.ann import PrefixIndex, clustered_like
from mrl_lab.serving.funnel import unit_rows

SIZES = (8, 16, 32, 64)  # prefix sizes compared: notebook 04 serves 64 and 128; the regimes look below
SHORTLISTS = (25, 50, 100, 200, 400, 800)  # candidates re-ranked at full width


def metric(shortlist: int, k: int = 10) -> str:
    """The results table's name for relative recall@k at one shortlist.

    >>> metric(100)
    'relative recall@10, shortlist 100'
    """
    return f"relative recall@{k}, shortlist {shortlist}"


def found(truth: torch.Tensor, got: torch.Tensor) -> torch.Tensor:
    """Each query's share of ``truth`` (``(M, k)`` row ids) that ``got`` (``(M, k)``) returns, as ``(M,)`` floats.

    >>> found(torch.tensor([[1, 2], [3, 4]]), torch.tensor([[2, 9], [4, 3]])).tolist()
    [0.5, 1.0]
    """
    check_tensor(truth, "found: truth", ("M", "k"), integers=True)
    check_tensor(got, "found: got", ("M", "k"), integers=True)
    if truth.shape != got.shape:
        raise ValueError(f"found: truth {tuple(truth.shape)} and got {tuple(got.shape)} differ; same queries and k")
    return (truth[:, :, None] == got[:, None, :]).any(dim=2).float().mean(dim=1)


def prefix_recall(corpus: dict, queries: dict, sizes=SIZES, shortlists=SHORTLISTS, k: int = 10, kind: str = "flat",
                  rows: int | None = None, desc: str | None = None) -> pd.DataFrame:  # fmt: skip
    """Each method's relative recall@k through one kind of prefix index, at every size and shortlist.

    Args:
        corpus, queries: ``{method: (N, D) database vectors}`` and ``{method: (M, D) queries}``; each method
            is judged against its own exact full-width search.
        sizes: prefix sizes the index is built on (each below the method's width);
            shortlists: candidates re-ranked at full width (those above N are skipped).
        kind: :class:`~mrl_lab.serving.ann.PrefixIndex`'s kind for every method: ``"flat"`` scans every
            prefix (so only the prefix's order differs between methods), ``"hnsw"`` walks a graph.
        rows: grow each corpus to this many rows with :func:`~mrl_lab.serving.ann.clustered_like`
            (drawn around its own clusters with its default seed, as notebook 04's section 3 draws them), one
            method at a time, so that one database sits in memory at once; None serves the corpus as it is.
        desc: names a progress bar over methods and sizes (None: none).

    Returns:
        a results table: ``method``, ``size``, ``metric`` (:func:`metric`), ``value`` (the mean over
        queries) and ``items`` (each query's share, for :func:`compare`'s paired intervals).
    """
    if not isinstance(corpus, dict) or not isinstance(queries, dict) or not corpus:
        raise TypeError(f"prefix_recall: corpus and queries must be non-empty dicts {{method: vectors}}; got "
                        f"{type(corpus).__name__} and {type(queries).__name__}")  # fmt: skip
    if set(corpus) != set(queries):
        raise ValueError(f"prefix_recall: corpus has {sorted(corpus)}, queries {sorted(queries)}; give both for each")
    out, bar = [], tqdm(total=len(corpus) * len(sizes), desc=desc, unit="index", disable=desc is None)
    for method, real in corpus.items():
        check_embeddings(real, f"prefix_recall: corpus[{method!r}]")
        width = real.shape[1]
        if not all(1 <= d < width for d in sizes):
            raise ValueError(f"prefix_recall: sizes {tuple(sizes)} must lie in 1..{width - 1} ({method}'s width)")
        check_embeddings(queries[method], f"prefix_recall: queries[{method!r}]", dim=width)
        check_count(k, "k", "prefix_recall", high=len(real))
        grow = rows is not None and rows > len(real)
        n_rows = rows if grow else len(real)
        if not any(k <= n <= n_rows for n in shortlists):
            raise ValueError(f"prefix_recall: no shortlist in {tuple(shortlists)} lies in {k}..{n_rows} (k..database "
                             "rows); pass one that does")  # fmt: skip
        bar.set_postfix_str(f"{method}: drawing rows" if grow else method)
        data = unit_rows(torch.cat([real, clustered_like(real, rows - len(real))]) if grow else real)
        q = queries[method]
        truth = PrefixIndex(data, width, kind="flat").search(q, k)  # exact full-width search: the reference
        for d in sizes:
            bar.set_postfix_str(f"{method}: {kind} index on {d} dims")
            index = PrefixIndex(data, d, kind=kind)
            for n in (n for n in shortlists if k <= n <= len(data)):
                got = index.search(q, k, shortlist=n, effort=n)
                out.append(row(method, d, metric(n, k), found(truth, got)))
            del index
            bar.update(1)
        del data
        give_freed_memory_back()
    bar.close()
    return table(out)


def compare(results: pd.DataFrame, shortlist: int, k: int = 10, method: str = "MRL", baselines=None) -> pd.DataFrame:
    """``method``'s relative recall minus each baseline's at one shortlist, every size, with paired 95 % intervals.

    Returns:
        one row per (baseline, size): both recalls, the lead, ``95% low``, ``95% high`` and ``verdict``
        (``"ahead"``, ``"tied"`` or ``"behind"``: :func:`~mrl_lab.evaluation.results.verdict`).
    """
    check_table(results, ["method", "size", "metric", "value", "items"], "compare", "pass prefix_recall(...)'s table")
    name = metric(shortlist, k)
    rows_where(results, "metric", name, "compare")
    baselines = list(baselines or [m for m in dict.fromkeys(results["method"]) if m != method])
    leads = lead_table(results, name, method, baselines)
    values = curves(results, name)
    leads.insert(2, method, [values[method][d] for d in leads["size"]])
    leads.insert(3, "baseline's", [values[b][d] for b, d in zip(leads["baseline"], leads["size"])])
    return leads.rename(columns={f"{name} lead": "lead"})


def needed(results: pd.DataFrame, target: float = 0.95, k: int = 10, rows: int | None = None,
           width: int | None = None) -> pd.DataFrame:  # fmt: skip
    """The shortest shortlist with which each method reaches mean relative recall >= ``target``, per prefix size.

    With ``rows`` and ``width`` (the database's rows and full width) it adds ``MB per query``: what a flat
    prefix index reads, every row's prefix and then the shortlist at full width (4-byte floats).

    Returns:
        one row per (method, size): ``shortlist`` (None where no shortlist measured reached it) and the recall.
    """
    check_table(results, ["method", "size", "metric", "value"], "needed", "pass prefix_recall(...)'s table")
    prefix = f"relative recall@{k}, shortlist "
    measured = results[results["metric"].str.startswith(prefix)]
    if measured.empty:
        raise ValueError(f"needed: the table has no {prefix!r}... rows; pass prefix_recall(..., k={k})'s table")
    out = []
    for (method, d), part in measured.groupby(["method", "size"], sort=False):
        reached = sorted((int(m.removeprefix(prefix)), v) for m, v in zip(part["metric"], part["value"]) if v >= target)
        n, value = reached[0] if reached else (None, None)
        entry = {"method": method, "size": d, "shortlist": n, "recall": value}
        if rows is not None and width is not None:
            entry["MB per query"] = None if n is None else (rows * d + n * width) * 4 / 2**20
        out.append(entry)
    return pd.DataFrame(out)


def side_by_side(results: dict[str, pd.DataFrame], shortlist: int, target: float = 0.95, k: int = 10) -> pd.DataFrame:
    """One table for several regimes (``{regime: prefix_recall's table}``): per regime and prefix size, each
    method's relative recall@k at ``shortlist``, then the shortest shortlist with which it reaches ``target``
    (:func:`needed`; empty where none measured did)."""
    if not isinstance(results, dict) or not results:
        raise ValueError(f"side_by_side: results={results!r}; pass {{regime: prefix_recall(...)'s table}}, one or more")
    parts = []
    for regime, r in results.items():
        recall = pd.DataFrame(curves(r, metric(shortlist, k)))
        reach = needed(r, target, k).pivot(index="size", columns="method", values="shortlist")[list(recall.columns)]
        reach = reach.astype("Int64")  # whole shortlists, <NA> where none reached the target
        both = pd.concat({f"recall, shortlist {shortlist}": recall, f"shortlist for {target}": reach}, axis=1)
        both.index = pd.MultiIndex.from_product([[regime], both.index], names=["regime", "dims"])
        parts.append(both)
    return pd.concat(parts)


def _lead(r) -> str:
    """One size's lead, in points (pt) with its interval, from a :func:`compare` row (or just the size, without one)."""
    if "lead" not in r:
        return f"{r['size']} dims"
    return f"{r['size']} dims: {100 * r['lead']:+.1f} pt [{100 * r['95% low']:+.1f}, {100 * r['95% high']:+.1f}]"


def verdict_lines(comparisons: dict[str, pd.DataFrame], method: str = "MRL") -> list[str]:
    """One line per regime and baseline from :func:`compare`'s tables: the sizes where ``method`` is ahead,
    tied and behind; then one line per baseline saying where (if anywhere) ``method``'s prefix leads it, and by
    how many points (with the 95 % interval).

    >>> t = pd.DataFrame({"baseline": ["PCA", "PCA"], "size": [8, 16], "verdict": ["ahead", "tied"]})
    >>> verdict_lines({"one corpus": t})
    ['one corpus: MRL vs PCA: ahead at 8 dims; tied at 16 dims', 'MRL ahead of PCA at: one corpus (8 dims)']
    """
    if not isinstance(comparisons, dict) or not comparisons:
        raise ValueError(
            f"verdict_lines: comparisons={comparisons!r}; pass {{regime: compare(...)'s table}}, one or more"
        )
    lines, ahead = [], {}
    for regime, t in comparisons.items():
        for baseline, part in t.groupby("baseline", sort=False):
            sizes = list(zip(part["size"], part["verdict"]))
            by = {v: [str(d) for d, w in sizes if w == v] for v in ("ahead", "tied", "behind")}
            said = [f"{v} at {', '.join(ds)} dims" for v, ds in by.items() if ds]
            lines.append(f"{regime}: {method} vs {baseline}: " + "; ".join(said))
            where = ahead.setdefault(baseline, [])
            if by["ahead"]:
                where.append(f"{regime} ({'; '.join(_lead(r) for _, r in part.iterrows() if r['verdict'] == 'ahead')})")
    for baseline, where in ahead.items():
        lines.append(f"{method} ahead of {baseline} at: " + ("; ".join(where) if where else "nowhere in this run"))
    return lines
