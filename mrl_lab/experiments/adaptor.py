"""Fitting the Matryoshka-Adaptor on frozen embeddings, and using it."""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from mrl_lab.core.checks import check_count, check_dims, check_embeddings
from mrl_lab.evaluation.search import search
from mrl_lab.experiments.pretrained import Setup
from mrl_lab.models.adaptor import MatryoshkaAdaptor, ranking_loss, similarity_losses
from mrl_lab.training.trainer import seed_everything


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
        >>> import torch.nn.functional as F
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


def fit_adaptors(s: Setup, base: dict, train_pairs: dict, progress: bool = True) -> dict:
    """The two Matryoshka-Adaptors on the frozen embeddings (a few seconds each, so not cached).

    ``unsupervised`` sees only the corpus being searched (``base["descriptions"]``), as in-domain
    PCA does; ``supervised`` starts from it and adds the ranking loss on the training pairs'
    frozen embeddings (``train_pairs["titles"]``, ``train_pairs["descriptions"]``).
    """
    a, dims = dict(s.config["adaptor"], steps=s.config["adaptor_steps"]), s.config["dims"]
    ranking_weight = a.pop("ranking_weight")
    unsupervised = fit_adaptor(base["descriptions"], dims, seed=s.config["seed"], progress=progress, **a)
    supervised = fit_adaptor(
        base["descriptions"], dims, pairs=(train_pairs["titles"], train_pairs["descriptions"]), start=unsupervised,
        ranking_weight=ranking_weight, seed=s.config["seed"], progress=progress, **a,
    )  # fmt: skip
    return {"unsupervised": unsupervised, "supervised": supervised}
