"""The Matryoshka-Adaptor experiment (notebook 03): a small network on *frozen* embeddings that
reorders them so their prefixes work, as one must when the embeddings come from an API.

Two methods, on the pretrained encoder's frozen vectors of the corpus being searched:

- ``unsupervised``: trained on the corpus alone (its neighbourhoods and pairwise similarities must
  survive at every prefix), as in-domain PCA is;
- ``supervised``: continues from it, adding a ranking loss on training (query, document) pairs.

Adaptors train in seconds, so they are not cached. Their vectors are measured with the
pretrained experiment's (:func:`mrl_lab.experiments.pretrained.evaluate`), in one table.

References:
    Yoon et al., "Matryoshka-Adaptor: Unsupervised and Supervised Tuning for Smaller Embedding
    Dimensions", EMNLP 2024.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from mrl_lab.core.checks import (
    check_choice,
    check_count,
    check_dims,
    check_embeddings,
    check_instance,
    check_number,
    check_settings,
)
from mrl_lab.evaluation.search import search
from mrl_lab.models.adaptor import MatryoshkaAdaptor, ranking_loss, similarity_losses
from mrl_lab.runtime.budget import settings_for
from mrl_lab.training.trainer import seed_everything


@dataclass(frozen=True)
class Settings:
    """Every value that decides an adaptor's weights: the experiment's one table (:data:`SETTINGS`)."""

    dims: tuple[int, ...] = (8, 16, 32, 64, 128, 256, 384)  # the prefixes to shape
    hidden: int = 512  # width of the adaptor's residual MLP
    k: int = 10  # neighbours per corpus row whose similarities the top-k loss keeps
    pairwise_weight: float = 1.0  # weight of the loss on all pairwise similarities of a batch
    reconstruction_weight: float = 1.0  # weight of mean |f(e) - e|: stay near the original vectors
    ranking_weight: float = 1.0  # weight of the ranking loss on training pairs (supervised only)
    steps: int = 100  # AdamW steps
    batch_size: int = 256  # corpus rows (and training pairs) per step
    lr: float = 1e-3
    seed: int = 0

    def __post_init__(self):
        check_dims(list(self.dims), where="adaptor.Settings")
        for name in ("hidden", "k", "steps", "batch_size"):
            check_count(getattr(self, name), name, "adaptor.Settings")
        check_count(self.seed, "seed", "adaptor.Settings", low=0)
        check_number(self.lr, "lr", "adaptor.Settings", low=0, open_low=True)
        for name in ("pairwise_weight", "reconstruction_weight", "ranking_weight"):
            check_number(getattr(self, name), name, "adaptor.Settings", low=0)


# fmt: off
SETTINGS = {
    "smoke": Settings(steps=20),
    "cpu":   Settings(),
    "gpu":   Settings(steps=300),
}
# fmt: on


def settings(budget, **changes) -> Settings:
    """The adaptor's settings at ``budget`` (its row of :data:`SETTINGS`), with ``changes`` applied.

    Example:
        >>> settings("smoke").steps, settings("cpu", steps=5).steps
        (20, 5)
    """
    return settings_for(SETTINGS, budget, changes, "adaptor.settings")


@dataclass
class Data:
    """Frozen embeddings: the corpus being searched, and the training pairs (for the supervised adaptor)."""

    corpus: torch.Tensor  # (N, D)
    queries: torch.Tensor | None = None  # (P, D) training queries (titles) ...
    documents: torch.Tensor | None = None  # ... and their documents (descriptions), row for row

    def __post_init__(self):
        check_embeddings(self.corpus, "adaptor.Data: corpus")
        if (self.queries is None) != (self.documents is None):
            raise ValueError("adaptor.Data: give both queries and documents (the training pairs), or neither")
        if self.queries is not None:
            _check_pairs(self.queries, self.documents, self.corpus.shape[1], "adaptor.Data")


def _check_pairs(queries, documents, width: int, where: str) -> None:
    """Training pairs: two finite ``(P, width)`` tensors, one document per query."""
    check_embeddings(queries, f"{where}: queries", dim=width)
    check_embeddings(documents, f"{where}: documents", dim=width)
    if len(queries) != len(documents):
        raise ValueError(f"{where}: {len(queries)} queries but {len(documents)} documents; pass two tensors of the "
                         "same shape, one document per query")  # fmt: skip


def methods(settings: Settings) -> list[str]:
    """``["unsupervised", "supervised"]``."""
    return ["unsupervised", "supervised"]


def train(settings: Settings, data: Data, method: str, *, start=None, progress=True) -> MatryoshkaAdaptor:
    """The adaptor of ``method`` trained on ``data``; ``supervised`` continues from ``start`` (by default an
    unsupervised adaptor trained first), the paper's two stages.

    Each step adapts the whole corpus and minimises ``top-k + pairwise_weight * pairwise +
    reconstruction_weight * mean|f(e) - e|`` over a batch of ``batch_size`` random rows, plus
    ``ranking_weight * ranking`` on ``batch_size`` random training pairs when supervised.

    Example:
        >>> _ = torch.manual_seed(0)
        >>> import torch.nn.functional as F
        >>> corpus = F.normalize(torch.randn(64, 16), dim=1)
        >>> tiny = Settings(dims=(4, 16), hidden=32, k=4, steps=3, batch_size=32)
        >>> train(tiny, Data(corpus), "unsupervised", progress=False)(corpus).shape
        torch.Size([64, 16])
    """
    check_settings(settings, Settings, "adaptor.train")
    check_choice(method, methods(settings), "method", "adaptor.train")
    check_instance(data, Data, "data", "adaptor.train", "pass adaptor.Data(corpus, queries, documents)")
    _check_k(settings, data.corpus, "adaptor.train")
    if method == "unsupervised":
        return fit(settings, data.corpus, progress=progress)
    if data.queries is None or data.documents is None:
        raise ValueError("adaptor.train: the supervised adaptor needs training pairs: Data(corpus, queries, documents)")
    start = start if start is not None else fit(settings, data.corpus, progress=progress)
    return fit(settings, data.corpus, (data.queries, data.documents), start, progress)


def train_all(settings: Settings, data: Data, progress=True) -> dict[str, MatryoshkaAdaptor]:
    """Both adaptors: the unsupervised one, and the supervised one continuing from it."""
    unsupervised = train(settings, data, "unsupervised", progress=progress)
    supervised = train(settings, data, "supervised", start=unsupervised, progress=progress)
    return {"unsupervised": unsupervised, "supervised": supervised}


def _check_k(settings: Settings, corpus: torch.Tensor, where: str) -> None:
    if not settings.k < len(corpus):
        raise ValueError(f"{where}: k={settings.k} neighbours needs more than {settings.k} corpus rows; got "
                         f"{len(corpus)}: pass more rows, or a smaller k: adaptor.settings(budget, k=...)")  # fmt: skip


def fit(settings: Settings, corpus: torch.Tensor, pairs=None, start=None, progress=True) -> MatryoshkaAdaptor:
    """Train a :class:`~mrl_lab.models.adaptor.MatryoshkaAdaptor` on frozen embeddings; unsupervised, or
    supervised with ``pairs = (queries, documents)``; ``start``: an adaptor to continue from."""
    check_settings(settings, Settings, "adaptor.fit")
    check_embeddings(corpus, "adaptor.fit: corpus")
    s, dims = settings, check_dims(list(settings.dims), corpus.shape[1], where="adaptor.fit")
    _check_k(s, corpus, "adaptor.fit")
    if pairs is not None and (not isinstance(pairs, (tuple, list)) or len(pairs) != 2):
        raise ValueError("adaptor.fit: pairs must be (queries, documents), two tensors of the same shape")
    if pairs is not None:
        _check_pairs(*pairs, corpus.shape[1], "adaptor.fit: pairs")
    if start is not None:
        check_instance(start, MatryoshkaAdaptor, "start", "adaptor.fit", "pass an adaptor that adaptor.fit returned")
        if (start.dim, start.g[0].out_features) != (corpus.shape[1], s.hidden):
            raise ValueError(f"adaptor.fit: start takes {start.dim} dims with hidden={start.g[0].out_features}; "
                             f"continue from one of {corpus.shape[1]} dims with hidden={s.hidden}")  # fmt: skip
    seed_everything(s.seed)
    adaptor = MatryoshkaAdaptor(corpus.shape[1], s.hidden)
    if start is not None:
        adaptor.load_state_dict(start.state_dict())
    corpus = corpus.float()
    neighbours = search(corpus, corpus, s.k, exclude_self=True, device="cpu")  # (N, k), on the originals
    optimizer = torch.optim.AdamW(adaptor.parameters(), lr=s.lr)
    adaptor.train()
    label = "supervised adaptor" if pairs else "unsupervised adaptor"
    for _ in tqdm(range(s.steps), desc=label, disable=not progress):
        f_e = adaptor(corpus)
        sample = torch.randperm(len(corpus))[: s.batch_size]
        pairwise, top_k = similarity_losses(corpus, f_e, neighbours, sample, dims)
        loss = top_k + s.pairwise_weight * pairwise + s.reconstruction_weight * (f_e - corpus).abs().mean()
        if pairs is not None:
            which = torch.randperm(len(pairs[0]))[: s.batch_size]
            q, d = pairs[0][which].float(), pairs[1][which].float()
            loss = loss + s.ranking_weight * ranking_loss(adaptor(q), adaptor(d), dims)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    adaptor.eval()
    return adaptor


@torch.no_grad()
def adapt(adaptor: MatryoshkaAdaptor, embeddings: torch.Tensor) -> torch.Tensor:
    """Apply a trained adaptor to embeddings (queries and documents alike); float32 on the CPU."""
    if not isinstance(adaptor, MatryoshkaAdaptor):
        raise TypeError(f"adapt: adaptor is a {type(adaptor).__name__}; pass one that adaptor.fit or train returned")
    width = adaptor.g[0].in_features
    check_embeddings(embeddings, "adapt: embeddings")
    if embeddings.ndim != 2 or embeddings.shape[1] != width:
        raise ValueError(f"adapt: the adaptor takes (N, {width}) embeddings; got shape {tuple(embeddings.shape)}")
    return adaptor(embeddings.float()).cpu()
