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
from tqdm.auto import tqdm

from .metrics import check_embeddings, search
from .nesting import check_count, check_dims
from .train import seed_everything


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
        self.g = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        nn.init.zeros_(self.g[2].weight)
        nn.init.zeros_(self.g[2].bias)

    def forward(self, e: torch.Tensor) -> torch.Tensor:
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
    total = 0.0
    others = ~torch.eye(len(f_q), dtype=torch.bool, device=f_q.device)
    for m in dims:
        s = F.normalize(f_q[:, :m], dim=1) @ F.normalize(f_d[:, :m], dim=1).T
        total = total + F.softplus(scale * (s - s.diagonal()[:, None]))[others].mean()
    return total / len(dims)


def fit_adaptor(
    corpus: torch.Tensor,
    dims,
    *,
    pairs: tuple[torch.Tensor, torch.Tensor] | None = None,
    start: MatryoshkaAdaptor | None = None,
    hidden: int = 512,
    k: int = 10,
    pairwise_weight: float = 1.0,
    reconstruction_weight: float = 1.0,
    ranking_weight: float = 1.0,
    steps: int = 100,
    batch_size: int = 256,
    lr: float = 1e-3,
    seed: int = 0,
    progress: bool = True,
) -> MatryoshkaAdaptor:
    """Train a :class:`MatryoshkaAdaptor` on frozen embeddings; unsupervised, or supervised with ``pairs``.

    Each step adapts the whole corpus and minimises ``top-k + pairwise_weight * pairwise +
    reconstruction_weight * mean|f(e) - e|`` over a batch of ``batch_size`` random rows, plus
    ``ranking_weight * ranking`` on ``batch_size`` random ``pairs`` when they are given.

    Args:
        corpus: ``(N, D)`` embeddings of the documents (the only data the unsupervised adaptor sees).
        dims: the prefixes to shape, e.g. ``[8, 16, 32, 64, 128, 256, 384]``.
        pairs: ``(queries, documents)``, two ``(P, D)`` tensors of matching rows: supervised.
        start: an adaptor to continue from (the paper's two stages: unsupervised, then supervised).
        hidden: width of ``g``; k: neighbours per row for the top-k term.
        steps, batch_size, lr: AdamW's steps, rows (and pairs) per batch, learning rate.

    Example:
        >>> _ = torch.manual_seed(0)
        >>> corpus = F.normalize(torch.randn(64, 16), dim=1)
        >>> f = fit_adaptor(corpus, [4, 16], hidden=32, k=4, steps=3, batch_size=32, progress=False)
        >>> f(corpus).shape
        torch.Size([64, 16])
    """
    check_embeddings(corpus, "fit_adaptor: corpus")
    dims = check_dims(dims, corpus.shape[1], where="fit_adaptor")
    if not 1 <= k < len(corpus):
        raise ValueError(f"fit_adaptor: k={k} neighbours needs more than {k} corpus rows; got {len(corpus)}")
    if pairs is not None and (len(pairs) != 2 or pairs[0].shape != pairs[1].shape):
        raise ValueError("fit_adaptor: pairs must be (queries, documents), two tensors of the same shape")
    if pairs is not None and pairs[0].shape[1:] != corpus.shape[1:]:
        raise ValueError(f"fit_adaptor: pairs have {pairs[0].shape[1]} features but the corpus has {corpus.shape[1]}")
    for name, value in (("steps", steps), ("batch_size", batch_size), ("hidden", hidden)):
        check_count(value, name, "fit_adaptor")
    seed_everything(seed)
    adaptor = MatryoshkaAdaptor(corpus.shape[1], hidden)
    if start is not None:
        adaptor.load_state_dict(start.state_dict())
    corpus = corpus.float()
    neighbours = search(corpus, corpus, k, exclude_self=True, device="cpu")  # (N, k), on the originals
    optimizer = torch.optim.AdamW(adaptor.parameters(), lr=lr)
    adaptor.train()
    for _ in tqdm(range(steps), desc="supervised adaptor" if pairs else "unsupervised adaptor", disable=not progress):
        f_e = adaptor(corpus)
        sample = torch.randperm(len(corpus))[:batch_size]
        pairwise, top_k = similarity_losses(corpus, f_e, neighbours, sample, dims)
        loss = top_k + pairwise_weight * pairwise + reconstruction_weight * (f_e - corpus).abs().mean()
        if pairs is not None:
            which = torch.randperm(len(pairs[0]))[:batch_size]
            q, d = pairs[0][which].float(), pairs[1][which].float()
            loss = loss + ranking_weight * ranking_loss(adaptor(q), adaptor(d), dims)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    adaptor.eval()
    return adaptor


@torch.no_grad()
def adapt(adaptor: MatryoshkaAdaptor, embeddings: torch.Tensor) -> torch.Tensor:
    """Apply a trained adaptor to embeddings (queries and documents alike); float32 on the CPU."""
    width = adaptor.g[0].in_features
    if embeddings.ndim != 2 or embeddings.shape[1] != width:
        raise ValueError(f"adapt: the adaptor takes (N, {width}) embeddings; got shape {tuple(embeddings.shape)}")
    return adaptor(embeddings.float()).cpu()
