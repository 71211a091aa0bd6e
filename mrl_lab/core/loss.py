"""The Matryoshka loss: one loss per nested size, summed with weights."""

from __future__ import annotations

import torch
from torch import nn

from mrl_lab.core.checks import check_callable, check_count, check_dims, check_number
from mrl_lab.core.nesting import truncate


class MatryoshkaLoss(nn.Module):
    """Apply a loss at every nested size of an embedding and return the weighted sum.

    ``L = sum_d w_d * loss(output at size d, targets)``. That is the whole of Matryoshka
    Representation Learning: the network is unchanged, only the loss looks at prefixes.

    It serves two uses, told apart by what you pass in:

    - **Classification** (the MRL paper): pass the tuple of logits that :class:`MRLHead` returns,
      one tensor per size, and the labels. ``MatryoshkaLoss(nn.CrossEntropyLoss(), dims)(head(z), y)``
      equals ``sum_d w_d * CE(logits_d, y)``.
    - **Embeddings** (sentence-transformers' ``MatryoshkaLoss``): pass embedding tensors of the
      full width ``D``. For each size ``d``, every floating-point argument of shape ``(..., D)``
      with at least two dimensions is cut to its first ``d`` features and re-normalised (see
      :func:`truncate`), then given to ``loss``; other arguments (labels, scores of shape
      ``(batch,)``) pass through unchanged.

    Args:
        loss: the loss applied at each size, e.g. ``nn.CrossEntropyLoss()`` or :class:`InfoNCE`.
        dims: nesting sizes, strictly increasing, e.g. ``[8, 16, 32, 64]``.
        weights: one non-negative weight per size; default all 1 (the paper's choice).
        n_dims_per_step: if set, each call uses only this many sizes, drawn at random (with
            ``torch``'s generator, so ``torch.manual_seed`` makes it repeatable). Cheaper steps;
            sentence-transformers offers the same option. Not the paper's MRL-E, which is weight
            tying (see :class:`MRLHead`).

    References:
        Kusupati et al., "Matryoshka Representation Learning", NeurIPS 2022, eq. (1);
        code: github.com/RAIVNLab/MRL (``Matryoshka_CE_Loss``);
        sentence-transformers, ``losses/MatryoshkaLoss.py``.

    Example (classification):
        >>> from mrl_lab import MRLHead, MatryoshkaLoss
        >>> _ = torch.manual_seed(0)
        >>> dims = [8, 16, 32]
        >>> head = MRLHead(32, num_classes=10, dims=dims)
        >>> z, y = torch.randn(4, 32), torch.tensor([0, 1, 2, 3])
        >>> mrl = MatryoshkaLoss(nn.CrossEntropyLoss(), dims)
        >>> by_hand = sum(nn.functional.cross_entropy(l, y) for l in head(z))
        >>> torch.allclose(mrl(head(z), y), by_hand)
        True

    Example (embeddings, in-batch contrastive):
        >>> from mrl_lab import InfoNCE
        >>> anchors, positives = torch.randn(16, 64), torch.randn(16, 64)
        >>> mrl = MatryoshkaLoss(InfoNCE(temperature=0.05), dims=[8, 16, 32, 64])
        >>> mrl(anchors, positives).shape
        torch.Size([])
    """

    def __init__(self, loss: nn.Module, dims, weights=None, n_dims_per_step: int | None = None):
        super().__init__()
        self.loss = check_callable(loss, "loss", "MatryoshkaLoss", "nn.CrossEntropyLoss() or InfoNCE()")
        self.dims = check_dims(dims, where="MatryoshkaLoss")
        if weights is None:
            weights = [1.0] * len(self.dims)
        weights = [check_number(w, "weights", "MatryoshkaLoss", low=0) for w in weights]
        if len(weights) != len(self.dims):
            raise ValueError(
                f"MatryoshkaLoss: got {len(weights)} weights {weights} for {len(self.dims)} sizes "
                f"{self.dims}; pass one weight per size"
            )
        if not any(weights):
            raise ValueError(f"MatryoshkaLoss: all weights are 0 ({weights}): nothing would be trained; give one > 0")
        self.weights = weights
        if n_dims_per_step is not None:  # how many sizes each step trains, drawn at random
            check_count(n_dims_per_step, "n_dims_per_step", "MatryoshkaLoss", high=len(self.dims))
        self.n_dims_per_step = n_dims_per_step

    def forward(self, outputs, *targets) -> torch.Tensor:
        which = range(len(self.dims))
        if self.n_dims_per_step is not None:
            which = sorted(torch.randperm(len(self.dims))[: self.n_dims_per_step].tolist())
        first = outputs[0] if isinstance(outputs, (tuple, list)) and outputs else outputs
        batch = sorted({len(a) for a in (first, *targets) if torch.is_tensor(a) and a.ndim})
        if len(batch) > 1:
            raise ValueError(f"MatryoshkaLoss: outputs and targets have batch sizes {batch}; pass one row per example")
        if isinstance(outputs, (tuple, list)):  # classification: one logits tensor per size
            if len(outputs) != len(self.dims):
                raise ValueError(
                    f"MatryoshkaLoss: got {len(outputs)} logit tensors for {len(self.dims)} sizes "
                    f"{self.dims}; pass the tuple MRLHead returns, built with the same dims"
                )
            return sum(self.weights[i] * self.loss(outputs[i], *targets) for i in which)
        width = outputs.shape[-1]  # embeddings: cut every full-width float tensor to each size
        if self.dims[-1] > width:
            raise ValueError(
                f"MatryoshkaLoss: nesting size {self.dims[-1]} is wider than the embeddings "
                f"({width} features); use sizes <= {width}"
            )
        args = (outputs, *targets)
        is_emb = [torch.is_tensor(a) and a.is_floating_point() and a.ndim >= 2 and a.shape[-1] == width for a in args]
        total = 0.0
        for i in which:
            cut = [truncate(a, self.dims[i]) if e else a for a, e in zip(args, is_emb)]
            total = total + self.weights[i] * self.loss(*cut)
        return total

    def extra_repr(self) -> str:
        return f"dims={self.dims}, weights={self.weights}, n_dims_per_step={self.n_dims_per_step}"
