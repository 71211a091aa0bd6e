"""Contrastive Sparse Representation (CSR), MRL's sparse rival: a sparse autoencoder on *frozen* embeddings.

Where MRL keeps the first ``d`` numbers of a dense vector, CSR maps the vector into a wider code (4x here)
and keeps only its ``k`` largest entries: a stored vector is ``k`` values and ``k`` indices. It is trained on
the frozen encoder's output, as the Matryoshka-Adaptor is, with sentence-transformers' ``CSRLoss``: rebuild
the input from the top-``k`` code and from the top-``4k`` code, an auxiliary loss that revives unused code
entries, and a contrastive loss (``SparseMultipleNegativesRankingLoss``) on query/document pairs. The code's
``k`` can be lowered after training (sentence-transformers' ``max_active_dims``), so one model serves every
``k`` of :attr:`Settings.ks`, as one MRL model serves every prefix.

Like for like: :func:`code_bytes` is what one stored code costs (``k`` float32 values plus ``k`` indices,
2 bytes each while the code has at most 65,536 entries), beside a prefix's ``d x 4`` bytes; :func:`evaluate`
measures the codes on the same held-out titles, descriptions and STS-B pairs as
:func:`mrl_lab.experiments.pretrained.evaluate`, in the same results table, with ``size`` = ``k``.
Search here is a dense product of the (mostly zero) codes: the same ranking a sparse inverted index returns,
not its speed.

References:
    Wen et al., "Beyond Matryoshka: Revisiting Sparse Coding for Adaptive Representation", ICML 2025
    (arXiv 2503.01776); sentence-transformers' ``SparseAutoEncoder`` module and ``CSRLoss``.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from types import SimpleNamespace

import pandas as pd
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from mrl_lab.core.checks import (
    check_count,
    check_counts,
    check_embeddings,
    check_instance,
    check_keys,
    check_labels,
    check_number,
    check_settings,
)
from mrl_lab.evaluation.metrics import spearman
from mrl_lab.evaluation.results import row, table
from mrl_lab.evaluation.search import target_ranks
from mrl_lab.runtime.budget import settings_for
from mrl_lab.training import model_cache
from mrl_lab.training.model_cache import settings_key
from mrl_lab.training.trainer import seed_everything


@dataclass(frozen=True)
class Settings:
    """Every value that decides a CSR model's weights: the experiment's one table (:data:`SETTINGS`)."""

    expansion: int = 4  # the code is this many times wider than the embedding (the paper's 4x)
    k: int = 32  # active entries while training (the 4k loss also rebuilds from 4 * k)
    ks: tuple[int, ...] = (8, 16, 32, 64)  # active entries measured after training (max_active_dims)
    k_aux: int = 256  # entries of the auxiliary loss that revives unused ("dead") code entries
    beta: float = 0.1  # weight of the auxiliary loss (sentence-transformers' default)
    gamma: float = 1.0  # weight of the contrastive loss
    scale: float = 1.0  # the contrastive loss's scale on dot products of codes (sentence-transformers' default)
    steps: int = 300  # AdamW steps
    batch_size: int = 256  # training pairs per step
    lr: float = 1e-3
    seed: int = 0

    def __post_init__(self):
        for name in ("expansion", "k", "k_aux", "steps", "batch_size"):
            check_count(getattr(self, name), name, "csr.Settings")
        check_counts(self.ks, "ks", "csr.Settings")
        check_number(self.lr, "lr", "csr.Settings", low=0, open_low=True)
        for name in ("beta", "gamma", "scale"):
            check_number(getattr(self, name), name, "csr.Settings", low=0)
        check_count(self.seed, "seed", "csr.Settings", low=0)


# fmt: off
SETTINGS = {
    "smoke": Settings(steps=20, batch_size=64, ks=(8, 32)),
    "cpu":   Settings(),
    "gpu":   Settings(steps=2000),
}
# fmt: on


def settings(budget, **changes) -> Settings:
    """CSR's settings at ``budget`` (its row of :data:`SETTINGS`), with ``changes`` applied.

    Example:
        >>> settings("smoke").steps, settings("cpu", k=16).k
        (20, 16)
    """
    return settings_for(SETTINGS, budget, changes, "csr.settings")


@dataclass
class Data:
    """Frozen embeddings of training pairs: queries (titles) and their documents (descriptions), row for row."""

    queries: torch.Tensor  # (P, D)
    documents: torch.Tensor  # (P, D)

    def __post_init__(self):
        check_embeddings(self.queries, "csr.Data: queries")
        check_embeddings(self.documents, "csr.Data: documents")
        if self.queries.shape != self.documents.shape:
            raise ValueError(f"csr.Data: queries {tuple(self.queries.shape)} and documents "
                             f"{tuple(self.documents.shape)} differ; pass one document per query")  # fmt: skip


def build(settings: Settings, width: int):
    """An untrained sentence-transformers ``SparseAutoEncoder`` for ``width``-dim embeddings."""
    check_settings(settings, Settings, "csr.build")
    hidden = settings.expansion * check_count(width, "width", "csr.build")
    for name, k in (("k", settings.k), ("4 * k", 4 * settings.k), ("k_aux", settings.k_aux), ("ks", max(settings.ks))):
        if k > hidden:
            raise ValueError(f"csr.build: {name}={k} is more than the code's {hidden} entries "
                             f"({settings.expansion} x {width}); lower it or raise expansion")  # fmt: skip
    from sentence_transformers.sparse_encoder.modules import SparseAutoEncoder

    return SparseAutoEncoder(width, hidden_dim=hidden, k=settings.k, k_aux=settings.k_aux)


def cache_key(settings: Settings, data: Data) -> dict:
    """What decides a CSR model's weights: the settings and the training vectors themselves (their hash)."""
    check_instance(data, Data, "data", "csr.cache_key", "pass csr.Data(queries, documents)")
    digest = hashlib.sha1()
    for z in (data.queries, data.documents):
        digest.update(z.float().contiguous().numpy().tobytes())
    return dict(settings_key(settings), name="csr", vectors=digest.hexdigest()[:16])


def train(settings: Settings, data: Data, *, retrain: bool = False, progress: bool = True):
    """The CSR model trained on ``data`` with sentence-transformers' ``CSRLoss``, from the cache when it was
    trained before (keyed by :func:`cache_key`). Returns ``(model, record)``: the record holds ``seconds``,
    ``examples_per_s`` and ``cached``."""
    check_settings(settings, Settings, "csr.train")
    check_instance(data, Data, "data", "csr.train", "pass csr.Data(queries, documents)")
    from sentence_transformers.sparse_encoder.losses import CSRLoss, SparseMultipleNegativesRankingLoss

    model = build(settings, data.queries.shape[1])

    def fit():
        seed_everything(settings.seed)
        contrastive = SparseMultipleNegativesRankingLoss(model, scale=settings.scale)
        loss_fn = CSRLoss(model, loss=contrastive, beta=settings.beta, gamma=settings.gamma)
        optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr)
        model.train()
        started, n = time.perf_counter(), len(data.queries)
        for _ in tqdm(range(settings.steps), desc="CSR: training the sparse autoencoder", disable=not progress):
            rows = torch.randperm(n)[: settings.batch_size]
            pair = [{"sentence_embedding": z[rows].float()} for z in (data.queries, data.documents)]
            loss = sum(loss_fn(pair).values())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        model.eval()
        seconds = time.perf_counter() - started
        return SimpleNamespace(seconds=seconds, examples_per_s=settings.steps * min(n, settings.batch_size) / seconds)

    record = model_cache.load_or_train(cache_key(settings, data), model, fit, retrain=retrain)
    model.eval()
    return model, record


@torch.inference_mode()  # sentence-transformers' module then skips its training-only 4k and auxiliary codes
def encode(model, embeddings: torch.Tensor, k: int) -> torch.Tensor:
    """``(N, hidden)`` sparse codes of frozen ``embeddings``, ``k`` entries active in each row (float32, CPU)."""
    check_embeddings(embeddings, "csr.encode")
    check_count(k, "k", "csr.encode", high=_model(model, "csr.encode").hidden_dim)
    if embeddings.shape[1] != model.input_dim:
        raise ValueError(f"csr.encode: the model takes {model.input_dim}-dim embeddings; got {embeddings.shape[1]}")
    model.eval()
    return model({"sentence_embedding": embeddings.float()}, max_active_dims=k)["sentence_embedding"].cpu()


def _model(model, where: str):
    """``model`` if it is a sentence-transformers ``SparseAutoEncoder`` (what :func:`train` returns), else an error."""
    from sentence_transformers.sparse_encoder.modules import SparseAutoEncoder

    return check_instance(model, SparseAutoEncoder, "model", where, "pass the model that csr.train returns")


def code_bytes(k: int, hidden: int) -> int:
    """Bytes of one stored code: ``k`` float32 values and ``k`` indices (2 bytes up to 65,536 entries, else 4).

    Example:
        >>> code_bytes(32, 1536), 64 * 4  # a 32-entry code against a 64-dim float32 prefix
        (192, 256)
    """
    check_count(k, "k", "code_bytes", high=check_count(hidden, "hidden (the code's entries)", "code_bytes"))
    return k * (4 + (2 if hidden <= 2**16 else 4))


def evaluate(settings: Settings, model, full: dict, sts_scores: torch.Tensor, method: str = "CSR") -> pd.DataFrame:
    """CSR's codes at each ``k`` of ``settings.ks``, measured as :func:`mrl_lab.experiments.pretrained.evaluate`
    measures a prefix: ``recall@10`` (with its interval) and ``MRR`` of each held-out title finding its
    description, and ``STS-B Spearman``; ``size`` is ``k``, and ``bytes`` (:func:`code_bytes`) is added.

    Args:
        full: the frozen encoder's full-width vectors, ``{"titles", "descriptions", "sts1", "sts2": tensors}``.
        sts_scores: the STS-B pairs' human scores.
    """
    check_settings(settings, Settings, "csr.evaluate")
    check_count(max(settings.ks), "the largest of ks", "csr.evaluate", high=_model(model, "csr.evaluate").hidden_dim)
    check_keys(full, ["titles", "descriptions", "sts1", "sts2"], "full", "csr.evaluate",
               "pass the text sets pretrained.eval_texts names")  # fmt: skip
    for part, z in full.items():
        check_embeddings(z, f"csr.evaluate: full[{part!r}]", dim=model.input_dim)
    for one, other in (("titles", "descriptions"), ("sts1", "sts2")):
        if len(full[one]) != len(full[other]):
            raise ValueError(f"csr.evaluate: full has {len(full[one])} {one} but {len(full[other])} {other}; "
                             "pass the vectors of pairs, row for row")  # fmt: skip
    check_labels(sts_scores, len(full["sts1"]), "sts_scores", "csr.evaluate")
    rows, byte_sizes = [], {}
    for k in settings.ks:
        codes = {part: F.normalize(encode(model, z, k), dim=1) for part, z in full.items()}  # cosine of codes
        ranks = target_ranks(codes["titles"], codes["descriptions"], torch.arange(len(codes["titles"])))
        sims = (codes["sts1"] * codes["sts2"]).sum(dim=1)
        rows += [row(method, k, "recall@10", ranks <= 10, interval=True), row(method, k, "MRR", 1.0 / ranks),
                 row(method, k, "STS-B Spearman", sims, value=spearman(sims, sts_scores))]  # fmt: skip
        byte_sizes[k] = code_bytes(k, model.hidden_dim)
    out = table(rows)
    out["bytes"] = out["size"].map(byte_sizes)
    return out
