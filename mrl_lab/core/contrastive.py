"""In-batch contrastive loss (InfoNCE) for training embeddings from pairs."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mrl_lab.core.checks import check_number, check_tensor


class InfoNCE(nn.Module):
    """In-batch contrastive loss: each anchor must pick out its own positive among the batch.

    Row ``i`` of ``anchors`` and row ``i`` of ``positives`` form a pair (a title and its
    description, two views of one image); every other row in the batch is a negative. The loss is
    cross-entropy over the cosine-similarity matrix divided by ``temperature``. With
    ``symmetric=True`` it is averaged over both directions (anchor->positive and back), as in CLIP.
    Also known as MultipleNegativesRankingLoss in sentence-transformers.

    Args:
        temperature: softmax temperature; small values sharpen the distribution.
        symmetric: also score positives -> anchors and average the two losses.

    Inputs:
        ``anchors`` and ``positives``, both ``(batch, dim)``; they are L2-normalised here.

    References:
        van den Oord et al., "Representation Learning with Contrastive Predictive Coding", 2018;
        Radford et al., "Learning Transferable Visual Models From Natural Language Supervision", 2021.

    Example:
        >>> a = torch.eye(4)
        >>> InfoNCE(temperature=0.05)(a, a) < InfoNCE(temperature=0.05)(a, a.roll(1, dims=0))
        tensor(True)
    """

    def __init__(self, temperature: float = 0.05, symmetric: bool = True):
        super().__init__()
        self.temperature = check_number(temperature, "temperature", "InfoNCE", low=0, open_low=True)
        self.symmetric = symmetric

    def forward(self, anchors: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
        check_tensor(anchors, "InfoNCE: anchors", ("batch", "dim"))
        check_tensor(positives, "InfoNCE: positives", ("batch", "dim"))
        if anchors.shape != positives.shape:
            raise ValueError(
                f"InfoNCE: anchors {tuple(anchors.shape)} and positives {tuple(positives.shape)} "
                "must have the same shape (one positive per anchor)"
            )
        scores = F.normalize(anchors, dim=-1) @ F.normalize(positives, dim=-1).T / self.temperature
        labels = torch.arange(len(scores), device=scores.device)
        loss = F.cross_entropy(scores, labels)
        if self.symmetric:
            loss = (loss + F.cross_entropy(scores.T, labels)) / 2
        return loss

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, symmetric={self.symmetric}"
