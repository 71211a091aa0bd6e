"""Bootstrap intervals: how much a figure, or one method's lead over another, could move with another test set."""

from __future__ import annotations

import torch
from tqdm.auto import tqdm


def accuracy_interval(correct, baseline=None, level: float = 0.95, resamples: int = 2000, seed: int = 0):
    """An accuracy, or its lead over a baseline on the same test rows, with a bootstrap interval.

    The bootstrap redraws the test set (as many rows, with replacement) and recomputes the figure;
    the middle ``level`` of the redrawn figures is the interval: how much the number could move
    with another test set of the same size. For right/wrong results a redraw needs no loop over
    rows: the number of right answers in it is binomial. For a lead, both methods are judged on
    the same redrawn rows (a *paired* bootstrap): only the rows where exactly one is right count,
    so the interval of a difference is much tighter than the two accuracies' own intervals.

    Args:
        correct: bool ``(N,)``, which test rows a method gets right.
        baseline: bool ``(N,)`` for another method on the same rows; then the figure is
            ``accuracy(correct) - accuracy(baseline)``.
        level: the interval's coverage; resamples: redrawn test sets; seed: for the redraws.

    Returns:
        ``(figure, low, high)`` as fractions (``0.012`` is 1.2 points).

    Example:
        >>> right = torch.arange(1000) % 10 < 7  # 70 % right
        >>> acc, low, high = accuracy_interval(right)
        >>> acc, 0.66 < low < 0.68, 0.72 < high < 0.74  # about +-2.8 points on 1,000 rows
        (0.7, True, True)
        >>> accuracy_interval(right, baseline=right)  # the same method: no lead, no doubt
        (0.0, 0.0, 0.0)
    """
    import numpy as np

    correct = _check_correct(correct, "correct")
    n, rng = len(correct), np.random.default_rng(seed)
    if not 0 < level < 1:
        raise ValueError(f"accuracy_interval: level={level}; use a coverage between 0 and 1, e.g. 0.95")
    if baseline is None:
        figure = correct.sum().item() / n
        redrawn = rng.binomial(n, figure, size=resamples) / n
    else:
        baseline = _check_correct(baseline, "baseline")
        if len(baseline) != n:
            raise ValueError(f"accuracy_interval: baseline has {len(baseline)} rows, correct has {n}; "
                             "judge both methods on the same test rows")  # fmt: skip
        only_a, only_b = (correct & ~baseline).sum().item(), (~correct & baseline).sum().item()
        figure = (only_a - only_b) / n
        counts = rng.multinomial(n, [only_a / n, only_b / n, 1 - (only_a + only_b) / n], size=resamples)
        redrawn = (counts[:, 0] - counts[:, 1]) / n
    low, high = np.quantile(redrawn, [(1 - level) / 2, (1 + level) / 2])
    return figure, float(low), float(high)


def interval_curves(correct: dict, level: float = 0.95) -> dict:
    """:func:`accuracy_interval` for whole curves: ``{method: {size: (low, high)}}``.

    Args:
        correct: ``{method: {size: bool tensor}}``, which test rows each method gets right.

    Example:
        >>> right = {"MRL": {8: torch.arange(1000) % 10 < 7}}
        >>> low, high = interval_curves(right)["MRL"][8]
        >>> 0.05 < high - low < 0.06  # about 2 x 2.8 points on 1,000 rows
        True
    """
    return {m: {d: accuracy_interval(c, level=level)[1:] for d, c in curve.items()} for m, curve in correct.items()}


def lead_curves(correct: dict, baseline: str, methods=None, level: float = 0.95) -> tuple[dict, dict]:
    """Each method's lead over ``baseline`` at the sizes both have, with paired bootstrap intervals.

    Args:
        correct: ``{method: {size: bool tensor}}`` on the same test rows.
        baseline: the method to subtract; methods: the ones to compare (default: all others).

    Returns:
        ``(leads, intervals)``: ``{method: {size: lead}}`` and ``{method: {size: (low, high)}}``,
        as fractions, ready for :func:`~mrl_lab.lab.plots.plot_vs_size`.

    Example:
        >>> a, b = torch.tensor([True, True, False, True]), torch.tensor([True, False, False, True])
        >>> leads, _ = lead_curves({"a": {8: a}, "b": {8: b}}, baseline="b")
        >>> leads  # a is right on one row more, of 4
        {'a': {8: 0.25}}
    """
    if baseline not in correct:
        raise ValueError(f"lead_curves: baseline={baseline!r} is not one of {sorted(correct)}")
    base = correct[baseline]
    leads, intervals = {}, {}
    for m in methods or [m for m in correct if m != baseline]:
        figures = {d: accuracy_interval(c, base[d], level=level) for d, c in correct[m].items() if d in base}
        leads[m] = {d: f[0] for d, f in figures.items()}
        intervals[m] = {d: f[1:] for d, f in figures.items()}
    return leads, intervals


def _check_correct(x, name: str) -> torch.Tensor:
    x = torch.as_tensor(x)
    if x.ndim != 1 or len(x) == 0 or x.dtype != torch.bool:
        raise ValueError(f"accuracy_interval: {name} must be a non-empty 1-D bool tensor (which rows are right); "
                         f"got dtype {x.dtype}, shape {tuple(x.shape)}")  # fmt: skip
    return x


def difference(items: dict, a: str, b: str, d: int, metric: str = "recall@10", sts_scores=None, seed: int = 0):
    """``a`` minus ``b`` on ``metric`` at size ``d``, with a 95 % paired bootstrap interval
    (scipy.stats.bootstrap, 1,000 resamples of the test queries or STS-B pairs).

    Returns ``(difference, low, high)``. Both methods are measured on the same items, so the
    interval is about the *difference*, which is much tighter than each score's own interval.
    """
    x, y = items[a][d], items[b][d]
    if metric == "STS-B Spearman":
        data = (x["sims"].numpy(), y["sims"].numpy(), sts_scores.numpy())

        def stat(p, q, gold, axis=-1):
            return _spearman(p, gold, axis) - _spearman(q, gold, axis)
    else:
        per_item = {"recall@10": lambda r: (r <= 10).float(), "MRR": lambda r: 1.0 / r.float()}[metric]
        data = (per_item(x["ranks"]).numpy(), per_item(y["ranks"]).numpy())

        def stat(p, q, axis=-1):
            return p.mean(axis) - q.mean(axis)

    return _paired_interval(data, stat, seed)


def share_kept(items: dict, method: str, d: int, full: int, sts_scores: torch.Tensor, seed: int = 0):
    """The share of its STS-B Spearman at ``full`` dims that ``method`` keeps at ``d`` dims, with a 95 %
    paired bootstrap interval (1,000 resamples of the STS-B pairs, the same pairs for both sizes).

    Returns ``(share, low, high)``. The interval is not small: for notebook 05's MRL fine-tune on
    STS-B's 1,379 test pairs it spans about 3 points (``cpu``, 2026-12-06), so a goal such as "keeps
    97 %" can lie inside it whichever side of it the share falls.
    """
    for size in (d, full):
        if size not in items.get(method, {}):
            raise ValueError(f"share_kept: {method!r} was not measured at {size} dims (measured: "
                             f"{sorted(items.get(method, {}))}); choose d and full from those sizes")  # fmt: skip
    data = (items[method][d]["sims"].numpy(), items[method][full]["sims"].numpy(), sts_scores.numpy())

    def stat(cut, whole, gold, axis=-1):
        return _spearman(cut, gold, axis) / _spearman(whole, gold, axis)

    return _paired_interval(data, stat, seed)


def _paired_interval(data: tuple, stat, seed: int) -> tuple[float, float, float]:
    """``stat(*data)`` and its 95 % percentile interval over 1,000 paired bootstrap resamples (scipy)."""
    from scipy.stats import bootstrap

    ci = bootstrap(data, stat, paired=True, n_resamples=1000, batch=100, method="percentile", random_state=seed)
    return float(stat(*data)), float(ci.confidence_interval.low), float(ci.confidence_interval.high)


def _spearman(x, y, axis=-1):
    """Spearman's rho along ``axis`` (the Pearson correlation of the ranks, ties averaged, as in
    scipy.stats.spearmanr), for a whole batch of bootstrap resamples at once."""
    import numpy as np
    from scipy.stats import rankdata

    a, b = rankdata(x, axis=axis), rankdata(y, axis=axis)
    a, b = a - a.mean(axis, keepdims=True), b - b.mean(axis, keepdims=True)
    return (a * b).sum(axis) / np.sqrt((a * a).sum(axis) * (b * b).sum(axis))


def lead_table(items: dict, method: str, others, sizes, metric: str = "recall@10", sts_scores=None):
    """``method`` minus each of ``others`` at each size, with 95 % bootstrap intervals, as a table
    (pandas): one row per (baseline, size); sizes a baseline lacks are left out."""
    import pandas as pd

    rows = []
    for other in tqdm(others, desc=f"{metric} leads with intervals", leave=False):
        for d in sizes:
            if d in items[method] and d in items.get(other, {}):
                diff, low, high = difference(items, method, other, d, metric, sts_scores)
                rows.append({"baseline": other, "size": d, f"{metric} lead": diff, "95% low": low, "95% high": high})
    return pd.DataFrame(rows)
