"""Metrics that work on any embeddings: search, 1-NN and linear-probe accuracy (with bootstrap
intervals), recall@k, the recall check (top-k overlap) and the knee of a size/score curve."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from mrl_lab.core.checks import (
    check_count,
    check_dims,
    check_embeddings,
    check_items,
    check_labels,
    check_number,
    check_tensor,
)
from mrl_lab.core.nesting import truncate
from mrl_lab.evaluation.search import search


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
    check_embeddings(train_z, "knn_accuracy: train_z")
    check_embeddings(test_z, "knn_accuracy: test_z", dim=train_z.shape[1])
    check_labels(train_y, len(train_z), "train_y", "knn_accuracy")
    check_labels(test_y, len(test_z), "test_y", "knn_accuracy")
    check_count(k, "k", "knn_accuracy", high=len(train_z))
    neighbours = search(test_z, train_z, k, normalize=normalize)
    votes = train_y[neighbours]
    pred = votes[:, 0] if k == 1 else torch.mode(votes, dim=1).values
    return pred == test_y


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
        if not logits:
            raise ValueError(
                "head_accuracy: logits is an empty tuple; pass one (N, classes) tensor, or the tuple MRLHead returns"
            )
        return [head_correct(one, labels) for one in logits]
    check_embeddings(logits, "head_accuracy: logits")
    check_labels(labels, len(logits), "labels", "head_accuracy", classes=logits.shape[1])
    return logits.argmax(dim=1) == labels


def head_accuracy(logits, labels: torch.Tensor) -> list[float] | float:
    """Top-1 accuracy of logits; for a tuple of logits (one per nesting size) a list, one per size.

    Example:
        >>> head_accuracy(torch.tensor([[2.0, 1.0], [0.0, 3.0]]), torch.tensor([0, 0]))
        0.5
    """
    if isinstance(logits, (tuple, list)):
        return [one.float().mean().item() for one in head_correct(logits, labels)]
    return head_correct(logits, labels).float().mean().item()


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

    check_embeddings(train_z, "linear_probe_correct: train_z")
    check_embeddings(test_z, "linear_probe_correct: test_z")
    if train_z.shape[1] != test_z.shape[1]:
        raise ValueError(
            f"linear_probe_correct: train_z has {train_z.shape[1]} features but test_z has {test_z.shape[1]}"
        )
    check_labels(train_y, len(train_z), "train_y", "linear_probe_correct")
    check_labels(test_y, len(test_z), "test_y", "linear_probe_correct")
    check_count(max_iter, "max_iter", "linear_probe_correct")
    if len(train_y.unique()) < 2:
        raise ValueError(
            f"linear_probe_correct: train_y holds one class ({train_y[0].item()}); a probe needs two or more"
        )
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
    check_tensor(neighbours, "recall_at_k: neighbours", ("M", "k"), integers=True)
    check_count(k, "k", "recall_at_k", high=neighbours.shape[1])
    check_labels(targets, len(neighbours), "targets", "recall_at_k")
    return (neighbours[:, :k] == targets[:, None]).any(dim=1).float().mean().item()


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


def spearman(predicted, truth) -> float:
    """Spearman rank correlation (see :func:`rank_correlation`), the STS benchmark's score: do similarities
    rank pairs as people do?

    Example:
        >>> round(spearman(torch.tensor([0.1, 0.5, 0.3]), torch.tensor([1.0, 5.0, 2.0])), 6)
        1.0
    """
    predicted, truth = (x.float() for x in check_items("spearman", 2, predicted=predicted, truth=truth))
    for name, x in (("predicted similarities", predicted), ("true scores", truth)):
        if len(x) < 2 or bool((x == x[0]).all()):
            raise ValueError(
                f"spearman: the {name} are all equal ({len(x)} values); a rank correlation needs two ranks"
            )
    return float(rank_correlation(predicted.numpy(), truth.numpy()))


def rank_correlation(x, y, axis: int = -1):
    """Spearman's rho along ``axis``: scipy's Pearson correlation of the ranks (ties averaged), which is
    what ``scipy.stats.spearmanr`` computes, for one pair of arrays or a whole batch of bootstrap resamples.

    Example:
        >>> import numpy as np
        >>> rank_correlation(np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]]), np.array([[1.0, 5.0, 9.0]] * 2))
        array([ 1., -1.])
    """
    from scipy.stats import pearsonr, rankdata

    return pearsonr(rankdata(x, axis=axis), rankdata(y, axis=axis), axis=axis).statistic


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
    check_tensor(full, "topk_overlap: full", ("M", "k"), integers=True)
    check_tensor(truncated, "topk_overlap: truncated", ("M", "k"), integers=True)
    if full.shape[0] != truncated.shape[0]:
        raise ValueError(f"topk_overlap: {full.shape[0]} queries in full but {truncated.shape[0]} in truncated")
    check_count(k, "k", "topk_overlap", high=min(full.shape[1], truncated.shape[1]))
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
    scores = [check_number(s, "scores", "knee") for s in scores]
    if len(scores) != len(dims):
        raise ValueError(f"knee: {len(scores)} scores for {len(dims)} sizes; pass one score per size")
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
    check_embeddings(queries, "recall_check: queries")
    check_embeddings(corpus, "recall_check: corpus", dim=queries.shape[1])
    sizes = check_dims(sizes, queries.shape[1], where="recall_check")
    check_count(k, "k", "recall_check", high=len(corpus))
    full = search(queries, corpus, k)
    cut = tqdm(sizes, desc=desc, disable=desc is None, leave=False)
    return {d: topk_overlap(full, search(truncate(queries, d), truncate(corpus, d), k), k) for d in cut}
