"""Bootstrap intervals: how much a figure, or one method's lead over another, could move with another test set.

The bootstrap redraws the test items (as many, with replacement) and recomputes the figure; the
middle 95 % of the redrawn figures is the interval. For a lead, both methods are judged on the
same redrawn items (a *paired* bootstrap), so the interval of a difference is much tighter than
the two figures' own intervals. :func:`bootstrap` does it for any statistic (scipy's
``bootstrap``, :data:`RESAMPLES` redrawn sets); :func:`accuracy_interval` is the same resampling for
right/wrong items, drawn in closed form (the number of right answers in a redrawn set is binomial),
so it needs no loop and affords twice as many redrawn sets.
"""

from __future__ import annotations

import numpy as np
import torch

from mrl_lab.core.checks import check_callable, check_count, check_items
from mrl_lab.evaluation.metrics import rank_correlation

RESAMPLES = 1000  # redrawn test sets per interval (scipy's bootstrap)


def accuracy_interval(correct, baseline=None, level: float = 0.95, resamples: int = 2 * RESAMPLES, seed: int = 0):
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

    correct = _check_correct(correct, "correct")
    check_count(resamples, "resamples", "accuracy_interval")
    n, rng = len(correct), np.random.default_rng(check_count(seed, "seed", "accuracy_interval", low=0))
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


def bootstrap(data: tuple, stat, seed: int = 0) -> tuple[float, float, float]:
    """``stat(*data)`` and its 95 % percentile interval over paired bootstrap resamples of the items (scipy).

    Args:
        data: arrays of one length, item ``i`` of each belonging together (a query, an STS-B pair).
        stat: ``stat(*arrays, axis=-1)``, vectorised over a batch of resamples along ``axis``.
        seed: for the redraws.

    Example:
        >>> x = np.arange(100.0)
        >>> mean, low, high = bootstrap((x,), lambda a, axis=-1: a.mean(axis))
        >>> mean, bool(40 < low < mean < high < 60)
        (49.5, True)
    """
    from scipy.stats import bootstrap as scipy_bootstrap

    check_callable(stat, "stat", "bootstrap", "lambda a, axis=-1: a.mean(axis)")
    check_items("bootstrap", minimum=2, **{f"data[{i}]": x for i, x in enumerate(data)})
    ci = scipy_bootstrap(data, stat, paired=True, n_resamples=RESAMPLES, batch=100, method="percentile",
                         random_state=seed)  # fmt: skip
    return float(stat(*data)), float(ci.confidence_interval.low), float(ci.confidence_interval.high)


def lead(items, baseline, gold=None, seed: int = 0) -> tuple[float, float, float]:
    """One method's lead over another on the same test items, with a paired 95 % bootstrap interval.

    Args:
        items, baseline: the two methods' per-item results: bool (right or wrong: the lead in
            accuracy or recall, by :func:`accuracy_interval`), float (the lead in their mean, e.g.
            reciprocal ranks for MRR), or, with ``gold``, similarities (the lead in Spearman's rho).
        gold: the true scores of the items, for a rank correlation (STS-B).

    Returns:
        ``(lead, low, high)``.

    Example:
        >>> a, b = torch.tensor([True, True, False, True]), torch.tensor([True, False, False, True])
        >>> lead(a, b)[0]  # a is right on one item more, of 4
        0.25
    """
    if gold is None:
        items, baseline = check_items("lead", 2, items=items, baseline=baseline)
    else:
        items, baseline, gold = check_items("lead", 2, items=items, baseline=baseline, gold=gold)
        data = (items.numpy(), baseline.numpy(), gold.numpy())

        def stat(p, q, truth, axis=-1):
            return rank_correlation(p, truth, axis) - rank_correlation(q, truth, axis)

        return bootstrap(data, stat, seed)
    if items.dtype == torch.bool:
        return accuracy_interval(items, baseline, seed=seed)

    def mean_lead(p, q, axis=-1):
        return p.mean(axis) - q.mean(axis)

    return bootstrap((items.double().numpy(), baseline.double().numpy()), mean_lead, seed)


def share_kept(cut, whole, gold, seed: int = 0) -> tuple[float, float, float]:
    """The share of its full-width Spearman's rho that a method keeps when cut, with a paired 95 % interval
    (the same resampled items at both sizes).

    The interval is not small on STS-B's 1,379 test pairs (``benchmarks/pretrained_text.py``
    prints it for every method at 48 dims), so a goal such as "keeps 97 %" can lie inside it
    whichever side of it the share falls.

    Args:
        cut, whole: per-item similarities at the smaller size and at full width; gold: the true scores.

    Example:
        >>> gold = torch.arange(50.0)
        >>> share_kept(gold, gold, gold)
        (1.0, 1.0, 1.0)
    """
    data = tuple(x.double().numpy() for x in check_items("share_kept", 2, cut=cut, whole=whole, gold=gold))

    def stat(c, w, truth, axis=-1):
        return rank_correlation(c, truth, axis) / rank_correlation(w, truth, axis)

    return bootstrap(data, stat, seed)


def kept_lead(cut, whole, base_cut, base_whole, gold=None, seed: int = 0) -> tuple[float, float, float]:
    """How much more of its full-width figure one method keeps when cut than a baseline does, with a paired
    95 % interval (the same resampled items for all four sets of results).

    The share kept is the figure at the smaller size over the figure at full width: the mean of the
    per-item results (right/wrong for recall or accuracy), or, with ``gold``, Spearman's rho of the
    similarities against the true scores (as :func:`share_kept`).

    Args:
        cut, whole: the method's per-item results at the smaller size and at full width;
        base_cut, base_whole: the baseline's, on the same items; gold: the true scores, for Spearman.

    Example:
        >>> whole = torch.ones(100, dtype=torch.bool)
        >>> lead, low, high = kept_lead(torch.arange(100) < 80, whole, torch.arange(100) < 50, whole)
        >>> round(lead, 3), bool(low < lead < high)  # keeps 80 % against 50 %: 0.3 more of it
        (0.3, True)
    """
    results = dict(cut=cut, whole=whole, base_cut=base_cut, base_whole=base_whole)
    if gold is not None:
        results["gold"] = gold
    arrays = tuple(x.double().numpy() for x in check_items("kept_lead", 2, **results))
    if gold is None:

        def stat(c, w, bc, bw, axis=-1):
            return c.mean(axis) / w.mean(axis) - bc.mean(axis) / bw.mean(axis)

        return bootstrap(arrays, stat, seed)

    def rho_stat(c, w, bc, bw, truth, axis=-1):
        rho = [rank_correlation(x, truth, axis) for x in (c, w, bc, bw)]
        return rho[0] / rho[1] - rho[2] / rho[3]

    return bootstrap(arrays, rho_stat, seed)


def _check_correct(x, name: str) -> torch.Tensor:
    x = torch.as_tensor(x)
    if x.ndim != 1 or len(x) == 0 or x.dtype != torch.bool:
        raise ValueError(f"accuracy_interval: {name} must be a non-empty 1-D bool tensor (which rows are right); "
                         f"got dtype {x.dtype}, shape {tuple(x.shape)}")  # fmt: skip
    return x
