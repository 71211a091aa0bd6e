"""Matryoshka-Adaptor: give frozen embeddings Matryoshka prefixes without touching the model.

When embeddings come from a model you cannot retrain (an API, a model too large to fine-tune),
you can still learn a small map on the embeddings themselves so that their prefixes become good
embeddings (Yoon et al., 2024). The map is residual, ``f(e) = e + g(e)`` with ``g`` a small MLP
that starts at zero, so training starts from the original embeddings and moves them only as far as
the losses ask:

- **unsupervised** (only the corpus embeddings): every prefix ``f(e)[:m]`` should keep the
  similarities of the full original embeddings, between random pairs (``pairwise``) and between
  each row and its ``k`` nearest neighbours (``top-k``), and ``f(e)`` should stay near ``e``
  (``reconstruction``);
- **supervised** (plus query/document pairs): a ranking loss at every prefix, so that each query
  scores its own document above the other documents of the batch, added to the terms above.
  As in the paper, the supervised adaptor starts from the unsupervised one.

Reference:
    Yoon, Sinha, Arik and Pfister, "Matryoshka-Adaptor: Unsupervised and Supervised Tuning for
    Smaller Embedding Dimensions", EMNLP 2024 (arXiv:2407.20243), section 3: the pairwise, top-k
    and reconstruction losses, the ranking loss, and the two-stage training.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mrl_lab.core.checks import check_count, check_dims, check_tensor


class MatryoshkaAdaptor(nn.Module):
    """``f(e) = e + g(e)``: a residual MLP on frozen embeddings; ``g`` starts at zero, so ``f`` starts as the identity.

    Args:
        dim: the embeddings' width; hidden: the MLP's hidden width.

    Example:
        >>> f = MatryoshkaAdaptor(8, hidden=16)
        >>> e = torch.randn(3, 8)
        >>> torch.equal(f(e), e)  # untrained: the identity
        True
    """

    def __init__(self, dim: int, hidden: int = 512):
        super().__init__()
        self.dim = check_count(dim, "dim", "MatryoshkaAdaptor")
        check_count(hidden, "hidden", "MatryoshkaAdaptor")
        self.g = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        nn.init.zeros_(self.g[2].weight)
        nn.init.zeros_(self.g[2].bias)

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        check_tensor(e, "MatryoshkaAdaptor: e", ("N", self.dim))
        return e + self.g(e)


def _cos_matrix(a: torch.Tensor) -> torch.Tensor:
    """All pairwise cosine similarities of the rows of ``a``: ``(B, B)``."""
    a = F.normalize(a, dim=-1)
    return a @ a.T


def _prefix_cos(a: torch.Tensor, b: torch.Tensor, dims) -> torch.Tensor:
    """Cosine similarity of ``a[..., :m]`` and ``b[..., :m]`` for every ``m`` in ``dims`` at once: ``(..., len(dims))``.

    Running sums along the features give every prefix's dot product and squared norms in one pass.
    """
    at = torch.tensor(dims, device=a.device) - 1
    dot = (a * b).cumsum(-1)[..., at]
    norms = (a * a).cumsum(-1)[..., at] * (b * b).cumsum(-1)[..., at]
    return dot / norms.clamp_min(1e-12).sqrt()


def similarity_losses(e, f_e, neighbours, sample, dims) -> tuple[torch.Tensor, torch.Tensor]:
    """The paper's two unsupervised terms on a batch of rows, averaged over the prefixes ``m`` in ``dims``.

    ``pairwise``: ``|cos(e_i, e_j) - cos(f(e_i)[:m], f(e_j)[:m])|`` over all pairs of rows in
    ``sample``; ``top-k``: the same between each row in ``sample`` and its nearest neighbours in
    the whole corpus (found once, on the original embeddings).

    Args:
        e, f_e: ``(N, D)`` original and adapted corpus; neighbours: ``(N, k)`` row indices;
        sample: the batch of rows.

    Example:
        >>> e = torch.randn(6, 8)
        >>> nb, sample = torch.tensor([[1], [0], [3], [2], [5], [4]]), torch.arange(6)
        >>> [round(float(x), 6) for x in similarity_losses(e, e, nb, sample, [8])]  # nothing changed: no loss
        [0.0, 0.0]
    """
    check_tensor(e, "similarity_losses: e", ("N", "D"))
    check_tensor(f_e, "similarity_losses: f_e", tuple(e.shape))
    check_dims(dims, e.shape[1], where="similarity_losses")
    rows, near = e[sample], e[neighbours[sample]]  # (B, D), (B, k, D)
    target_pairs, target_top = _cos_matrix(rows), _prefix_cos(rows[:, None], near, [e.shape[1]])  # to keep
    top_k = (_prefix_cos(f_e[sample][:, None], f_e[neighbours[sample]], dims) - target_top).abs().mean()
    pairwise = sum((_cos_matrix(f_e[sample, :m]) - target_pairs).abs().mean() for m in dims) / len(dims)
    return pairwise, top_k


def ranking_loss(f_q: torch.Tensor, f_d: torch.Tensor, dims, scale: float = 20.0) -> torch.Tensor:
    """The supervised term: at every prefix, each query's own document must outscore the batch's others.

    ``softplus(scale * (s_ik - s_ii))`` averaged over queries ``i``, other documents ``k`` and
    prefixes: the paper's pairwise logistic ranking loss with one relevant document per query.
    ``scale`` is this lab's addition: it sharpens cosine similarities (which lie in [-1, 1]) as a
    temperature does; 20 matches the temperature 0.05 of the fine-tunes' InfoNCE.

    Example:
        >>> q = torch.eye(4)
        >>> bool(ranking_loss(q, q, [2, 4]) < ranking_loss(q, q.roll(1, dims=0), [2, 4]))
        True
    """
    check_tensor(f_q, "ranking_loss: f_q", ("B", "D"))
    check_tensor(f_d, "ranking_loss: f_d", tuple(f_q.shape))  # row i is query i's document
    check_dims(dims, f_q.shape[1], where="ranking_loss")
    if len(f_q) < 2:
        raise ValueError("ranking_loss: a batch of 1 pair has no other documents to rank below; pass 2 or more")
    total = 0.0
    others = ~torch.eye(len(f_q), dtype=torch.bool, device=f_q.device)
    for m in dims:
        s = F.normalize(f_q[:, :m], dim=1) @ F.normalize(f_d[:, :m], dim=1).T
        total = total + F.softplus(scale * (s - s.diagonal()[:, None]))[others].mean()
    return total / len(dims)
