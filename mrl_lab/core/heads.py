"""Matryoshka classification heads: one linear classifier per nested size (MRL) or one shared
weight matrix whose leading columns serve every size (MRL-E)."""

from __future__ import annotations

import torch
from torch import nn

from mrl_lab.core.checks import check_count, check_dims, check_tensor


class MRLHead(nn.Module):
    """Linear classifiers on nested prefixes of an embedding.

    For each size ``d`` in ``dims`` the head computes logits from the first ``d`` features only,
    so training all of them together (with :class:`MatryoshkaLoss`) forces the most useful
    information into the front of the vector.

    - ``efficient=False`` (MRL): a separate ``nn.Linear(d, num_classes)`` per size.
    - ``efficient=True`` (MRL-E, the paper's weight-tied variant): one weight matrix ``W`` of shape
      ``(num_classes, in_dim)``; size ``d`` uses ``W[:, :d]``. About half the head's parameters,
      at some cost in accuracy at the smallest sizes. As in the paper's code
      (``SingleHeadNestedLinear`` / ``MRL_Linear_Layer(efficient=True)``), that layer's one bias
      is added at every size: the weights are nested, the bias is shared whole.

    With ``dims=[in_dim]`` this is an ordinary linear classifier: the "normal" model.

    Args:
        in_dim: width of the embedding the head reads.
        num_classes: number of classes.
        dims: nesting sizes, strictly increasing, each ``<= in_dim``.
        efficient: share one weight matrix across sizes (MRL-E).

    Inputs / outputs:
        ``z`` of shape ``(batch, in_dim)`` -> a tuple of ``len(dims)`` logit tensors, each
        ``(batch, num_classes)``, in the order of ``dims``.

    References:
        Kusupati et al., "Matryoshka Representation Learning", NeurIPS 2022, section 3
        (MRL and MRL-E); code: github.com/RAIVNLab/MRL, ``MRL.py``.

    Example:
        >>> head = MRLHead(in_dim=64, num_classes=10, dims=[8, 16, 32, 64])
        >>> logits = head(torch.randn(5, 64))
        >>> [tuple(l.shape) for l in logits]
        [(5, 10), (5, 10), (5, 10), (5, 10)]
        >>> tied = MRLHead(64, 10, [8, 16, 32, 64], efficient=True)
        >>> sum(p.numel() for p in tied.parameters()) < sum(p.numel() for p in head.parameters())
        True
    """

    def __init__(self, in_dim: int, num_classes: int, dims, efficient: bool = False):
        super().__init__()
        check_count(in_dim, "in_dim", "MRLHead")
        check_count(num_classes, "num_classes", "MRLHead")
        self.dims = check_dims(dims, in_dim, where="MRLHead")
        self.in_dim, self.efficient = in_dim, efficient
        if efficient:
            full = nn.Linear(in_dim, num_classes)  # one layer, initialised as usual; size d reads W[:, :d]
            self.weight, self.bias = full.weight, full.bias
        else:
            self.heads = nn.ModuleList(nn.Linear(d, num_classes) for d in self.dims)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, ...]:
        check_tensor(z, "MRLHead: z", ("batch", self.in_dim))  # a wider input would be cut silently
        if self.efficient:
            return tuple(z[:, :d] @ self.weight[:, :d].T + self.bias for d in self.dims)
        return tuple(head(z[:, :d]) for d, head in zip(self.dims, self.heads))

    def extra_repr(self) -> str:
        return f"dims={self.dims}, efficient={self.efficient}" + (", one shared bias" if self.efficient else "")
