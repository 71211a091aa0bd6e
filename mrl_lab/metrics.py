"""Metrics that work on any embeddings: search, 1-NN and linear-probe accuracy (with bootstrap
intervals), recall@k, the recall check (top-k overlap) and the knee of a size/score curve."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .budget import default_device
from .nesting import check_dims, truncate

# Queries scored at a time by exact search. It bounds memory, and a score block that stays near
# the CPU's caches is faster: 512 queries against 10,000 rows took half the time of 4,096 here.
QUERY_CHUNK = 512


def check_embeddings(x: torch.Tensor, name: str = "embeddings") -> torch.Tensor:
    """Raise a clear error unless ``x`` is a non-empty 2-D tensor of finite numbers; return it.

    Example:
        >>> check_embeddings(torch.tensor([[float("nan"), 1.0]]), "queries")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: queries contain 1 NaN/inf value(s) (first at row 0); fix the model or drop those rows ...
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(x).__name__}")
    if x.ndim != 2:
        raise ValueError(f"{name} must have shape (N, dim); got shape {tuple(x.shape)}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{name} are empty (shape {tuple(x.shape)}); pass at least one row of at least one number")
    bad = ~torch.isfinite(x)
    if bad.any():
        row = int(bad.any(dim=1).nonzero()[0])
        raise ValueError(
            f"{name} contain {int(bad.sum())} NaN/inf value(s) (first at row {row}); "
            "fix the model or drop those rows before measuring"
        )
    return x


def check_labels(labels, rows: int, name: str, where: str) -> torch.Tensor:
    """Raise a clear error unless ``labels`` is a 1-D tensor with one entry per row (``rows``); return it.

    Example:
        >>> check_labels(torch.tensor([0, 1]), 3, "test_y", "knn_accuracy")
        Traceback (most recent call last):
        ...
        ValueError: knn_accuracy: test_y has shape (2,); it needs one entry per row: shape (3,)
    """
    shape = tuple(labels.shape) if isinstance(labels, torch.Tensor) else type(labels).__name__
    if not isinstance(labels, torch.Tensor) or labels.ndim != 1 or len(labels) != rows:
        raise ValueError(f"{where}: {name} has shape {shape}; it needs one entry per row: shape ({rows},)")
    return labels


def search(
    queries: torch.Tensor,
    database: torch.Tensor,
    k: int,
    exclude_self: bool = False,
    normalize: bool = True,
    chunk: int = QUERY_CHUNK,
    device=None,
):
    """Exact search: the indices of each query's ``k`` most similar database rows.

    Args:
        queries: ``(M, d)``; database: ``(N, d)``.
        k: neighbours per query, best first.
        exclude_self: queries *are* the database (same rows); skip each row's match with itself.
        normalize: cosine similarity (both sides L2-normalised here, the default), or ``False``
            for the raw dot product, as an inner-product index scores vectors as stored.
        chunk: queries scored at a time (see ``QUERY_CHUNK``).
        device: where to compute (default: a CUDA GPU when there is one, else the CPU).

    Returns:
        ``(M, k)`` int64 indices into ``database``, on the CPU.

    Example:
        >>> db = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]])
        >>> search(torch.tensor([[1.0, 0.1]]), db, k=2)
        tensor([[0, 2]])
    """
    check_embeddings(queries, "queries")
    check_embeddings(database, "database")
    if queries.shape[1] != database.shape[1]:
        raise ValueError(f"search: queries have {queries.shape[1]} features but the database has {database.shape[1]}")
    if not 1 <= k <= len(database) - exclude_self:
        raise ValueError(f"search: k={k} is outside 1..{len(database) - exclude_self} (database rows); lower k")
    device = torch.device(device) if device is not None else default_device()
    q, db = queries.to(device, torch.float32), database.to(device, torch.float32)
    if normalize:
        q, db = F.normalize(q, dim=1), F.normalize(db, dim=1)
    out = []
    for start in range(0, len(q), chunk):
        scores = q[start : start + chunk] @ db.T
        if exclude_self:
            rows = torch.arange(len(scores), device=device)
            scores[rows, rows + start] = -math.inf
        out.append(scores.topk(k, dim=1).indices.cpu())
    return torch.cat(out)


def knn_correct(train_z, train_y, test_z, test_y, k: int = 1, normalize: bool = True) -> torch.Tensor:
    """Which test rows ``k``-nearest-neighbour classification (majority vote) gets right: a bool tensor.

    The paper's 1-NN metric: needs no training at any size, so it measures the vectors themselves.
    Cosine similarity by default; ``normalize=False`` ranks by raw dot product (see :func:`search`).
    Per-row results, not just their mean, are what an interval needs (:func:`accuracy_interval`).

    Example:
        >>> train_z, train_y = torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 1])
        >>> knn_correct(train_z, train_y, torch.tensor([[0.9, 0.2], [0.1, 0.8]]), torch.tensor([0, 0]))
        tensor([ True, False])
    """
    neighbours = search(test_z, train_z, k, normalize=normalize)
    check_labels(train_y, len(train_z), "train_y", "knn_accuracy")
    check_labels(test_y, len(test_z), "test_y", "knn_accuracy")
    votes = train_y[neighbours]
    pred = votes[:, 0] if k == 1 else torch.mode(votes, dim=1).values
    return pred == test_y


def nearest_by_prefix(
    train_z: torch.Tensor, test_z: torch.Tensor, sizes, chunk: int = QUERY_CHUNK, desc: str | None = None
) -> dict:
    """For every size ``d``: each test row's nearest training row by cosine of the first ``d`` dims.

    The same as :func:`search` with ``k=1`` on ``truncate(z, d)`` at each size, in one pass over
    the dims: the dot product over the first ``d`` dims is the one over the first ``d'`` dims plus
    the dims in between, and the cut training rows' lengths are running sums of squares. So the
    matrix products of a dense grid add up to one full-width product; what each size still costs
    is one pass over the scores (46 sizes, 10,000 x 10,000: about 9 s on 2 cores, 2026-11-28).
    (The query's own length does not change which training row is nearest: never computed.)

    Args:
        train_z, test_z: ``(N, D)`` and ``(M, D)``, already centred if wanted (cutting commutes
            with subtracting a mean, not with normalising: pass un-normalised vectors).
        sizes: increasing sizes ``<= D``.
        chunk: test rows per block; desc: if given, a progress bar over the blocks, so named.

    Returns:
        ``{d: (M,) int64 index of the nearest training row}``.

    Example:
        >>> train = torch.tensor([[1.0, 0.0, 0.0], [0.6, 0.0, 0.8]])
        >>> nearest_by_prefix(train, torch.tensor([[1.0, 0.1, 0.9]]), [1, 3])
        {1: tensor([0]), 3: tensor([1])}
    """
    check_embeddings(train_z, "nearest_by_prefix: train_z")
    check_embeddings(test_z, "nearest_by_prefix: test_z")
    if train_z.shape[1] != test_z.shape[1]:
        raise ValueError(f"nearest_by_prefix: train_z has {train_z.shape[1]} dims but test_z has {test_z.shape[1]}")
    sizes = check_dims(sizes, train_z.shape[1], where="nearest_by_prefix")
    train_z, test_z = train_z.float(), test_z.float()
    lengths = train_z.pow(2).cumsum(dim=1).sqrt().clamp_min(1e-12)  # column d-1: each row's length over d dims
    inverse_lengths = lengths.reciprocal().T.contiguous()  # row d-1, for size d
    found = {d: [] for d in sizes}
    block, scores = torch.empty(chunk, len(train_z)), torch.empty(chunk, len(train_z))  # reused: no allocator churn
    for start in tqdm(range(0, len(test_z), chunk), desc=desc, disable=desc is None, leave=False):
        q, done = test_z[start : start + chunk], 0
        dots, scores = block[: len(q)].zero_(), scores[: len(q)]
        for d in sizes:
            dots.addmm_(q[:, done:d], train_z[:, done:d].T)  # add the dims between the last size and this one
            done = d
            found[d].append(torch.mul(dots, inverse_lengths[d - 1], out=scores).argmax(dim=1))
    return {d: torch.cat(parts) for d, parts in found.items()}


def knn_accuracy(train_z, train_y, test_z, test_y, k: int = 1, normalize: bool = True) -> float:
    """Accuracy of ``k``-nearest-neighbour classification: the mean of :func:`knn_correct`.

    Example:
        >>> train_z, train_y = torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 1])
        >>> knn_accuracy(train_z, train_y, torch.tensor([[0.9, 0.2], [0.1, 0.8]]), torch.tensor([0, 0]))
        0.5
    """
    return knn_correct(train_z, train_y, test_z, test_y, k, normalize).float().mean().item()


def head_correct(logits, labels: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
    """Which rows the logits classify right (bool); for a tuple of logits, a list, one per size."""
    if isinstance(logits, (tuple, list)):
        return [head_correct(one, labels) for one in logits]
    check_embeddings(logits, "head_accuracy: logits")
    check_labels(labels, len(logits), "labels", "head_accuracy")
    return logits.argmax(dim=1) == labels


def head_accuracy(logits, labels: torch.Tensor) -> list[float] | float:
    """Top-1 accuracy of logits; for a tuple of logits (one per nesting size) a list, one per size.

    Example:
        >>> head_accuracy(torch.tensor([[2.0, 1.0], [0.0, 3.0]]), torch.tensor([0, 0]))
        0.5
    """
    if isinstance(logits, (tuple, list)):
        return [head_accuracy(one, labels) for one in logits]
    return head_correct(logits, labels).float().mean().item()


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
        as fractions, ready for :func:`~mrl_lab.plots.plot_vs_size`.

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


def linear_probe_correct(train_z, train_y, test_z, test_y, max_iter: int = 1000) -> torch.Tensor:
    """Fit a logistic-regression probe (scikit-learn) on training embeddings; which test rows it gets right.

    The embeddings are L2-normalised and standardised first.

    Example:
        >>> z = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
        >>> linear_probe_correct(z, torch.tensor([0, 0, 1, 1]), z, torch.tensor([0, 0, 1, 1])).tolist()
        [True, True, True, True]
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    check_embeddings(train_z, "train_z")
    check_embeddings(test_z, "test_z")
    if train_z.shape[1] != test_z.shape[1]:
        raise ValueError(
            f"linear_probe_correct: train_z has {train_z.shape[1]} features but test_z has {test_z.shape[1]}"
        )
    check_labels(train_y, len(train_z), "train_y", "linear_probe_correct")
    check_labels(test_y, len(test_z), "test_y", "linear_probe_correct")
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter))
    probe.fit(F.normalize(train_z.float(), dim=1).numpy(), train_y.numpy())
    return torch.from_numpy(probe.predict(F.normalize(test_z.float(), dim=1).numpy())) == test_y


def recall_at_k(neighbours: torch.Tensor, targets: torch.Tensor, k: int) -> float:
    """Share of queries whose one relevant item (``targets[i]``) is among their first ``k`` neighbours.

    Args:
        neighbours: ``(M, >=k)`` ranked indices, e.g. from :func:`search`.
        targets: ``(M,)`` the index of each query's relevant item.

    Example:
        >>> recall_at_k(torch.tensor([[3, 1], [0, 2]]), torch.tensor([1, 1]), k=2)
        0.5
    """
    if not 1 <= k <= neighbours.shape[1]:
        raise ValueError(f"recall_at_k: k={k} is outside 1..{neighbours.shape[1]} (neighbours per query)")
    check_labels(targets, len(neighbours), "targets", "recall_at_k")
    return (neighbours[:, :k] == targets[:, None]).any(dim=1).float().mean().item()


def target_ranks(queries: torch.Tensor, database: torch.Tensor, targets: torch.Tensor, chunk: int = QUERY_CHUNK):
    """The rank (1 = best) of each query's one relevant database row under cosine similarity.

    Ties count against the target (a tie with another row ranks it below that row), so a model
    that maps everything to one point does not score well. recall@k is ``(ranks <= k).mean()``
    and the mean reciprocal rank (MRR) is ``(1 / ranks).mean()``.

    Args:
        queries: ``(M, d)``; database: ``(N, d)``; targets: ``(M,)`` index of each query's relevant row.

    Example:
        >>> db = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]])
        >>> target_ranks(torch.tensor([[1.0, 0.1], [1.0, 0.1]]), db, torch.tensor([0, 1]))
        tensor([1, 3])
    """
    check_embeddings(queries, "queries")
    check_embeddings(database, "database")
    if queries.shape[1] != database.shape[1] or len(targets) != len(queries):
        raise ValueError(
            f"target_ranks: queries {tuple(queries.shape)}, database {tuple(database.shape)} and "
            f"{len(targets)} targets do not fit: same width, one target per query"
        )
    if len(targets) and not 0 <= int(targets.min()) <= int(targets.max()) < len(database):
        raise ValueError(
            f"target_ranks: targets must index database rows 0..{len(database) - 1}; got {int(targets.min())}.."
            f"{int(targets.max())}"
        )
    q, db = F.normalize(queries.float(), dim=1), F.normalize(database.float(), dim=1)
    out = []
    for start in range(0, len(q), chunk):
        scores = q[start : start + chunk] @ db.T
        mine = scores.gather(1, targets[start : start + chunk, None])
        out.append((scores >= mine).sum(dim=1))
    return torch.cat(out)


def retrieval_scores(ranks: torch.Tensor) -> dict[str, float]:
    """recall@1, recall@10 and the mean reciprocal rank from each query's target rank (1 = best).

    Example:
        >>> retrieval_scores(torch.tensor([1, 2, 20]))
        {'recall@1': 0.3333333432674408, 'recall@10': 0.6666666865348816, 'MRR': 0.5166666507720947}
    """
    return {
        "recall@1": (ranks <= 1).float().mean().item(),
        "recall@10": (ranks <= 10).float().mean().item(),
        "MRR": (1.0 / ranks).mean().item(),
    }


def hits_by_size(queries: torch.Tensor, database: torch.Tensor, sizes, k: int = 10) -> dict[int, torch.Tensor]:
    """Whether query ``i`` finds database row ``i`` among its top ``k`` (bool per query), at each size.

    Both sides are cut to ``d`` dims and re-normalised. Per-query results, so two methods can be
    compared with a paired interval (:func:`accuracy_interval`); their means are recall@k.

    Example:
        >>> z = torch.eye(4)
        >>> {d: h.tolist() for d, h in hits_by_size(z, z, [1, 4], k=1).items()}
        {1: [True, False, False, False], 4: [True, True, True, True]}
    """
    targets = torch.arange(len(queries))
    return {d: target_ranks(truncate(queries, d), truncate(database, d), targets) <= k for d in sizes}


def spearman(predicted, truth) -> float:
    """Spearman rank correlation (scipy), the STS benchmark's score: do similarities rank pairs as people do?

    Example:
        >>> spearman(torch.tensor([0.1, 0.5, 0.3]), torch.tensor([1.0, 5.0, 2.0]))
        1.0
    """
    from scipy.stats import spearmanr

    predicted, truth = torch.as_tensor(predicted).float(), torch.as_tensor(truth).float()
    if predicted.shape != truth.shape or predicted.ndim != 1:
        raise ValueError(
            f"spearman: need two 1-D tensors of one length; got {tuple(predicted.shape)}, {tuple(truth.shape)}"
        )
    if not torch.isfinite(predicted).all():
        raise ValueError("spearman: the predicted similarities contain NaN/inf; check the embeddings")
    for name, x in (("predicted similarities", predicted), ("true scores", truth)):
        if len(x) < 2 or bool((x == x[0]).all()):
            raise ValueError(
                f"spearman: the {name} are all equal ({len(x)} values); a rank correlation needs two ranks"
            )
    return float(spearmanr(predicted.numpy(), truth.numpy()).statistic)


def topk_overlap(full: torch.Tensor, truncated: torch.Tensor, k: int) -> float:
    """The recall check: the share of each query's full-width top-``k`` neighbours that a search with
    truncated vectors still finds, averaged over queries. 1.0 means cutting changed nothing.

    Run it on your own corpus before shipping a smaller size.

    Args:
        full, truncated: ``(M, >=k)`` neighbour indices from full-width and truncated searches.
        k: how many neighbours to compare.

    Example:
        >>> round(topk_overlap(torch.tensor([[1, 2, 3]]), torch.tensor([[3, 1, 7]]), k=3), 3)
        0.667
    """
    if full.shape[0] != truncated.shape[0]:
        raise ValueError(f"topk_overlap: {full.shape[0]} queries in full but {truncated.shape[0]} in truncated")
    if not 1 <= k <= min(full.shape[1], truncated.shape[1]):
        raise ValueError(f"topk_overlap: k={k} is outside 1..{min(full.shape[1], truncated.shape[1])}")
    a, b = full[:, :k], truncated[:, :k]
    shared = (a[:, :, None] == b[:, None, :]).any(dim=2).sum(dim=1)
    return (shared.float() / k).mean().item()


def knee(dims, scores, keep: float = 0.99) -> int:
    """The smallest size whose score is at least ``keep`` times the best score.

    Example:
        >>> knee([8, 16, 32, 64], [0.50, 0.80, 0.89, 0.90], keep=0.95)
        32
    """
    dims = check_dims(dims, where="knee")
    scores = [float(s) for s in scores]
    if len(scores) != len(dims):
        raise ValueError(f"knee: {len(scores)} scores for {len(dims)} sizes; pass one score per size")
    if not all(math.isfinite(s) for s in scores):
        raise ValueError(f"knee: scores must be finite; got {scores}")
    if not 0 < keep <= 1:
        raise ValueError(f"knee: keep={keep} is outside (0, 1]; e.g. keep=0.99 keeps 99 % of the best score")
    if max(scores) < 0:  # keep x best would then lie above the best: no size could reach it
        raise ValueError(f"knee: the best score is {max(scores)} < 0; pass scores where higher is better and >= 0")
    target = keep * max(scores)
    return next(d for d, s in zip(dims, scores) if s >= target)


def recall_check(
    queries: torch.Tensor, corpus: torch.Tensor, sizes, k: int = 10, desc: str | None = None
) -> dict[int, float]:
    """The recall check on your own corpus: at each size, how much of the full-width top-``k`` survives.

    Searches ``corpus`` with full-width vectors once, then with the vectors cut to each size
    (re-normalised), and returns :func:`topk_overlap` per size. Pair it with :func:`knee` to pick
    the smallest size that keeps, say, 90 % of the full-width neighbours.

    Args:
        queries: ``(M, D)`` full-width query embeddings; corpus: ``(N, D)`` full-width documents.
        sizes: the sizes to check (each <= D).
        k: neighbours compared per query; desc: if given, a progress bar over the sizes, so named.

    Example:
        >>> _ = torch.manual_seed(0)
        >>> corpus = torch.randn(200, 16)
        >>> check = recall_check(corpus[:20] + 0.1 * torch.randn(20, 16), corpus, [4, 16], k=5)
        >>> check[16], check[4] < 1.0
        (1.0, True)
    """
    sizes = check_dims(sizes, where="recall_check")
    full = search(queries, corpus, k)
    cut = tqdm(sizes, desc=desc, disable=desc is None, leave=False)
    return {d: topk_overlap(full, search(truncate(queries, d), truncate(corpus, d), k), k) for d in cut}
