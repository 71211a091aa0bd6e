"""Deterministic subsets and splits of a dataset, balanced over its classes."""

from __future__ import annotations

import numbers

import numpy as np
import torch


def balanced_subset(data, n: int, seed: int):
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or not 1 <= n <= len(data):
        raise ValueError(f"subset: n={n!r} is outside 1..{len(data)} (the dataset size); pick a whole n in that range")
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(data), generator=g)
    labels = data.labels[order]
    num_classes = len(data.classes)
    quota = [n // num_classes + (c < n % num_classes) for c in range(num_classes)]
    keep = torch.cat([order[labels == c][: quota[c]] for c in range(num_classes)])
    keep = keep[torch.randperm(len(keep), generator=g)]
    return data.take(keep)


def split_indices(labels: torch.Tensor, fractions, seed: int):
    """Deterministic class-stratified split of ``range(len(labels))`` by ``fractions``."""
    g = torch.Generator().manual_seed(seed)
    parts = [[] for _ in fractions]
    for c in labels.unique().tolist():
        idx = (labels == c).nonzero().flatten()
        idx = idx[torch.randperm(len(idx), generator=g)].tolist()
        edges = np.round(np.cumsum([0, *fractions]) * len(idx)).astype(int)
        for k in range(len(fractions)):
            parts[k] += idx[edges[k] : edges[k + 1]]
    return [sorted(p) for p in parts]
