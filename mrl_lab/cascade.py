"""Adaptive classification: a cascade over an MRL model's heads.

Try the smallest size first; if its prediction is confident enough (top softmax probability at
least ``threshold``), stop there; otherwise go up one size. Easy inputs are answered with a few
dims, hard ones get the full vector. Sweeping the threshold traces accuracy against the *expected*
size per input, which can be compared with the fixed-size curve.

References:
    Kusupati et al., "Matryoshka Representation Learning", NeurIPS 2022, section 4.2.1
    ("Adaptive Classification": the accuracy of a 512-dim model at an expected 37 dims on ImageNet).
"""

from __future__ import annotations

import torch

from .nesting import check_dims


def cascade(logits, dims, threshold: float):
    """Run the cascade once.

    Args:
        logits: one ``(N, classes)`` tensor per size, smallest first (what :class:`MRLHead` returns).
        dims: the sizes of ``logits``.
        threshold: stop at the first size whose top softmax probability is >= this; 1.0 (or more)
            always goes to the full size, 0 always stops at the smallest.

    Returns:
        ``(predictions, sizes)``: each input's predicted class and the size that answered it.

    Example:
        >>> small = torch.tensor([[4.0, 0.0], [0.1, 0.0]])  # confident, unsure
        >>> full = torch.tensor([[0.0, 3.0], [0.0, 3.0]])
        >>> cascade([small, full], [8, 64], threshold=0.9)
        (tensor([0, 1]), tensor([ 8, 64]))
    """
    dims = check_dims(dims, where="cascade")
    if len(logits) != len(dims):
        raise ValueError(f"cascade: {len(logits)} logit tensors for {len(dims)} sizes {dims}; pass one per size")
    if not threshold >= 0:
        raise ValueError(f"cascade: threshold={threshold} must be >= 0 (a softmax probability)")
    n = len(logits[0])
    predictions = torch.full((n,), -1, dtype=torch.long)
    sizes = torch.zeros(n, dtype=torch.long)
    undecided = torch.ones(n, dtype=torch.bool)
    for i, (d, out) in enumerate(zip(dims, logits)):
        confidence, guess = out.float().softmax(dim=1).max(dim=1)
        stop = undecided & ((confidence >= threshold) | (i == len(dims) - 1))
        predictions[stop], sizes[stop] = guess[stop], d
        undecided &= ~stop
    return predictions, sizes


def cascade_curve(logits, labels: torch.Tensor, dims, thresholds) -> list[dict]:
    """Accuracy and expected size of the cascade at each threshold.

    Returns:
        One dict per threshold: ``threshold``, ``accuracy``, ``expected_dims`` (the mean size
        that answered) and ``share_at_smallest`` (inputs answered by the smallest size).

    Example:
        >>> small = torch.tensor([[4.0, 0.0], [0.1, 0.0]])
        >>> full = torch.tensor([[0.0, 3.0], [0.0, 3.0]])
        >>> [p["expected_dims"] for p in cascade_curve([small, full], torch.tensor([0, 1]), [8, 64], [0.0, 0.9, 1.0])]
        [8.0, 36.0, 64.0]
    """
    if len(logits) and len(labels) != len(logits[0]):
        raise ValueError(f"cascade_curve: {len(labels)} labels for {len(logits[0])} inputs; pass one label per input")
    points = []
    for t in thresholds:
        pred, sizes = cascade(logits, dims, float(t))
        points.append(
            dict(
                threshold=float(t),
                accuracy=(pred == labels).float().mean().item(),
                expected_dims=sizes.float().mean().item(),
                share_at_smallest=(sizes == min(dims)).float().mean().item(),
            )
        )
    return points
