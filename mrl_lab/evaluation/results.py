"""The one shape every experiment's results take: a tidy table, one row per (method, size, metric).

Columns: ``method``, ``size``, ``metric``, ``value``, ``low`` and ``high`` (its 95 % bootstrap
interval, NaN where none was computed) and ``items``: the per-item results behind the value
(which test rows are right, each query's reciprocal rank, each STS-B pair's similarity), so that
two methods can be compared on the same items with a paired interval (:func:`leads`). The plots
and the notebooks read the table with :func:`curves`, :func:`spans` and :func:`leads`.
"""

from __future__ import annotations

import math

import pandas as pd
import torch

from mrl_lab.core.checks import check_count, check_table, rows_where
from mrl_lab.evaluation.intervals import accuracy_interval, lead

COLUMNS = ["method", "size", "metric", "value", "low", "high", "items"]


def row(method: str, size: int, metric: str, items=None, value: float | None = None, interval: bool = False) -> dict:
    """One row of a results table.

    Args:
        items: the per-item results; ``value`` defaults to their mean.
        interval: add the 95 % interval of a right/wrong (bool) mean
            (:func:`~mrl_lab.evaluation.intervals.accuracy_interval`).

    Example:
        >>> r = row("MRL", 8, "recall@10", torch.tensor([True, False, True, True]))
        >>> r["value"], math.isnan(r["low"])
        (0.75, True)
    """
    size = check_count(size, "size", "row")
    if items is None and value is None:
        raise ValueError(f"row: {method} at {size} dims, {metric}: give items or a value")
    if items is None and interval:
        raise ValueError(f"row: {method} at {size} dims, {metric}: an interval needs items (the per-item results)")
    if items is not None and len(items) == 0:
        raise ValueError(f"row: {method} at {size} dims, {metric}: items are empty; give one result per test item")
    if value is None:
        value = torch.as_tensor(items).float().mean().item()  # float32, like every other mean the lab prints
    low = high = math.nan
    if interval:
        _, low, high = accuracy_interval(items)
    return {"method": method, "size": size, "metric": metric, "value": float(value), "low": low, "high": high,
            "items": items}  # fmt: skip


def table(rows) -> pd.DataFrame:
    """A results table from :func:`row` dicts (an empty one has the columns too).

    Example:
        >>> table([row("MRL", 8, "acc", value=0.5)])[["method", "size", "metric", "value"]]
          method  size metric  value
        0    MRL     8    acc    0.5
    """
    return pd.DataFrame(list(rows), columns=COLUMNS)


def _select(results: pd.DataFrame, metric: str, methods, where: str) -> pd.DataFrame:
    """The rows of one metric (and of ``methods``, if given), or an error naming ``where`` and what the table has."""
    check_table(results, COLUMNS, where, "pass a results table (mrl_lab.evaluation.results.table)")
    chosen = rows_where(results, "metric", metric, where)
    if methods is not None:
        missing = [m for m in methods if m not in set(chosen["method"])]
        if missing:
            raise ValueError(
                f"{where}: no {metric!r} results for {missing}; the table has {sorted(set(chosen['method']))}"
            )
        chosen = chosen[chosen["method"].isin(methods)]
    return chosen


def _by_method(results: pd.DataFrame, metric: str, methods, where: str):
    """``(method, its rows)`` for one metric, methods in the table's order (or ``methods``')."""
    chosen = _select(results, metric, methods, where)
    for m in methods or list(dict.fromkeys(chosen["method"])):
        yield m, chosen[chosen["method"] == m]


def curves(results: pd.DataFrame, metric: str, methods=None) -> dict[str, dict[int, float]]:
    """``{method: {size: value}}`` of one metric, methods in the table's order (or ``methods``'), for the plots.

    Example:
        >>> t = table([row("MRL", 8, "acc", value=0.5), row("MRL", 16, "acc", value=0.7)])
        >>> curves(t, "acc")
        {'MRL': {8: 0.5, 16: 0.7}}
    """
    return {m: dict(zip(part["size"], part["value"])) for m, part in _by_method(results, metric, methods, "curves")}


def spans(results: pd.DataFrame, metric: str, methods=None) -> dict[str, dict[int, tuple[float, float]]]:
    """``{method: {size: (low, high)}}``: the 95 % intervals of one metric, for the plots' error bars."""
    return {
        m: dict(zip(part["size"], zip(part["low"], part["high"])))
        for m, part in _by_method(results, metric, methods, "spans")
    }


def leads(results: pd.DataFrame, metric: str, baseline: str, methods, sizes=None, gold=None) -> tuple[dict, dict]:
    """Each of ``methods`` minus ``baseline`` on ``metric`` at the sizes both have, with paired 95 % intervals
    (:func:`~mrl_lab.evaluation.intervals.lead`; ``gold``: the true scores, for a rank correlation).

    Returns:
        ``(leads, intervals)``: ``{method: {size: lead}}`` and ``{method: {size: (low, high)}}``, as
        fractions, ready for :func:`~mrl_lab.lab.plots.plot_vs_size`.

    Example:
        >>> a, b = torch.tensor([True, True, False, True]), torch.tensor([True, False, False, True])
        >>> t = table([row("a", 8, "acc", a), row("b", 8, "acc", b)])
        >>> leads(t, "acc", "b", ["a"])[0]
        {'a': {8: 0.25}}
    """
    base = _items(results, metric, baseline, "leads")
    out, intervals = {}, {}
    for method in methods:
        mine = _items(results, metric, method, "leads")
        shared = [d for d in mine if d in base and (sizes is None or d in sizes)]
        figures = {d: lead(mine[d], base[d], gold) for d in shared}
        out[method] = {d: f[0] for d, f in figures.items()}
        intervals[method] = {d: f[1:] for d, f in figures.items()}
    return out, intervals


def lead_table(results: pd.DataFrame, metric: str, method: str, baselines, sizes=None, gold=None) -> pd.DataFrame:
    """``method`` minus each of ``baselines`` at each size, with 95 % paired intervals and a verdict, as a table:
    one row per (baseline, size); sizes a baseline lacks are left out."""
    rows = []
    for other in baselines:
        diff, span = leads(results, metric, other, [method], sizes, gold)
        for d, x in diff[method].items():
            low, high = span[method][d]
            rows.append({"baseline": other, "size": d, f"{metric} lead": x, "95% low": low, "95% high": high,
                         "verdict": verdict(low, high)})  # fmt: skip
    return pd.DataFrame(rows)


def verdict(low: float, high: float) -> str:
    """``"ahead"`` when a lead's interval is above 0, ``"behind"`` when below, else ``"tied"``.

    Example:
        >>> verdict(0.01, 0.03), verdict(-0.01, 0.02), verdict(-0.03, -0.01)
        ('ahead', 'tied', 'behind')
    """
    return "ahead" if low > 0 else "behind" if high < 0 else "tied"


def items(results: pd.DataFrame, metric: str, method: str) -> dict:
    """``{size: per-item results}`` of one method on one metric (e.g. each STS-B pair's cosine)."""
    return _items(results, metric, method, "items")


def _items(results: pd.DataFrame, metric: str, method: str, where: str) -> dict:
    chosen = _select(results, metric, [method], where)
    return dict(zip(chosen["size"], chosen["items"]))
